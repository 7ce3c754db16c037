"""The demo: one synthetic case through every stage kypho has, ending in an HTML report."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kypho.core.case import Case
from kypho.errors import InputFileError
from kypho.report import Section

__all__ = ["DemoResult", "run_demo"]

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class DemoResult:
    """Where the demo wrote its outputs and how long each step took (seconds)."""

    folder: Path
    report: Path
    timings_s: dict[str, float]
    sections: tuple[str, ...]


def _stages(case: Case, out: Path, level: str) -> list[tuple[str, Callable[[], list[Section]]]]:
    """The flow after the case exists: (progress message, step returning report sections)."""
    from kypho.phantom import phantom_section
    from kypho.report.case_section import case_section

    return [
        ("drawing the case slices", lambda: [case_section(case)]),
        ("drawing the phantom's ground truth", lambda: [phantom_section(case)]),
    ]


def run_demo(
    out_dir: str | Path,
    *,
    fracture_level: str = "L1",
    seed: int = 0,
    voxel_mm: float = 0.5,
    bone_density: str = "osteoporotic",
    overwrite: bool = False,
    progress: Progress | None = None,
) -> DemoResult:
    """Generate the default phantom with one fractured vertebra and run the flow on it.

    Parameters
    ----------
    out_dir : path
        Folder to write: ``case/`` (the phantom case folder), stage outputs and ``report.html``.
    fracture_level : str
        Level of the Genant grade 2 wedge fracture.
    seed : int
        Phantom seed.
    voxel_mm : float
        Phantom voxel size in mm (0.5 by default; 1.0 is eight times smaller and faster).
    bone_density : {'normal', 'osteopenic', 'osteoporotic'}
        Trabecular bone of the phantom; osteoporosis is the usual setting of a VCF.
    overwrite : bool
        Replace an existing non-empty ``out_dir``.
    progress : callable, optional
        Called as ``progress(fraction_done, message)``.
    """
    from kypho.io import save_case
    from kypho.phantom import FractureSpec, PhantomSpec, make_phantom
    from kypho.report import write_report

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputFileError(f"{out}: exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise InputFileError(
            f"{out}: folder exists and is not empty (use --force to replace its contents)"
        )
    spec = PhantomSpec(
        fractures=(FractureSpec(level=fracture_level, type="wedge", grade=2),),
        seed=seed,
        voxel_mm=voxel_mm,
        bone_density=bone_density,  # type: ignore[arg-type]
    )

    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, message)

    timings: dict[str, float] = {}
    t = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        timings[name] = now - t
        t = now

    report(0.0, "generating the spine phantom")
    case = make_phantom(spec)
    lap("phantom")
    report(0.2, "writing the case folder")
    save_case(case, out / "case", overwrite=overwrite)
    lap("save case")
    sections: list[Section] = []
    steps = _stages(case, out, fracture_level)
    for n, (message, step) in enumerate(steps):
        report(0.35 + 0.6 * n / len(steps), message)
        sections.extend(step())
        lap(message.split(" ", 1)[-1] if " " in message else message)
    report(0.95, "writing the report")
    title = f"kypho demo: phantom with an {fracture_level} grade 2 wedge fracture"
    path = write_report(out / "report.html", title, sections)
    lap("report")
    report(1.0, "done")
    return DemoResult(
        folder=out, report=path, timings_s=timings, sections=tuple(s.key for s in sections)
    )
