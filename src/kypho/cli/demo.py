"""``kypho demo``: the whole flow on the built-in phantom."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from kypho.cli.app import DISCLAIMER, app, err_console, handle_errors, out_console, progress_bar


@app.command()
@handle_errors
def demo(
    out: Path = typer.Option(
        Path("kypho-demo"), "-o", "--out", help="Folder to write the case and report to."
    ),
    level: str = typer.Option("L1", help="Level of the Genant grade 2 wedge fracture."),
    seed: int = typer.Option(0, help="Phantom seed."),
    voxel_mm: float = typer.Option(
        0.5, "--voxel-mm", help="Phantom voxel size in mm (1.0 runs about eight times faster)."
    ),
    density: str = typer.Option(
        "osteoporotic", help="Phantom bone density: normal, osteopenic or osteoporotic."
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace an existing non-empty output folder."
    ),
    progress: bool = typer.Option(
        True, "--progress/--no-progress", help="Show progress on stderr."
    ),
) -> None:
    """Run kypho on a synthetic spine with one fractured vertebra and write an HTML report."""
    from kypho.core.levels import parse_level
    from kypho.demo import run_demo

    t0 = time.perf_counter()
    with progress_bar("kypho demo", enabled=progress) as update:
        result = run_demo(
            out,
            fracture_level=parse_level(level),
            seed=seed,
            voxel_mm=voxel_mm,
            bone_density=density,
            overwrite=force,
            progress=update,
        )
    total = time.perf_counter() - t0
    for step, secs in result.timings_s.items():
        err_console.print(f"  {step:<16} {secs:6.1f} s")
    out_console.print(
        f"Report: {result.report}  (case folder: {result.folder / 'case'}, {total:.1f} s)"
    )
    err_console.print(f"[dim]{DISCLAIMER}[/]")
