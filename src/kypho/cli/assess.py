"""``kypho assess``: heights, Genant grade and type, alignment and bone density per vertebra."""

from __future__ import annotations

from pathlib import Path

import typer

from kypho.assess.segment import totalsegmentator_available
from kypho.cli.app import DISCLAIMER, app, err_console, handle_errors, out_console, progress_bar

__all__ = ["assess_command"]

_HAS_TOTALSEGMENTATOR = totalsegmentator_available()


@app.command("assess")
@handle_errors
def assess_command(
    case: Path = typer.Argument(
        ..., help="Case folder, CT file (.nii, .nii.gz, .nrrd, .nhdr) or DICOM folder."
    ),
    out: Path | None = typer.Option(
        None, "-o", "--out", help="Folder for assess.json, assess.csv and assess_sagittal.png."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the assessment as JSON."),
    csv_path: Path | None = typer.Option(
        None, "--csv", help="Write one CSV row per vertebra here ('-' prints it instead)."
    ),
    png_path: Path | None = typer.Option(
        None, "--png", help="Write the annotated mid-sagittal picture (PNG) here."
    ),
    labels: Path | None = typer.Option(
        None, "--labels", help="Vertebra label map on the CT's grid (e.g. TotalSegmentator's)."
    ),
    labels_scheme: str = typer.Option(
        "auto", "--labels-scheme", help="Label ids: auto, kypho, totalsegmentator or verse."
    ),
    segment: bool = typer.Option(
        False,
        "--segment",
        help="Make the vertebra labels with TotalSegmentator when the case has none.",
        hidden=not _HAS_TOTALSEGMENTATOR,
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress on stderr."),
) -> None:
    """Measure every labelled vertebra: Ha/Hm/Hp, Genant grade and type, wedge and Cobb angles,
    trabecular HU, posterior-wall flags and candidate levels for augmentation."""
    from kypho.assess import assess
    from kypho.assess.outputs import (
        assessment_table,
        sagittal_png,
        summary_lines,
        to_csv,
        to_json,
        vertebra_notes,
        write_outputs,
    )
    from kypho.assess.pipeline import NoLabelsError, labels_help
    from kypho.assess.segment import segment_vertebrae, totalsegmentator_command
    from kypho.core.atomic import write_bytes_atomic, write_text_atomic
    from kypho.errors import InvalidParameterError
    from kypho.io import load_case

    loaded = load_case(case, labels=labels, labels_scheme=labels_scheme)  # type: ignore[arg-type]
    if loaded.labels is None:
        if segment:
            err_console.print("segmenting the vertebrae with TotalSegmentator ...")
            loaded = loaded.with_labels(segment_vertebrae(loaded))
        else:
            how = (
                f"make one with TotalSegmentator (`{totalsegmentator_command(case.name)}`) and "
                "pass it with --labels"
            )
            if _HAS_TOTALSEGMENTATOR:
                how += ", or add --segment to run it now"
            else:
                how += " (https://github.com/wasserth/TotalSegmentator)"
            raise NoLabelsError(f"{case}: no vertebra label map; {how}")
    elif segment:
        err_console.print("[dim]the case has labels; --segment ignored[/]")
    if loaded.labels is not None and not loaded.labels.levels:
        raise NoLabelsError(f"{case}: the label map holds no vertebra label; " + labels_help())

    with progress_bar("assess", enabled=progress) as update:
        result = assess(loaded, progress=update)

    csv_stdout = csv_path is not None and str(csv_path) == "-"
    if as_json and csv_stdout:
        raise InvalidParameterError("--json and --csv - both print to stdout: choose one")
    if as_json:
        typer.echo(to_json(result))
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
        msg = "Wrote " + ", ".join(str(p) for p in written)
        console = err_console if (as_json or csv_stdout) else out_console
        console.print(msg, highlight=False, soft_wrap=True)
    err_console.print(f"[dim]{DISCLAIMER}[/]")
