"""``kypho fluoro``: render a simulated C-arm frame of a case to PNG, .npy or DICOM XA."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from kypho.cli.app import DISCLAIMER, app, err_console, handle_errors, out_console

__all__ = ["fluoro"]


@app.command()
@handle_errors
def fluoro(
    case: Path = typer.Argument(..., help="Case folder, CT file (NIfTI/NRRD) or DICOM folder."),
    view: str = typer.Option(
        "ap", "--view",
        help="ap, pa, lateral (= lateral-left), lateral-right, oblique-left or oblique-right.",
    ),
    level: str | None = typer.Option(
        None, "--level", help="Vertebra to centre on and align with (e.g. L1); default: CT centre."
    ),
    out: Path = typer.Option(..., "-o", "--out", help="Output file: .png, .npy or .dcm."),
    size: int = typer.Option(256, "--size", help="Frame size in pixels (square), e.g. 256 or 512."),
    bone: str = typer.Option("dark", "--bone", help="Monitor mapping: bone 'dark' or 'bright'."),
    labels: Path | None = typer.Option(None, "--labels", help="Vertebra label map for the CT."),
    primary: float | None = typer.Option(
        None, "--primary", help="Override the DICOM primary angle (LAO +, degrees)."
    ),
    secondary: float | None = typer.Option(
        None, "--secondary", help="Override the DICOM secondary angle (CRAN +, degrees)."
    ),
    energy: float = typer.Option(55.0, "--energy", help="Effective beam energy (keV), 40-100."),
) -> None:
    """Render a fluoroscopy frame (digitally reconstructed radiograph) of a case."""
    from dataclasses import replace

    import numpy as np

    from kypho.core.levels import parse_level
    from kypho.errors import InvalidParameterError
    from kypho.fluoro import named_view, render_drr, view_for_level
    from kypho.fluoro.io import write_frame
    from kypho.io import load_case

    if bone not in ("dark", "bright"):
        raise InvalidParameterError(f"--bone must be 'dark' or 'bright', got {bone!r}")
    if out.suffix.lower() not in (".png", ".npy", ".dcm"):
        raise InvalidParameterError(f"--out {out}: use a .png, .npy or .dcm file name")
    c = load_case(case, labels=labels)
    if level is not None:
        carm = view_for_level(c, parse_level(level), view)
    else:
        centre = c.volume.ijk_to_ras((np.asarray(c.volume.shape) - 1) / 2.0)
        carm = named_view(view, centre)
    if primary is not None:
        carm = replace(carm, primary_deg=primary)
    if secondary is not None:
        carm = replace(carm, secondary_deg=secondary)
    carm = carm.with_size(size)
    t0 = time.perf_counter()
    frame = render_drr(c.volume, carm, energy_kev=energy)
    ms = (time.perf_counter() - t0) * 1000.0
    write_frame(frame, out, bone=bone)  # type: ignore[arg-type]
    where = f" centred on {parse_level(level)}" if level else ""
    out_console.print(
        f"{out}: {view} view{where}, {carm.describe()}, {size}x{size} px, {frame.method} "
        f"{ms:.0f} ms", highlight=False
    )
    err_console.print(f"[dim]{DISCLAIMER}[/]")
