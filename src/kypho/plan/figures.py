"""Pictures of a plan (axial and sagittal slices with the trocars) and the report section."""

from __future__ import annotations

import html

import numpy as np

from kypho.core.case import Case
from kypho.core.reslice import Plane, reslice
from kypho.report import Section, figure_from_matplotlib

__all__ = ["plan_figure", "plan_section"]

_COLOURS = {"safe": "#2ecc71", "caution": "#f5a623", "unsafe": "#e74c3c"}


def _plane(origin, row_dir, col_dir, half_mm: float, spacing: float) -> Plane:
    n = int(2 * half_mm / spacing) + 1
    o = np.asarray(origin) - half_mm * np.asarray(row_dir) - half_mm * np.asarray(col_dir)
    return Plane(tuple(o), tuple(row_dir), tuple(col_dir), (n, n), spacing)  # type: ignore[arg-type]


def plan_figure(case: Case, plan, *, half_mm: float = 45.0):
    """Matplotlib figure: oblique axial slice through both paths, sagittal slice along one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = plan.grid
    fr = grid.frame
    right, ant, sup = (np.asarray(v) for v in (fr.right, fr.anterior, fr.superior))
    pts = np.array([p for path in plan.paths for p in (path.entry_ras_mm, path.target_ras_mm)])
    centre = pts.mean(axis=0)
    sp = min(0.5, min(case.volume.spacing_mm))
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.4))
    # Axial (viewed from the feet: patient's right on the left, anterior up).
    pl = _plane(centre, -ant, -right, half_mm, sp)
    axes[0].imshow(reslice(case.volume, pl), cmap="gray", vmin=-250, vmax=1250)
    for path in plan.paths:
        e, t = (pl.to_pixel(np.asarray(x)) for x in (path.entry_ras_mm, path.target_ras_mm))
        c = _COLOURS.get(path.verdict or "", "#4fc3f7")
        lw = path.outer_diameter_mm / sp * 72 / 110 * 0.9
        axes[0].plot([e[1], t[1]], [e[0], t[0]], color=c, lw=max(lw, 1.5), alpha=0.55,
                     solid_capstyle="butt")
        axes[0].plot([e[1], t[1]], [e[0], t[0]], color=c, lw=0.8)
        m = path.margins
        txt = (f"{path.side} {path.verdict}\nconv {path.transverse_angle_deg:.1f} deg"
               + (f"\nmedial {m.medial_wall_mm:.1f} mm" if m and m.medial_wall_mm is not None else ""))
        axes[0].text(e[1], e[0] + 8, txt, color=c, fontsize=7, ha="center", va="top")
    for _side, ped in plan.pedicles.items():
        o = np.array([pl.to_pixel(np.asarray(p)) for p in ped.outline_ras_mm])
        if len(o):
            axes[0].plot(o[:, 1], o[:, 0], ".", ms=1, color="#4fc3f7")
    axes[0].set_title(f"{plan.level} axial (through the paths), patient's right on the left",
                      fontsize=9)
    # Sagittal along the first path: rows = -sup, cols = -(path direction projected).
    path = plan.paths[0]
    d = path.direction_ras - (path.direction_ras @ sup) * sup
    d /= np.linalg.norm(d)
    mid = (np.asarray(path.entry_ras_mm) + np.asarray(path.target_ras_mm)) / 2
    ps = _plane(mid, -sup, -d, half_mm, sp)
    axes[1].imshow(reslice(case.volume, ps), cmap="gray", vmin=-250, vmax=1250)
    e, t = (ps.to_pixel(np.asarray(x)) for x in (path.entry_ras_mm, path.target_ras_mm))
    c = _COLOURS.get(path.verdict or "", "#4fc3f7")
    axes[1].plot([e[1], t[1]], [e[0], t[0]], color=c, lw=2)
    axes[1].set_title(f"{plan.level} {path.side} path, sagittal oblique (anterior left)",
                      fontsize=9)
    for ax in axes:
        ax.set_axis_off()
    fig.suptitle(f"{plan.level} {plan.mode} plan, {plan.gauge} G - research use only", fontsize=10)
    fig.tight_layout()
    return fig


def plan_section(case: Case, plans) -> Section:
    """Report section (key ``"plan"``): table of paths, margins, verdicts, and the pictures."""
    from kypho.anatomy.pedicle import published_comparison

    rows = []
    for plan in plans:
        for p in plan.paths:
            m = p.margins
            ped = plan.pedicles.get(p.side)
            pub = published_comparison(plan.level, ped) if ped is not None else {}

            def f(x):
                return "-" if x is None else f"{x:.1f}"

            rows.append(
                "<tr>"
                f"<td>{html.escape(p.name)}</td><td>{html.escape(p.approach)}</td><td>{p.gauge} G</td>"
                f"<td>{f(ped.width_mm if ped else None)} ({f(pub.get('published_width_mm'))})</td>"
                f"<td>{p.transverse_angle_deg:.1f}</td><td>{p.sagittal_angle_deg:.1f}</td>"
                f"<td>{f(m.medial_wall_mm if m else None)}</td><td>{f(m.lateral_wall_mm if m else None)}</td>"
                f"<td>{f(m.inferior_wall_mm if m else None)}</td><td>{f(m.canal_mm if m else None)}</td>"
                f"<td>{f(m.tip_to_anterior_cortex_mm if m else None)}</td>"
                f"<td>{p.bone_length_mm:.1f}</td><td>{f(p.skin_length_mm)}</td>"
                f'<td class="{"ok" if p.verdict == "safe" else "flag"}">{p.verdict}</td>'
                f"<td>{html.escape('; '.join(p.reasons))}</td></tr>"
            )
    table = (
        "<table><tr><th>Path</th><th>Approach</th><th>Gauge</th><th>Pedicle width mm "
        "(published)</th><th>Convergence deg</th><th>Sagittal deg</th><th>Medial mm</th>"
        "<th>Lateral mm</th><th>Inferior mm</th><th>Canal mm</th><th>Tip-cortex mm</th>"
        "<th>Bone-target mm</th><th>Skin-target mm</th><th>Verdict</th><th>Reasons</th></tr>"
        + "".join(rows) + "</table>"
    )
    body = (
        "<p>Trocar paths planned on the label map: clearances are beyond the trocar's radius. "
        "Simulation for research and education; not for patient care.</p>" + table
    )
    figs = [
        figure_from_matplotlib(plan_figure(case, plan), f"{plan.level}: planned paths")
        for plan in plans
    ]
    return Section("plan", "Trocar path plan", body, tuple(figs))
