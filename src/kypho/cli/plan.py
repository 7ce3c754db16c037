"""``kypho plan`` and ``kypho rehearse``: trocar paths on a case's CT, and a simulated insertion."""

from __future__ import annotations

from pathlib import Path

import typer

from kypho.cli.app import DISCLAIMER, app, err_console, handle_errors, out_console, progress_bar
from kypho.cli.options import (
    CaseArg,
    ForceOpt,
    JsonOpt,
    LabelsOpt,
    LabelsSchemeOpt,
    LevelsOpt,
    ProgressOpt,
    levels_of,
    load,
    out_option,
    point_of,
    print_envelope,
    report_written,
)

__all__ = ["plan_command", "rehearse_command"]


def _mm(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1f} mm"


@app.command("plan")
@handle_errors
def plan_command(
    case: CaseArg,
    level: LevelsOpt = None,
    out: Path = out_option("plan.json, paths.mrk.json and plan_<level>.png", Path("plan-out")),
    unipedicular: bool = typer.Option(False, "--unipedicular", help="One path across the midline."),
    side: str | None = typer.Option(None, "--side", help="Side of a unipedicular path: left or "
                                    "right (default: the one with more clearance)."),
    gauge: int = typer.Option(11, "--gauge", help="Trocar gauge (11 or 8; 10, 13, 15 known)."),
    labels: LabelsOpt = None,
    labels_scheme: LabelsSchemeOpt = "auto",
    force: ForceOpt = False,
    as_json: JsonOpt = False,
    progress: ProgressOpt = True,
) -> None:
    """Plan transpedicular trocar paths: margins, verdicts, plan.json, Slicer markups, pictures."""
    from kypho.core.outputs import output_folder
    from kypho.plan import PlanSpec, plan_level
    from kypho.plan.markups import PLAN_FORMAT_VERSION, plans_payload
    from kypho.plan.outputs import output_names, write_outputs

    levels = levels_of(level, required=True)
    spec = PlanSpec(gauge=gauge, unipedicular=unipedicular, side=side)  # type: ignore[arg-type]
    output_folder(out, output_names(levels), force=force)
    c = load(case, labels, labels_scheme)
    plans = []
    with progress_bar("plan", enabled=progress) as update:
        for i, lv in enumerate(levels):
            plans.append(plan_level(c, lv, spec, progress=lambda f, m, i=i: update(
                (i + f) / len(levels), m)))
    paths = write_outputs(c, plans, out)
    if as_json:
        print_envelope("plan", PLAN_FORMAT_VERSION, plans_payload(plans))
    else:
        for pl in plans:
            for p in pl.paths:
                m = p.margins
                out_console.print(
                    f"{p.name}: {p.verdict} ({p.approach}, {p.gauge} G), convergence "
                    f"{p.transverse_angle_deg:.1f} deg, sagittal {p.sagittal_angle_deg:.1f} deg, "
                    f"bone to target {p.bone_length_mm:.1f} mm; clearances: medial wall "
                    f"{_mm(m.medial_wall_mm if m else None)}, canal {_mm(m.canal_mm if m else None)}"
                    f", tip to cortex {_mm(m.tip_to_anterior_cortex_mm if m else None)}. "
                    + "; ".join(p.reasons),
                    highlight=False, soft_wrap=True, markup=False,
                )
        report_written(paths.values())
    err_console.print(f"[dim]{DISCLAIMER}[/]")


@app.command("rehearse")
@handle_errors
def rehearse_command(
    case: CaseArg,
    level: LevelsOpt = None,
    out: Path = out_option("contact.png, rehearsal.gif, steps.jsonl and summary.json",
                           Path("rehearse-out")),
    path: Path | None = typer.Option(None, "--path", help="plan.json from kypho plan (default: "
                                     "plan the level now)."),
    entry: str | None = typer.Option(None, "--entry", help="Entry point x,y,z (RAS mm)."),
    target: str | None = typer.Option(None, "--target", help="Target point x,y,z (RAS mm)."),
    side: str = typer.Option("left", "--side", help="Side of the path: left or right."),
    gauge: int = typer.Option(11, "--gauge", help="Trocar gauge."),
    step: float = typer.Option(2.5, "--step", help="Advance per step (mm), 0.5-20."),
    size: int = typer.Option(256, "--size", help="Frame size (pixels), 64-1024."),
    labels: LabelsOpt = None,
    labels_scheme: LabelsSchemeOpt = "auto",
    force: ForceOpt = False,
    as_json: JsonOpt = False,
    progress: ProgressOpt = True,
) -> None:
    """Advance a trocar in steps under simulated AP and lateral fluoroscopy; check the rules."""
    from kypho.core.outputs import output_folder
    from kypho.errors import InvalidParameterError
    from kypho.plan import PlanSpec, plan_level
    from kypho.plan.markups import read_plan_json
    from kypho.plan.paths import TrocarPath
    from kypho.plan.rehearse import (
        REHEARSAL_FILES,
        REHEARSE_FORMAT_VERSION,
        rehearse,
        write_rehearsal,
    )

    (lv,) = levels_of(level, one=True)
    if side not in ("left", "right"):
        raise InvalidParameterError(f"--side must be left or right, got {side!r}")
    if not 0.5 <= step <= 20.0:
        raise InvalidParameterError(f"--step must be 0.5-20 mm, got {step!r}")
    if not 64 <= size <= 1024:
        raise InvalidParameterError(f"--size must be 64-1024 pixels, got {size!r}")
    if (entry is None) != (target is None):
        raise InvalidParameterError("give both --entry and --target, or neither")
    chosen = None
    if path is not None:
        cands = [p for p in read_plan_json(path) if p.level == lv]
        if not cands:
            raise InvalidParameterError(f"{path}: holds no path at {lv}")
        chosen = next((p for p in cands if p.side == side), cands[0])
    elif entry is not None and target is not None:
        chosen = TrocarPath(
            level=lv, side=side, approach="user", entry_ras_mm=point_of(entry, "--entry"),  # type: ignore[arg-type]
            target_ras_mm=point_of(target, "--target"), gauge=gauge,
        )
    output_folder(out, REHEARSAL_FILES, force=force)
    c = load(case, labels, labels_scheme)
    with progress_bar("rehearse", enabled=progress) as update:
        if chosen is None:
            update(0.0, f"planning {lv}")
            plan = plan_level(c, lv, PlanSpec(gauge=gauge))
            chosen = next((p for p in plan.paths if p.side == side), plan.paths[0])
        reh = rehearse(c, chosen, step_mm=step, size=size, progress=update)
    write_rehearsal(reh, out)
    s = reh.summary
    if as_json:
        print_envelope("rehearse", REHEARSE_FORMAT_VERSION, s)
    else:
        breaches = ", ".join(f"{b['wall']} at step {b['step']}" for b in s["breaches"]) or "none"
        rule = s["first_rule_violation_step"]
        out_console.print(
            f"{s['path']}: {s['steps']} steps, {s['shots']} shots, "
            f"{s['fluoroscopy_time_s']} s of fluoroscopy, {s['reference_air_kerma_mgy']} mGy, "
            f"DAP {s['dap_gy_cm2']} Gy cm2; verdict {s['verdict_3d']}; breaches: {breaches}; "
            + ("fluoroscopic rule kept" if rule is None else f"fluoroscopic rule broken at step "
               f"{rule}"),
            highlight=False, soft_wrap=True, markup=False,
        )
        report_written(out / n for n in REHEARSAL_FILES)
    err_console.print(f"[dim]{DISCLAIMER}[/]")
