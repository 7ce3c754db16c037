"""``kypho assess``: heights, Genant grade and type, alignment and bone density per vertebra."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import typer

from kypho.cli.app import DISCLAIMER, app, err_console, handle_errors, out_console, progress_bar
from kypho.cli.options import (
    CaseArg,
    ForceOpt,
    JsonOpt,
    LabelsOpt,
    LabelsSchemeOpt,
    ProgressOpt,
    load,
    out_option,
    report_written,
)

__all__ = ["assess_command"]

#: Whether TotalSegmentator is installed (checked without importing it).
_HAS_TOTALSEGMENTATOR = importlib.util.find_spec("totalsegmentator") is not None


@app.command("assess")
@handle_errors
def assess_command(
    case: CaseArg,
    out: Path | None = out_option("assess.json, assess.csv and assess_sagittal.png"),
    force: ForceOpt = False,
    as_json: JsonOpt = False,
    csv_path: Path | None = typer.Option(
        None, "--csv", help="Write one CSV row per vertebra here ('-' prints it instead)."
    ),
    png_path: Path | None = typer.Option(
        None, "--png", help="Write the annotated mid-sagittal picture (PNG) here."
    ),
    labels: LabelsOpt = None,
    labels_scheme: LabelsSchemeOpt = "auto",
    segment: bool = typer.Option(
        False,
        "--segment",
        help="Make the vertebra labels with TotalSegmentator when the case has none.",
        hidden=not _HAS_TOTALSEGMENTATOR,
    ),
    progress: ProgressOpt = True,
) -> None:
    """Measure every labelled vertebra: Ha/Hm/Hp, Genant grade and type, wedge and Cobb angles,
    trabecular HU, posterior-wall flags and candidate levels for augmentation."""
    from kypho.assess import NoLabelsError, assess, labels_help
    from kypho.assess.outputs import (
        assessment_table,
        output_names,
        sagittal_png,
        summary_lines,
        to_csv,
        to_json,
        vertebra_notes,
        write_outputs,
    )
    from kypho.core.atomic import write_bytes_atomic, write_text_atomic
    from kypho.core.outputs import output_folder
    from kypho.errors import InvalidParameterError, OutputFileError

    csv_stdout = csv_path is not None and str(csv_path) == "-"
    if as_json and csv_stdout:
        raise InvalidParameterError("--json and --csv - both print to stdout: choose one")
    for named in (p for p in (csv_path, png_path) if p is not None and not csv_stdout):
        if named.exists() and (named.is_dir() or not force):
            raise OutputFileError(f"{named}: exists (use --force to replace it)"
                                  if not named.is_dir() else f"{named}: is a folder, not a file")
    if out is not None:
        output_folder(out, output_names(), force=force)
    loaded = load(case, labels, labels_scheme)
    if loaded.labels is None:
        if not segment:
            raise NoLabelsError(f"{case}: no vertebra label map; {labels_help(case.name)}")
        from kypho.assess.segment import segment_vertebrae

        err_console.print("segmenting the vertebrae with TotalSegmentator ...")
        loaded = loaded.with_labels(segment_vertebrae(loaded))
    elif segment:
        err_console.print("[dim]the case has labels; --segment ignored[/]")

    with progress_bar("assess", enabled=progress) as update:
        result = assess(loaded, progress=update)

    if as_json:
        typer.echo(to_json(result), nl=False)
    elif csv_stdout:
        typer.echo(to_csv(result), nl=False)
    else:
        out_console.print(assessment_table(result))
        for line in [*vertebra_notes(result), *summary_lines(result)]:
            out_console.print(line, highlight=False, soft_wrap=True)
    written: list[Path] = []
    if out is not None:
        written.extend(write_outputs(loaded, result, out).values())
    if csv_path is not None and not csv_stdout:
        written.append(write_text_atomic(csv_path, to_csv(result)))
    if png_path is not None:
        written.append(write_bytes_atomic(png_path, sagittal_png(loaded, result)))
    if written:
        report_written(written, to_stderr=as_json or csv_stdout)
    err_console.print(f"[dim]{DISCLAIMER}[/]")
