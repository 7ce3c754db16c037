"""The demo: one synthetic case through every stage kypho has, ending in an HTML report."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

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
    treated_level: str


@dataclass
class _Flow:
    """What the demo's steps hand forward: the case, its anatomy and each stage's result."""

    case: Case
    out: Path
    level: str
    today: date
    anatomy: Any = None
    results: dict[str, Any] = field(default_factory=dict)


def _case_step(flow: _Flow) -> list[Section]:
    from kypho.anatomy import SpineAnatomy
    from kypho.phantom import phantom_section
    from kypho.report.case_section import case_section

    flow.anatomy = SpineAnatomy.of(flow.case)
    return [case_section(flow.case), phantom_section(flow.case)]


def _assess_step(flow: _Flow) -> list[Section]:
    from kypho.assess import assess
    from kypho.assess.outputs import report_section, write_outputs

    assessment = assess(flow.case, anatomy=flow.anatomy)
    write_outputs(flow.case, assessment, flow.out / "assess")
    flow.results["assess"] = assessment
    # Treat the first level the assessment proposes for augmentation (the phantom's fracture).
    if assessment.candidates:
        flow.level = assessment.candidates[0].level
    return [report_section(flow.case, assessment)]


def _fluoro_step(flow: _Flow) -> list[Section]:
    from kypho.fluoro.outputs import render_view, write_outputs
    from kypho.fluoro.report import fluoro_section
    from kypho.fluoro.spec import FluoroSpec

    views = [render_view(flow.case, FluoroSpec(view=v), level=flow.level, anatomy=flow.anatomy)
             for v in ("ap", "lateral")]
    for view in views:
        write_outputs(flow.case, view, flow.out / "fluoro")
    return [fluoro_section(flow.case, views=views)]


def _plan_step(flow: _Flow) -> list[Section]:
    from kypho.plan import plan_level, plan_section
    from kypho.plan.outputs import write_outputs

    plan = plan_level(flow.case, flow.level, anatomy=flow.anatomy)
    write_outputs(flow.case, [plan], flow.out / "plan")
    flow.results["plan"] = plan
    return [plan_section(flow.case, [plan])]


def _simulate_step(flow: _Flow) -> list[Section]:
    from kypho.sim.outputs import render_outputs, write_outputs
    from kypho.sim.pipeline import build_case_model, case_approach, simulate_case
    from kypho.sim.spec import SimulationSpec

    spec = SimulationSpec(frame_size=160)
    upstream = dict(anatomy=flow.anatomy, assessment=flow.results.get("assess"))
    model = build_case_model(flow.case, flow.level, spec, **upstream)
    # Both techniques go in along the trocar paths planned in the previous step.
    approach = case_approach(flow.case, flow.level, model, spec, anatomy=flow.anatomy,
                             plan=flow.results.get("plan"))
    runs = {
        technique: simulate_case(flow.case, flow.level, spec.with_(technique=technique),
                                 model=model, approach=approach, **upstream)
        for technique in ("kyphoplasty", "vertebroplasty")
    }
    rendered = render_outputs(flow.case, runs)
    write_outputs(flow.case, runs, flow.out / "simulate", rendered=rendered)
    flow.results["simulate"] = runs
    return [rendered.section]


def _aftercare_step(flow: _Flow) -> list[Section]:
    from kypho.aftercare import Patient, make_plan
    from kypho.aftercare.outputs import write_outputs
    from kypho.aftercare.report import aftercare_section

    patient = Patient(
        "demo",
        surgery=flow.today,
        discharge=flow.today + timedelta(days=1),
        levels=(flow.level,),
    )
    plan = make_plan(patient, today=flow.today)
    write_outputs(plan, flow.out / "aftercare")
    return [aftercare_section(plan)]


#: The flow after the case exists: (timing name, progress message, step).
_STEPS: tuple[tuple[str, str, Callable[[_Flow], list[Section]]], ...] = (
    ("case pictures", "drawing the case and its ground truth", _case_step),
    ("assess", "assessing every vertebra", _assess_step),
    ("fluoro", "rendering AP and lateral fluoroscopy", _fluoro_step),
    ("plan", "planning the trocar paths", _plan_step),
    ("simulate", "simulating kyphoplasty and vertebroplasty", _simulate_step),
    ("aftercare", "writing the after-care plan", _aftercare_step),
)


def run_demo(
    out_dir: str | Path,
    *,
    fracture_level: str = "L1",
    seed: int = 0,
    voxel_mm: float = 0.5,
    bone_density: str = "osteoporotic",
    overwrite: bool = False,
    today: date | None = None,
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
    today : date, optional
        Day of the simulated surgery for the after-care plan (default: today).
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
    sections: list[Section] = []
    flow = _Flow(case=case, out=out, level=fracture_level, today=today or date.today())
    # Compressing the case folder (zlib releases the GIL) overlaps with the stages.
    with ThreadPoolExecutor(max_workers=1) as pool:
        saving = pool.submit(save_case, case, out / "case", overwrite=overwrite)
        for n, (name, message, step) in enumerate(_STEPS):
            report(0.1 + 0.8 * n / len(_STEPS), message)
            sections.extend(step(flow))
            lap(name)
        report(0.9, "writing the case folder")
        saving.result()
        lap("case folder (rest)")
    report(0.95, "writing the report")
    title = f"kypho demo: phantom with an {fracture_level} grade 2 wedge fracture"
    path = write_report(out / "report.html", title, sections)
    lap("report")
    report(1.0, "done")
    return DemoResult(
        folder=out,
        report=path,
        timings_s=timings,
        sections=tuple(s.key for s in sections),
        treated_level=flow.level,
    )
