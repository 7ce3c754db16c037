"""The demo: one synthetic case through every stage kypho has, ending in an HTML report."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kypho.errors import InputFileError

__all__ = ["DemoResult", "run_demo"]

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class DemoResult:
    """Where the demo wrote its outputs and how long each step took (seconds)."""

    folder: Path
    report: Path
    timings_s: dict[str, float]


def run_demo(
    out_dir: str | Path,
    *,
    fracture_level: str = "L1",
    seed: int = 0,
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
    overwrite : bool
        Replace an existing non-empty ``out_dir``.
    progress : callable, optional
        Called as ``progress(fraction_done, message)``.
    """
    from kypho.io import save_case
    from kypho.phantom import FractureSpec, PhantomSpec, make_phantom
    from kypho.report import write_report
    from kypho.report.case_section import case_section

    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise InputFileError(
            f"{out}: folder exists and is not empty (use --force to replace its contents)"
        )
    report = lambda f, m: progress(f, m) if progress else None  # noqa: E731
    timings: dict[str, float] = {}
    t = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        timings[name] = now - t
        t = now

    report(0.0, "generating the spine phantom")
    spec = PhantomSpec(
        fractures=(FractureSpec(level=fracture_level, type="wedge", grade=2),), seed=seed
    )
    case = make_phantom(spec)
    lap("phantom")
    report(0.35, "writing the case folder")
    save_case(case, out / "case", overwrite=overwrite)
    lap("save case")
    sections = []
    report(0.5, "drawing the case slices")
    sections.append(case_section(case))
    lap("case section")
    report(0.95, "writing the report")
    path = write_report(
        out / "report.html", f"kypho demo: phantom with an {fracture_level} fracture", sections
    )
    lap("report")
    report(1.0, "done")
    return DemoResult(folder=out, report=path, timings_s=timings)
