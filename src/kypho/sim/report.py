"""Pictures and the report section of a simulated procedure.

Sagittal and axial slices through the needle tip show the bone (its density), the cement
(yellow to brown by voxel fill), leaked cement outside the body (magenta) and the exits
(cyan: fracture breaks, green: venous foramina).  Views follow radiological habit: sagittal
with anterior to the left and superior up; axial seen from the feet (patient's right on the
left, anterior up).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from kypho.fluoro import DoseSummary
from kypho.report import Figure, Section, figure_from_matplotlib
from kypho.sim.simulate import SimulationResult

__all__ = ["cement_slices_figure", "injection_figure", "pv_figure", "sim_section"]

_DISCLAIMER = "Simulation for research and education; not a prediction for a patient."


def _slice(result: SimulationResult, view: str, ijk: NDArray[np.int64]) -> dict[str, NDArray]:
    m = result.model
    i, _j, k = (int(x) for x in ijk)
    # crop to the body and the leaked cement around it
    keep = m.body | (result.cement_fraction > 0)
    idx = np.argwhere(keep)
    pad = round(6.0 / m.spacing_mm)
    lo = np.maximum(idx.min(0) - pad, 0)
    hi = np.minimum(idx.max(0) + pad + 1, np.array(m.shape))
    crop = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    i, k = i - int(lo[0]), k - int(lo[2])
    out = {}
    bone = np.where(m.body, np.clip(m.bmd_mg_cc, 0, 400), np.nan).astype(float)
    bone[m.wall] = 500.0
    layers = {
        "bone": bone,
        "cement": result.cement_fraction.astype(float),
        "fill": np.where(m.fluid, result.cement_fraction / np.maximum(m.porosity, 1e-6), 0.0),
        "inside": m.body.astype(float),
        "cavity": m.cavity.astype(float),
        "break": np.zeros(m.shape),
        "vein": np.zeros(m.shape),
    }
    for op in m.openings:
        layers["vein" if op.natural else "break"][op.mask] = 1.0
    for name, arr in layers.items():
        arr = arr[crop]
        if view == "sagittal":
            s = arr[i, :, :].T[::-1, ::-1]  # rows: superior -> inferior; cols: anterior -> post.
        else:
            s = arr[:, :, k].T[::-1, :]  # rows: anterior -> posterior; cols: right -> left
        out[name] = s
    return out


def cement_slices_figure(result: SimulationResult) -> Figure:
    """Sagittal and axial slices through the (first) needle tip with the cement."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    m = result.model
    tip = np.asarray(result.trocar_tips_ras_mm[0]) if result.trocar_tips_ras_mm else np.asarray(
        m.centroid_ras_mm)
    ijk = np.clip(np.rint(m.ras_to_ijk(tip)).astype(int), 0, np.array(m.shape) - 1)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    h = m.spacing_mm
    for ax, view in zip(axes, ("sagittal", "axial"), strict=True):
        sl = _slice(result, view, ijk)
        ext = (0, sl["bone"].shape[1] * h, sl["bone"].shape[0] * h, 0)
        ax.set_facecolor("black")
        ax.imshow(sl["bone"], cmap="gray", vmin=0, vmax=500, extent=ext, interpolation="nearest")
        inside = sl["inside"] > 0
        cem_in = np.where(inside & (sl["fill"] > 0.02), np.clip(sl["fill"], 0, 1), np.nan)
        cem_out = np.where(~inside & (sl["cement"] > 0), 1.0, np.nan)
        ax.imshow(cem_in, cmap="YlOrBr", vmin=-0.3, vmax=1, alpha=0.9, extent=ext,
                  interpolation="nearest")
        ax.imshow(cem_out, cmap=ListedColormap(["magenta"]), alpha=0.95, extent=ext,
                  interpolation="nearest")
        for name, color in (("break", "cyan"), ("vein", "lime")):
            if sl[name].any():
                ax.contour(sl[name], levels=[0.5], colors=color, linewidths=1.2, extent=ext,
                           origin="upper")
        if sl["cavity"].any():
            ax.contour(sl["cavity"], levels=[0.5], colors="white", linewidths=0.8,
                       linestyles="dashed", extent=ext, origin="upper")
        if view == "sagittal":
            ax.set_title(f"{result.level} sagittal through the needle (anterior left)")
            ax.set_xlabel("mm (anterior -> posterior)")
        else:
            ax.set_title("axial through the needle (patient right on the left)")
            ax.set_xlabel("mm (right -> left)")
        ax.set_ylabel("mm")
    leaks = ", ".join(f"{lk.kind} {lk.volume_ml:.2f} mL" for lk in result.leaks) or "none"
    fig.suptitle(
        f"{result.technique}, {result.cement} cement: {result.cement_inside_ml:.2f} mL in the "
        f"body (fill {100 * result.fill_fraction:.0f} %), leaks: {leaks}", fontsize=10)
    return figure_from_matplotlib(
        fig,
        f"{result.technique.capitalize()} of {result.level}: cement (yellow to brown = voxel "
        "fill 0 to 100 %), leaked cement outside the body (magenta), fracture breaks (cyan), "
        "venous foramina (green), balloon cavity (dashed white); bone grey by density, cortex "
        "white.",
    )


def pv_figure(result: SimulationResult) -> Figure | None:
    """The balloon's pressure-volume curve (None for vertebroplasty)."""
    if result.pv_curve is None:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kypho.sim.balloon import DEVICE_MAX_PRESSURE_MPA

    fig, ax = plt.subplots(figsize=(4.8, 3.4))
    ax.plot(result.pv_curve[:, 0], result.pv_curve[:, 1], "o-", ms=3)
    ax.axhline(DEVICE_MAX_PRESSURE_MPA, color="red", lw=0.8, ls="--", label="device 400 psi")
    n = max(len(result.trocar_tips_ras_mm), 1)
    ax.scatter([2.95 * n], [0.85], marker="s", color="k", zorder=5,
               label=f"cadaver 2.95 mL / 0.85 MPa per balloon (x{n})")
    ax.errorbar([3.0 * n], [1.21], yerr=[0.26], fmt="o", color="gray", ms=4, capsize=3,
                label="osteoporotic, 110 N: 1.21 +/- 0.26 MPa")
    ax.set_xlabel("balloon volume, all balloons (mL)")
    ax.set_ylabel("pressure (MPa)")
    ax.set_ylim(0, max(3.0, float(result.pv_curve[:, 1].max()) * 1.1))
    ax.legend(fontsize=7)
    ax.set_title("balloon pressure-volume (model)")
    assert result.balloon is not None
    return figure_from_matplotlib(
        fig, f"Balloon P-V curve; stop: {result.balloon.stop_reason}. Cadaver points: Nan Fang "
        "Yi Ke Da Xue Xue Bao 2006 (young bone, 2.95 mL at 0.85 MPa); Kyphon under 110 N in "
        "osteoporotic bodies (175 +/- 37 psi). Flat stretches at the end are endplate lift.")


def injection_figure(result: SimulationResult) -> Figure | None:
    """Injected and leaked volume and pressures against time (full mode only)."""
    h = result.injection_history
    if not h or len(h.get("time_s", ())) == 0:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.2))
    a1.plot(h["time_s"], h["injected_ml"], label="injected")
    a1.plot(h["time_s"], h["inside_ml"], label="in the body")
    a1.plot(h["time_s"], h["leaked_ml"], label="leaked")
    a1.set_xlabel("time (s)")
    a1.set_ylabel("mL")
    a1.legend(fontsize=7)
    a2.semilogy(h["time_s"], h["injection_pressure_kpa"], label="syringe (cannula + bone)")
    a2.semilogy(h["time_s"], np.maximum(h["bone_pressure_kpa"], 1e-3), label="needle tip")
    a2.semilogy(h["time_s"], np.maximum(h["marrow_pressure_kpa"], 1e-3), label="marrow")
    a2.set_xlabel("time (s)")
    a2.set_ylabel("kPa")
    a2.legend(fontsize=7)
    return figure_from_matplotlib(fig, "Injection: volumes and pressures (model).")


def sim_section(
    results: Sequence[SimulationResult],
    *,
    doses: Mapping[str, DoseSummary] | None = None,
    contact_sheets: Mapping[str, bytes] | None = None,
    slices: bool = True,
) -> Section:
    """The report's ``simulate`` section: the techniques side by side.

    Parameters
    ----------
    results : sequence of SimulationResult
        Usually one kyphoplasty and one vertebroplasty of the same level.
    doses : mapping technique -> DoseSummary, optional
        Fluoroscopy time and dose of each (:func:`kypho.sim.frames.procedure_dose`).
    contact_sheets : mapping technique -> PNG bytes, optional
        AP/lateral contact sheets (:func:`kypho.sim.frames.contact_sheet_png`).
    slices : bool
        Add the sagittal/axial cement slices, P-V and injection plots.
    """
    doses = doses or {}
    contact_sheets = contact_sheets or {}
    head = ["", *[html.escape(f"{r.technique} ({r.cement})") for r in results]]

    def row(name: str, vals: Sequence[str]) -> str:
        return (f"<tr><td>{html.escape(name)}</td>"
                + "".join(f"<td>{html.escape(v)}</td>" for v in vals) + "</tr>")

    def hts(h: Sequence[float]) -> str:
        return " / ".join(f"{x:.1f}" for x in h)

    rows = [
        row("Ha / Hm / Hp before (mm)", [hts(r.heights_before_mm) for r in results]),
        row("Ha / Hm / Hp after (mm)", [hts(r.heights_after_mm) for r in results]),
        row("anterior height restored (% of loss)",
            [("-" if r.height_restoration_pct is None else f"{r.height_restoration_pct:.0f}")
             for r in results]),
        row("kyphotic (wedge) angle before -> after (deg)",
            [f"{r.wedge_angle_before_deg:.1f} -> {r.wedge_angle_after_deg:.1f}" for r in results]),
        row("balloon cavity (mL) / peak pressure (MPa)",
            [("-" if r.balloon is None else
              f"{r.balloon.cavity_volume_ml:.2f} / {r.balloon.max_pressure_mpa:.2f}")
             for r in results]),
        row("balloon stopped at",
            ["-" if r.balloon is None else r.balloon.stop_reason for r in results]),
        row("cement injected (mL)", [f"{r.injected_volume_ml:.2f}" for r in results]),
        row("fill of the body (%)", [f"{100 * r.fill_fraction:.1f}" for r in results]),
        row("crosses the midline", ["yes" if r.crosses_midline else "no" for r in results]),
        row("endplate contact (S/I)",
            [("S" if r.endplate_contact["superior"] else "-")
             + ("I" if r.endplate_contact["inferior"] else "-") for r in results]),
        row("leaks (class, Yeom type, mL)",
            ["; ".join(f"{lk.kind} ({lk.yeom_type}) {lk.volume_ml:.2f}" for lk in r.leaks)
             or "none" for r in results]),
        row("injection stopped at", [r.stop_reason for r in results]),
        row("fluoroscopy time (s)",
            [(f"{doses[r.technique].fluoroscopy_time_s:.0f}" if r.technique in doses else "-")
             for r in results]),
        row("reference air kerma (mGy) / DAP (Gy cm2)",
            [(f"{doses[r.technique].reference_air_kerma_mgy:.1f} / "
              f"{doses[r.technique].dap_gy_cm2:.3f}" if r.technique in doses else "-")
             for r in results]),
    ]
    table = ("<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"
             + "".join(rows) + "</table>")
    notes = (
        "<p>Fluoroscopy: continuous pulsed lateral during injection plus spot AP/lateral pairs "
        "(balloon steps, each mL of cement, before/after, frames shown); trocar placement is "
        "not counted. Heights: the balloon's endplate lift is bookkeeping (the grid is not "
        "deformed); vertebroplasty restores no height in this model (no elastic recovery or "
        "postural reduction).</p>"
    )
    # provenance and model assumptions of the inputs (real CT: inferred walls, assumed exits)
    extra = list(dict.fromkeys(n for r in results for n in r.notes))
    if extra:
        notes += ("<p>Assumptions and notes:</p><ul>"
                  + "".join(f"<li>{html.escape(n)}</li>" for n in extra) + "</ul>")
    body = f"<p>{html.escape(_DISCLAIMER)}</p>{table}{notes}"
    figures: list[Figure] = []
    for r in results:
        if r.technique in contact_sheets:
            figures.append(Figure(
                png=contact_sheets[r.technique],
                caption=f"{r.technique.capitalize()} of {r.level} under simulated fluoroscopy: "
                "AP (top) and lateral (bottom) at the moments named; trocars steel, balloon "
                "contrast, cement radiopaque."))
        if slices:
            figures.append(cement_slices_figure(r))
            for f in (pv_figure(r), injection_figure(r)):
                if f is not None:
                    figures.append(f)
    return Section(key="simulate", title="Simulated balloon and cement", html=body,
                   figures=tuple(figures))
