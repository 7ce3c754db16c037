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
    """What the demo's steps hand forward: the case, its assessment, the treated level."""

    case: Case
    out: Path
    level: str
    today: date
    results: dict[str, Any] = field(default_factory=dict)


def _case_step(flow: _Flow) -> list[Section]:
    from kypho.phantom import phantom_section
    from kypho.report.case_section import case_section

    return [case_section(flow.case), phantom_section(flow.case)]


def _assess_step(flow: _Flow) -> list[Section]:
    from kypho.assess import assess
    from kypho.assess.outputs import report_section, write_outputs

    assessment = assess(flow.case)
    write_outputs(flow.case, assessment, flow.out / "assess")
    flow.results["assess"] = assessment
    # Treat the first level the assessment proposes for augmentation (the phantom's fracture).
    if assessment.candidates:
        flow.level = assessment.candidates[0].level
    return [report_section(flow.case, assessment)]


def _fluoro_step(flow: _Flow) -> list[Section]:
    from kypho.core.atomic import write_bytes_atomic
    from kypho.fluoro.report import fluoro_section

    section = fluoro_section(flow.case, level=flow.level, size=256)
    for n, fig in enumerate(section.figures):
        write_bytes_atomic(flow.out / "fluoro" / f"fluoro_{flow.level}_{n}.png", fig.png)
    return [section]


def _plan_step(flow: _Flow) -> list[Section]:
    from kypho.core.atomic import write_bytes_atomic
    from kypho.plan import plan_level, plan_section, write_plan_json, write_slicer_markups

    plan = plan_level(flow.case, flow.level, gauge=11)
    folder = flow.out / "plan"
    write_plan_json(folder / "plan.json", [plan])
    write_slicer_markups(folder / "paths.mrk.json", list(plan.paths))
    flow.results["plan"] = plan
    section = plan_section(flow.case, [plan])
    for n, fig in enumerate(section.figures):
        write_bytes_atomic(folder / f"plan_{flow.level}_{n}.png", fig.png)
    return [section]


def _simulate_step(flow: _Flow) -> list[Section]:
    from kypho.core.atomic import write_bytes_atomic
    from kypho.sim import simulate_case
    from kypho.sim.frames import contact_sheet_png
    from kypho.sim.pipeline import build_case_model, case_approach
    from kypho.sim.report import sim_section

    model = build_case_model(flow.case, flow.level, seed=0)
    # Both techniques go in along the trocar paths planned in the previous step.
    approach = case_approach(flow.case, flow.level, model, plan=flow.results.get("plan"))
    runs = {
        technique: simulate_case(
            flow.case,
            flow.level,
            technique=technique,  # type: ignore[arg-type]
            model=model,
            approach=approach,
            frame_size=160,
        )
        for technique in ("kyphoplasty", "vertebroplasty")
    }
    sheets = {}
    for technique, run in runs.items():
        if run.frames:
            sheets[technique] = contact_sheet_png(
                run.frames, title=f"{technique} of {flow.level} (simulated; not a medical device)"
            )
            write_bytes_atomic(flow.out / "simulate" / f"{technique}_frames.png", sheets[technique])
    return [
        sim_section(
            [r.result for r in runs.values()],
            doses={t: r.dose for t, r in runs.items()},
            contact_sheets=sheets,
        )
    ]


def _aftercare_step(flow: _Flow) -> list[Section]:
    from kypho.aftercare import Patient, make_plan, plan_to_fhir_json, plan_to_ics, plan_to_pdf
    from kypho.aftercare.report import aftercare_section
    from kypho.core.atomic import write_bytes_atomic, write_text_atomic

    patient = Patient(
        "demo",
        surgery=flow.today,
        discharge=flow.today + timedelta(days=1),
        levels=(flow.level,),
    )
    plan = make_plan(patient, today=flow.today)
    folder = flow.out / "aftercare"
    write_bytes_atomic(folder / "aftercare.ics", plan_to_ics(plan))
    write_text_atomic(folder / "careplan.fhir.json", plan_to_fhir_json(plan))
    write_bytes_atomic(folder / "handout.pdf", plan_to_pdf(plan))
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
