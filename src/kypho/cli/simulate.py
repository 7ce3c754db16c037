"""``kypho simulate``: balloon inflation and cement injection on one level of a case."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from kypho.cli.app import DISCLAIMER, app, err_console, handle_errors, out_console

__all__ = ["simulate_command"]


def _parse_tip(text: str) -> tuple[float, float, float]:
    from kypho.errors import InvalidParameterError

    parts = [p for p in text.replace(";", ",").split(",") if p.strip()]
    try:
        vals = tuple(float(p) for p in parts)
    except ValueError:
        vals = ()
    if len(vals) != 3:
        raise InvalidParameterError(f"--tip must be R,A,S in mm (e.g. 4.5,12,30), got {text!r}")
    return vals  # type: ignore[return-value]


@app.command("simulate")
@handle_errors
def simulate_command(
    case: Path = typer.Argument(..., help="Case folder (CT with vertebra labels, or a phantom)."),
    level: str = typer.Option(..., "--level", help="Vertebra to treat, e.g. L1."),
    technique: str = typer.Option(
        "kyphoplasty", "--technique", help="kyphoplasty, vertebroplasty or both."
    ),
    out: Path = typer.Option(..., "-o", "--out", help="Folder for simulate.json, PNGs and GIFs."),
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
    seed: int = typer.Option(0, "--seed", help="Seed of the permeability heterogeneity."),
    preview: bool = typer.Option(False, "--preview", help="Fast shortest-path filling preview."),
    frames: bool = typer.Option(True, "--frames/--no-frames", help="Render AP/lateral frames."),
    size: int = typer.Option(192, "--size", help="Frame size in pixels."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress on stderr."),
) -> None:
    """Simulate kyphoplasty (balloon, then cement) or vertebroplasty (cement) on one level and
    write the summary, cement slices, balloon P-V curve, fluoroscopy contact sheet and
    animation, and a report page comparing the techniques."""
    from kypho.core.atomic import write_bytes_atomic, write_text_atomic
    from kypho.errors import InvalidParameterError
    from kypho.io import load_case
    from kypho.report import write_report
    from kypho.sim.frames import animation_gif, contact_sheet_png
    from kypho.sim.pipeline import build_case_model, case_approach, simulate_case
    from kypho.sim.report import cement_slices_figure, pv_figure, sim_section

    tech = technique.strip().lower()
    if tech not in ("kyphoplasty", "vertebroplasty", "both"):
        raise InvalidParameterError(
            f"--technique must be kyphoplasty, vertebroplasty or both, got {technique!r}"
        )
    if approach is not None and approach not in ("bipedicular", "unipedicular"):
        raise InvalidParameterError(
            f"--approach must be bipedicular or unipedicular, got {approach!r}"
        )
    if size < 32 or size > 1024:
        raise InvalidParameterError(f"--size must lie in 32-1024 pixels, got {size}")
    tips = [_parse_tip(t) for t in tip] or None
    techniques = ("kyphoplasty", "vertebroplasty") if tech == "both" else (tech,)
    c = load_case(case)
    model = build_case_model(c, level, seed=seed)
    bip = None if approach is None else approach == "bipedicular"
    shared = None
    if tips is None and plan:
        # one plan for both techniques (vertebroplasty uses the kyphoplasty tips)
        shared = case_approach(c, level, model, technique=techniques[0], bipedicular=bip)
    runs = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=err_console, transient=True, disable=not progress) as bar:
        for t in techniques:
            task = bar.add_task(t, total=1.0)
            runs[t] = simulate_case(
                c, level, technique=t, model=model, tips_ras_mm=tips,  # type: ignore[arg-type]
                bipedicular=bip, approach=shared, use_plan=plan,
                cement=cement, volume_ml=volume, rate_ml_per_min=rate, start_time_min=start,
                balloon=balloon, seed=seed, mode="preview" if preview else "full",
                frames=frames, frame_size=size,
                progress=lambda f, m, task=task: bar.update(task, completed=f, description=m),
            )
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    sheets: dict[str, bytes] = {}
    for t, run in runs.items():
        if run.frames:
            sheets[t] = contact_sheet_png(
                run.frames, title=f"{t} of {run.result.level}, {run.result.cement} cement "
                "(simulated fluoroscopy; not a medical device)")
            written.append(write_bytes_atomic(out / f"simulate_{t}_frames.png", sheets[t]))
            written.append(write_bytes_atomic(out / f"simulate_{t}.gif",
                                              animation_gif(run.frames)))
    section = sim_section([r.result for r in runs.values()],
                          doses={t: r.dose for t, r in runs.items()}, contact_sheets=sheets)
    for r in (run.result for run in runs.values()):
        written.append(write_bytes_atomic(out / f"simulate_{r.technique}_slices.png",
                                          cement_slices_figure(r).png))
        pv = pv_figure(r)
        if pv is not None:
            written.append(write_bytes_atomic(out / f"simulate_{r.technique}_pv.png", pv.png))
    written.append(write_report(out / "simulate_report.html",
                                f"kypho simulate: {c.name} {model.level}", [section]))
    summary = {
        "case": c.name,
        "level": model.level,
        "results": {t: r.summary() for t, r in runs.items()},
    }
    text = json.dumps(summary, indent=2, default=float)
    written.insert(0, write_text_atomic(out / "simulate.json", text))
    if as_json:
        typer.echo(text)
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
                f"Gy cm2; stop: {s.stop_reason}", highlight=False, soft_wrap=True)
        out_console.print("Wrote " + ", ".join(str(p) for p in written), highlight=False,
                          soft_wrap=True)
    err_console.print(f"[dim]{DISCLAIMER}[/]")
