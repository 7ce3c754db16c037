"""What the anatomy layer measured, as files: ``anatomy.json`` and one picture per level.

* ``anatomy.json`` (``"format": "kypho.anatomy/1"``): per level its status, frame (origin and
  axes, RAS+), six-point landmarks and heights, endplate slopes and wedge angle, body depth and
  width, trabecular HU, canal, and both pedicles (isthmus, axis, width, height, angles);
* ``anatomy_<level>.png``: the vertebra in its own frame, mid-sagittal and axial, with the body
  outline, the six landmarks and heights, the canal, the pedicle axes and the frame's axes
  (``docs/images/anatomy-phantom-L1.png`` is one).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kypho.anatomy.spine import SpineAnatomy, VertebraAnatomy
from kypho.core.atomic import write_files_atomic
from kypho.core.outputs import dumps, envelope, figure_png
from kypho.errors import NotMeasurableError

__all__ = [
    "ANATOMY_FORMAT_VERSION",
    "anatomy_figure",
    "anatomy_to_dict",
    "output_names",
    "vertebra_to_dict",
    "write_outputs",
]

#: Layout version of ``anatomy.json`` (``"format": "kypho.anatomy/1"``).
ANATOMY_FORMAT_VERSION = 1


def _r(x: Any, nd: int = 3) -> Any:
    if isinstance(x, tuple | list | np.ndarray):
        return [_r(v, nd) for v in x]
    return None if x is None else round(float(x), nd)


def vertebra_to_dict(v: VertebraAnatomy) -> dict[str, Any]:
    """JSON-able measurements of one vertebra (``status`` says why a part is missing)."""
    d: dict[str, Any] = {"level": v.level, "status": v.status,
                         "cut_by_scan_edge": v.touches_edge}
    if not v.measured:
        return d
    m, f, g = v.morphometry, v.frame, v.geometry
    d["frame"] = {"origin_ras_mm": _r(f.origin_ras_mm), "right": _r(f.right, 5),
                  "anterior": _r(f.anterior, 5), "superior": _r(f.superior, 5)}
    d["body_separation"] = g.separation
    d["landmarks_ras_mm"] = {k: _r(p) for k, p in m.landmarks_ras_mm.items()}
    d["heights_mm"] = dict(zip(("anterior", "middle", "posterior"), _r(v.heights_mm), strict=True))
    d["endplates"] = {"superior_slope": _r(m.superior_slope, 4),
                      "inferior_slope": _r(m.inferior_slope, 4),
                      "landmark_span_mm": _r(m.landmark_span_mm),
                      "wedge_angle_deg": _r(m.wedge_angle_deg, 2)}
    d["body"] = {"depth_mm": _r(m.depth_mm), "width_mm": _r(m.width_mm),
                 "posterior_wall_protrusion_mm": _r(m.posterior_wall_protrusion_mm)}
    t = v.trabecular
    d["trabecular"] = {"mean_hu": _r(t.mean_hu, 1), "sd_hu": _r(t.sd_hu, 1),
                       "voxels": t.voxels, "erosion_mm": t.erosion_mm}
    if g.canal is not None:
        d["canal"] = {"ap_mm": _r(g.canal.ap_mm), "width_mm": _r(g.canal.width_mm),
                      "closed": g.canal.closed}
    try:
        d["pedicles"] = {
            side: {"isthmus_ras_mm": _r(p.isthmus_ras_mm), "axis_ras": _r(p.axis_ras, 5),
                   "width_mm": _r(p.width_mm, 2), "height_mm": _r(p.height_mm, 2),
                   "transverse_angle_deg": _r(p.transverse_angle_deg, 2),
                   "sagittal_angle_deg": _r(p.sagittal_angle_deg, 2),
                   "transverse_source": p.transverse_source,
                   "sagittal_source": p.sagittal_source}
            for side, p in v.pedicles.items()
        }
    except NotMeasurableError as exc:
        d["pedicles"] = {"status": f"not measurable: {exc}"}
    return d


def anatomy_to_dict(spine: SpineAnatomy, levels: Sequence[str] | None = None) -> dict[str, Any]:
    """JSON-able anatomy of ``levels`` (default: every labelled level)."""
    return {
        "case": spine.case.name,
        "coordinates": "RAS+ mm",
        "frame_definition": "origin at the body's centroid; superior along the body's own axis "
                            "(walls and endplates); anterior from the canal's centre to the "
                            "body's centroid; right = anterior x superior",
        "levels": [vertebra_to_dict(spine.vertebra(lv)) for lv in (levels or spine.levels)],
    }


def _planes(v: VertebraAnatomy, half_mm: float, step: float):
    from kypho.core.reslice import Plane

    f = v.frame
    o, r, a, s = (np.asarray(x, float) for x in (f.origin_ras_mm, f.right, f.anterior,
                                                  f.superior))
    n = int(2 * half_mm / step) + 1
    # mid-sagittal: superior up, anterior on the left (the usual lateral view)
    sag = Plane(tuple(o + half_mm * s + half_mm * a), tuple(-s), tuple(-a), (n, n), step)
    # axial through the pedicles' mean height, viewed from the feet: anterior up, right on the
    # picture's left
    try:
        h = float(np.mean([f.to_local(p.isthmus_ras_mm)[2] for p in v.pedicles.values()]))
    except NotMeasurableError:
        h = 0.0
    c = o + h * s
    ax = Plane(tuple(c + half_mm * a + half_mm * r), tuple(-a), tuple(-r), (n, n), step)
    return sag, ax


def anatomy_figure(v: VertebraAnatomy, *, half_mm: float = 35.0):
    """Matplotlib figure of one measured vertebra in its frame (mid-sagittal and axial).

    Raises
    ------
    NotMeasurableError
        When the vertebra's body was not measured.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kypho.core.levels import LEVEL_IDS
    from kypho.core.reslice import reslice

    case = v.spine.case
    m, f = v.morphometry, v.frame
    step = min(0.5, min(case.volume.spacing_mm))
    sag, ax = _planes(v, half_mm, step)
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.6))
    for axis_, plane, title in ((axes[0], sag, "mid-sagittal (anterior left)"),
                                (axes[1], ax, "axial at the pedicles (anterior up, right left)")):
        axis_.imshow(reslice(case.volume, plane), cmap="gray", vmin=-200, vmax=1200)
        assert case.labels is not None
        lab = reslice(case.labels, plane) == LEVEL_IDS[v.level]
        axis_.contour(lab, [0.5], colors="#f5a623", linewidths=0.8)
        o = plane.to_pixel(np.asarray(f.origin_ras_mm))
        for vec, colour, name in ((f.superior, "#e74c3c", "S"), (f.anterior, "#2ecc71", "A"),
                                  (f.right, "#4fc3f7", "R")):
            tip = plane.to_pixel(np.asarray(f.origin_ras_mm) + 15.0 * np.asarray(vec))
            if np.linalg.norm(tip - o) < 1.0 / step:  # perpendicular to this picture
                continue
            axis_.annotate("", xy=(tip[1], tip[0]), xytext=(o[1], o[0]),
                           arrowprops={"arrowstyle": "->", "color": colour, "lw": 1.6})
            axis_.text(tip[1], tip[0], f" {name}", color=colour, fontsize=9, va="center")
        axis_.set_title(title, fontsize=9)
        axis_.set_axis_off()
    # six-point landmarks and heights on the mid-sagittal picture
    lm = {k: sag.to_pixel(np.asarray(p)) for k, p in m.landmarks_ras_mm.items()}
    for key, name, h in (("a", "Ha", m.height_anterior_mm), ("m", "Hm", m.height_middle_mm),
                         ("p", "Hp", m.height_posterior_mm)):
        top, bot = lm[f"s{key}"], lm[f"i{key}"]
        axes[0].plot([top[1], bot[1]], [top[0], bot[0]], "-o", color="#ffd54f", ms=3, lw=1)
        axes[0].text(bot[1], bot[0] + 4, f"{name} {h:.1f}", color="#ffd54f", fontsize=8,
                     ha="center", va="top")
    try:
        for side, p in v.pedicles.items():
            a0 = ax.to_pixel(np.asarray(p.isthmus_ras_mm) - 15.0 * np.asarray(p.axis_ras))
            a1 = ax.to_pixel(np.asarray(p.isthmus_ras_mm) + 20.0 * np.asarray(p.axis_ras))
            axes[1].plot([a0[1], a1[1]], [a0[0], a1[0]], "--", color="#ce93d8", lw=1.2)
            i = ax.to_pixel(np.asarray(p.isthmus_ras_mm))
            axes[1].plot(i[1], i[0], "o", color="#ce93d8", ms=4)
            axes[1].text(i[1], i[0] + 10, f"{side} {p.width_mm:.1f} mm\n"
                         f"{p.transverse_angle_deg:+.0f} deg", color="#ce93d8", fontsize=8,
                         ha="center", va="top")
    except NotMeasurableError as exc:
        axes[1].text(5, 10, f"pedicles: {exc}"[:90], color="#ce93d8", fontsize=7)
    fig.suptitle(f"{case.name} {v.level} as measured (kypho.anatomy): wedge "
                 f"{m.wedge_angle_deg:.1f} deg, trabecular "
                 f"{v.trabecular.mean_hu or float('nan'):.0f} HU. Not a medical device.",
                 fontsize=9)
    fig.tight_layout()
    return fig


def output_names(levels: Sequence[str]) -> tuple[str, ...]:
    """The file names :func:`write_outputs` writes for ``levels``."""
    return ("anatomy.json", *(f"anatomy_{lv}.png" for lv in levels))


def write_outputs(
    spine: SpineAnatomy, out_dir: str | Path, levels: Sequence[str] | None = None
) -> dict[str, Path]:
    """Write ``anatomy.json`` and ``anatomy_<level>.png`` (measured levels) into ``out_dir``.

    Everything is made in memory first, then written all or none
    (:func:`kypho.core.atomic.write_files_atomic`).  Returns the paths by name.
    """
    chosen = list(levels or spine.levels)
    pictures = {}
    for lv in chosen:
        v = spine.vertebra(lv)
        if not v.measured:
            continue
        pictures[f"anatomy_{lv}.png"] = figure_png(anatomy_figure(v), dpi=100)
    out = Path(out_dir)
    doc = envelope("anatomy", ANATOMY_FORMAT_VERSION, anatomy_to_dict(spine, chosen))
    files = {"anatomy.json": dumps(doc).encode("utf-8"), **pictures}
    write_files_atomic(out, files)
    return {name: out / name for name in files}
