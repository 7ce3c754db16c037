"""``kypho phantom``: write a synthetic spine CT case folder (CT, labels, tissue map, truth)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from kypho.cli.app import (
    DISCLAIMER,
    app,
    err_console,
    handle_errors,
    out_console,
    progress_bar,
    safe_text,
)
from kypho.cli.options import levels_of

#: Largest --noise accepted, HU (model choice: 1000 HU of noise already hides bone in air).
MAX_NOISE_HU = 1000.0

__all__ = ["phantom"]


@app.command()
@handle_errors
def phantom(
    out: Path = typer.Option(..., "-o", "--out", help="Case folder to write."),
    level: list[str] | None = typer.Option(
        None, "--level", help="Levels to build, a range like every command's --level "
        "(default T10-L3; T10-L5 available)."),
    voxel: float = typer.Option(0.5, help="Isotropic voxel size in mm."),
    density: str = typer.Option("normal", help="Bone density: normal, osteopenic or osteoporotic."),
    fracture: list[str] = typer.Option(
        [],
        "--fracture",
        help="LEVEL:TYPE:GRADE or LEVEL:TYPE:PCT% (e.g. L1:wedge:2, T12:biconcave:35%), "
        "optionally :retro=MM, :breaks=posterior_wall+left_wall, :cleft=yes. Repeatable.",
    ),
    seed: int = typer.Option(0, help="Seed of texture and noise (same seed, same arrays)."),
    noise: float = typer.Option(20.0, help="Image noise, standard deviation in HU."),
    soft_tissue: bool = typer.Option(
        True, "--soft-tissue/--no-soft-tissue", help="Draw the trunk around the spine."
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace kypho's files in a non-empty folder."
    ),
    progress: bool = typer.Option(
        True, "--progress/--no-progress", help="Show progress on stderr."
    ),
) -> None:
    """Generate a synthetic thoracolumbar spine CT with labels and ground truth."""
    from kypho.core.params import check_range, parse_seed
    from kypho.errors import InputFileError
    from kypho.io import save_case
    from kypho.io._folders import is_empty_folder
    from kypho.phantom import PhantomSpec, fracture_lines, make_phantom, parse_fracture

    # Refuse an output that save_case would refuse, before the phantom is built.
    if out.exists() and not out.is_dir():
        raise InputFileError(f"{out}: exists and is not a folder")
    if out.is_dir() and not force and not is_empty_folder(out):
        raise InputFileError(f"{out}: folder exists and is not empty (use --force)")
    check_range(noise, "--noise", 0.0, MAX_NOISE_HU, unit="HU")
    seed = parse_seed(seed)
    built = levels_of(level) or ("T10", "L3")
    first, last = built[0], built[-1]
    spec = PhantomSpec(
        first_level=first,
        last_level=last,
        voxel_mm=voxel,
        bone_density=density.strip().lower(),  # type: ignore[arg-type]
        fractures=tuple(parse_fracture(f) for f in fracture),
        seed=seed,
        noise_hu=noise,
        soft_tissue=soft_tissue,
    )
    t0 = time.perf_counter()
    with progress_bar("phantom", enabled=progress) as update:
        case = make_phantom(spec, progress=update)
        update(0.95, "writing the case folder")
        folder = save_case(case, out, overwrite=force)
    secs = time.perf_counter() - t0
    for line in fracture_lines(case):
        err_console.print(f"  {line}", highlight=False, markup=False)
    shape = "x".join(str(n) for n in case.volume.shape)
    out_console.print(
        f"Phantom: {safe_text(folder)}  ({shape} voxels, {secs:.1f} s)", highlight=False,
        markup=False
    )
    err_console.print(f"[dim]{DISCLAIMER}[/]")
