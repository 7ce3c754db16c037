"""``kypho simulate``: balloon inflation and cement injection on one level of a case."""

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

__all__ = ["simulate_command"]


@app.command("simulate")
@handle_errors
def simulate_command(
    case: CaseArg,
    level: LevelsOpt = None,
    out: Path = out_option("simulate.json, PNGs, GIFs and simulate_report.html",
                           Path("simulate-out")),
    technique: str = typer.Option(
        "kyphoplasty", "--technique", help="kyphoplasty, vertebroplasty or both."
    ),
    cement: str = typer.Option(
        "standard", "--cement", help="low_viscosity, standard or high_viscosity."
    ),
    volume: float | None = typer.Option(
        None, "--volume", help="Cement volume (mL); default 4.0 (VP) or cavity + 10 % (KP)."
    ),
    rate: float = typer.Option(3.0, "--rate", help="Injection rate (mL/min)."),
    start: float = typer.Option(5.0, "--start", help="Injection start after mixing (min)."),
    balloon: str = typer.Option("15/3", "--balloon", help="Balloon size: 10/2 10/3 15/2 15/3 20/3."),
    tip: list[str] = typer.Option(
        [], "--tip", help="Trocar tip R,A,S in mm (repeat for bipedicular); default target."
    ),
    approach: str | None = typer.Option(
        None, "--approach",
        help="bipedicular or unipedicular for the default tips (default: KP bi, VP uni).",
    ),
    plan: bool = typer.Option(
        True, "--plan/--no-plan",
        help="Default tips from kypho.plan (bipedicular, both techniques) or fixed targets.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the permeability heterogeneity (>= 0)."),
    preview: bool = typer.Option(False, "--preview", help="Fast shortest-path filling preview."),
    frames: bool = typer.Option(True, "--frames/--no-frames", help="Render AP/lateral frames."),
    size: int = typer.Option(192, "--size", help="Frame size in pixels (32-1024)."),
    labels: LabelsOpt = None,
    labels_scheme: LabelsSchemeOpt = "auto",
    force: ForceOpt = False,
    as_json: JsonOpt = False,
    progress: ProgressOpt = True,
) -> None:
    """Simulate kyphoplasty (balloon, then cement) or vertebroplasty (cement) on one level and
    write the summary, cement slices, balloon P-V curve, fluoroscopy contact sheet and
    animation, and a report page comparing the techniques."""
    from kypho.core.outputs import output_folder
    from kypho.errors import InvalidParameterError
    from kypho.sim.outputs import (
        SIMULATE_FORMAT_VERSION,
        output_names,
        simulation_to_dict,
        write_outputs,
    )
    from kypho.sim.pipeline import build_case_model, case_approach, simulate_case
    from kypho.sim.spec import SimulationSpec

    (lv,) = levels_of(level, one=True)
    tech = technique.strip().lower()
    if tech not in ("kyphoplasty", "vertebroplasty", "both"):
        raise InvalidParameterError(
            f"--technique must be kyphoplasty, vertebroplasty or both, got {technique!r}"
        )
    if approach is not None and approach not in ("bipedicular", "unipedicular"):
        raise InvalidParameterError(
            f"--approach must be bipedicular or unipedicular, got {approach!r}"
        )
    techniques = ("kyphoplasty", "vertebroplasty") if tech == "both" else (tech,)
    spec = SimulationSpec(
        technique=techniques[0],  # type: ignore[arg-type]
        cement=cement, volume_ml=volume, rate_ml_per_min=rate, start_time_min=start,
        balloon=balloon, seed=seed, mode="preview" if preview else "full",
        bipedicular=None if approach is None else approach == "bipedicular", use_plan=plan,
        frames=frames, frame_size=size,
    )
    tips = [point_of(t, "--tip") for t in tip] or None
    output_folder(out, output_names(techniques), force=force)
    c = load(case, labels, labels_scheme)
    runs = {}
    with progress_bar("simulate", enabled=progress) as update:
        update(0.0, f"modelling {lv}")
        model = build_case_model(c, lv, spec)
        # one approach for both techniques (vertebroplasty uses the kyphoplasty tips)
        shared = case_approach(c, lv, model, spec) if tips is None and plan else None
        for i, t in enumerate(techniques):
            runs[t] = simulate_case(
                c, lv, spec.with_(technique=t), model=model, approach=shared, tips_ras_mm=tips,
                progress=lambda f, m, i=i: update((i + f) / len(techniques), m),
            )
    paths = write_outputs(c, runs, out)
    if as_json:
        print_envelope("simulate", SIMULATE_FORMAT_VERSION, simulation_to_dict(c, runs))
    else:
        for t, r in runs.items():
            s = r.result
            leaks = ", ".join(f"{lk.kind} {lk.volume_ml:.2f} mL" for lk in s.leaks) or "none"
            out_console.print(
                f"{t} {s.level}: {s.injected_volume_ml:.2f} mL {s.cement} cement, fill "
                f"{100 * s.fill_fraction:.0f} %, leaks: {leaks}; wedge "
                f"{s.wedge_angle_before_deg:.1f} -> {s.wedge_angle_after_deg:.1f} deg; "
                f"Ha {s.heights_before_mm[0]:.1f} -> {s.heights_after_mm[0]:.1f} mm; "
                f"fluoroscopy {r.dose.fluoroscopy_time_s:.0f} s, DAP {r.dose.dap_gy_cm2:.2f} "
                f"Gy cm2; stop: {s.stop_reason}", highlight=False, soft_wrap=True, markup=False)
        report_written(paths.values())
    err_console.print(f"[dim]{DISCLAIMER}[/]")
