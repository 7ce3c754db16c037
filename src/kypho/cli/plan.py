"""``kypho plan`` and ``kypho rehearse``: trocar paths on a case's CT, and a simulated insertion."""

from __future__ import annotations

from pathlib import Path

import typer

from kypho.cli.app import DISCLAIMER, app, err_console, handle_errors, out_console

__all__ = ["plan_command", "rehearse_command"]


def _point(text: str, what: str):
    from kypho.errors import InvalidParameterError

    try:
        vals = [float(x) for x in text.replace(" ", "").split(",")]
    except ValueError:
        vals = []
    if len(vals) != 3:
        raise InvalidParameterError(f"{what} must be three numbers x,y,z (RAS mm), got {text!r}")
    return tuple(vals)


@app.command("plan")
@handle_errors
def plan_command(
    case: Path = typer.Argument(..., help="Case folder, CT file (NIfTI/NRRD) or DICOM folder."),
    level: list[str] = typer.Option(..., "--level", help="Level(s) to plan, e.g. --level L1."),
    unipedicular: bool = typer.Option(False, "--unipedicular", help="One path across the midline."),
    gauge: int = typer.Option(11, "--gauge", help="Trocar gauge (11 or 8; 10, 13, 15 known)."),
    labels: Path | None = typer.Option(None, "--labels", help="Vertebra label map for the CT."),
    out: Path = typer.Option(Path("plan-out"), "-o", "--out", help="Output folder."),
) -> None:
    """Plan transpedicular trocar paths: margins, verdicts, plan.json, paths.mrk.json, picture."""
    import matplotlib

    matplotlib.use("Agg")
    from kypho.core.atomic import write_bytes_atomic
    from kypho.io import load_case
    from kypho.plan.figures import plan_figure
    from kypho.plan.markups import write_plan_json, write_slicer_markups
    from kypho.plan.search import plan_level

    c = load_case(case, labels=labels)
    plans = []
    for lv in level:
        pl = plan_level(c, lv, gauge=gauge, unipedicular=unipedicular)
        plans.append(pl)
        for p in pl.paths:
            m = p.margins
            out_console.print(
                f"{p.name}: {p.verdict} ({p.approach}, {p.gauge} G) convergence "
                f"{p.transverse_angle_deg:.1f} deg, sagittal {p.sagittal_angle_deg:.1f} deg, "
                f"bone-to-target {p.bone_length_mm:.1f} mm; clearances medial "
                f"{m.medial_wall_mm if m and m.medial_wall_mm is not None else float('nan'):.1f}, canal "
                f"{m.canal_mm if m else float('nan'):.1f}, tip-cortex "
                f"{m.tip_to_anterior_cortex_mm if m and m.tip_to_anterior_cortex_mm is not None else float('nan'):.1f} mm"
                f" - {'; '.join(p.reasons)}",
                highlight=False, soft_wrap=True,
            )
    out.mkdir(parents=True, exist_ok=True)
    write_plan_json(out / "plan.json", plans)
    write_slicer_markups(out / "paths.mrk.json", [p for pl in plans for p in pl.paths])
    import io

    for pl in plans:
        fig = plan_figure(c, pl)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        write_bytes_atomic(out / f"plan_{pl.level}.png", buf.getvalue())
    out_console.print(f"wrote {out}/plan.json, paths.mrk.json and plan_<level>.png", highlight=False)
    err_console.print(f"[dim]{DISCLAIMER}[/]")


@app.command("rehearse")
@handle_errors
def rehearse_command(
    case: Path = typer.Argument(..., help="Case folder, CT file (NIfTI/NRRD) or DICOM folder."),
    level: str = typer.Option(..., "--level", help="Level, e.g. L1."),
    path: Path | None = typer.Option(None, "--path", help="plan.json from kypho plan."),
    entry: str | None = typer.Option(None, "--entry", help="Entry point x,y,z (RAS mm)."),
    target: str | None = typer.Option(None, "--target", help="Target point x,y,z (RAS mm)."),
    side: str = typer.Option("left", "--side", help="Side of the path: left or right."),
    gauge: int = typer.Option(11, "--gauge", help="Trocar gauge."),
    step: float = typer.Option(2.5, "--step", help="Advance per step (mm)."),
    size: int = typer.Option(256, "--size", help="Frame size (pixels)."),
    labels: Path | None = typer.Option(None, "--labels", help="Vertebra label map for the CT."),
    out: Path = typer.Option(Path("rehearse-out"), "-o", "--out", help="Output folder."),
) -> None:
    """Advance a trocar in steps under simulated AP and lateral fluoroscopy; check the rules."""
    from kypho.core.levels import parse_level
    from kypho.errors import InvalidParameterError
    from kypho.io import load_case
    from kypho.plan.markups import read_plan_json
    from kypho.plan.paths import TrocarPath
    from kypho.plan.rehearse import rehearse, write_rehearsal

    lv = parse_level(level)
    if side not in ("left", "right"):
        raise InvalidParameterError(f"--side must be left or right, got {side!r}")
    if path is not None:
        cands = [p for p in read_plan_json(path) if p.level == lv]
        if not cands:
            raise InvalidParameterError(f"{path}: holds no path at {lv}")
        chosen = next((p for p in cands if p.side == side), cands[0])
    elif entry is not None and target is not None:
        chosen = TrocarPath(
            level=lv, side=side, approach="user", entry_ras_mm=_point(entry, "--entry"),
            target_ras_mm=_point(target, "--target"), gauge=gauge,
        )
    else:
        raise InvalidParameterError("give --path plan.json, or both --entry and --target")
    c = load_case(case, labels=labels)
    reh = rehearse(c, chosen, step_mm=step, size=size)
    write_rehearsal(reh, out)
    s = reh.summary
    out_console.print(
        f"{s['path']}: {s['steps']} steps, {s['shots']} shots, {s['fluoroscopy_time_s']} s, "
        f"{s['reference_air_kerma_mgy']} mGy, DAP {s['dap_gy_cm2']} Gy cm^2; 3D verdict "
        f"{s['verdict_3d']}; breaches {[(b['wall'], b['step']) for b in s['breaches']] or 'none'}; "
        f"fluoroscopic rule broken at step {s['first_rule_violation_step']}",
        highlight=False, soft_wrap=True,
    )
    out_console.print(f"wrote {out}/contact.png, rehearsal.gif, steps.jsonl, summary.json",
                      highlight=False)
    err_console.print(f"[dim]{DISCLAIMER}[/]")
