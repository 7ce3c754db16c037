"""The report's first section: the case itself, mid-sagittal and coronal slices with labels."""

from __future__ import annotations

import html

import numpy as np
from numpy.typing import NDArray

from kypho.core.case import Case
from kypho.core.levels import LEVEL_IDS
from kypho.core.reslice import Plane, plane_through, reslice
from kypho.report import Figure, Section, figure_from_matplotlib

__all__ = ["case_section", "slice_figure"]

#: Display window for bone on CT, HU (a common "bone window": centre 400, width 1800).
BONE_WINDOW_HU = (-500.0, 1300.0)
#: Soft tissue shown around the labelled spine in the slices (a picture choice).
CROP_MARGIN_MM = 40.0


def _spine_curve(case: Case) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    """A point on the spine and the curve the slices follow (None without labels): each level's
    body centroid as the anatomy layer measures it (its whole label's centroid where the body
    is not measurable)."""
    if case.labels is None or not case.labels.levels:
        centre_ijk = (np.asarray(case.volume.shape) - 1) / 2
        return case.volume.ijk_to_ras(centre_ijk), None
    from kypho.anatomy import SpineAnatomy

    spine = SpineAnatomy.of(case)
    points = []
    for lv in spine.levels:
        v = spine.vertebra(lv)
        points.append(np.asarray(v.frame.origin_ras_mm) if v.measured
                      else spine.centroids_ras_mm[lv])
    curve = np.stack(points)
    return np.median(curve, axis=0), curve


def slice_figure(
    case: Case,
    view: str,
    point: NDArray[np.float64],
    title: str,
    *,
    follow_ras_mm: NDArray[np.float64] | None = None,
) -> Figure:
    """A CT slice (bone window) with the vertebra labels outlined and named.

    With ``follow_ras_mm`` (vertebral centroids) the slice is a curved planar reformation that
    bends with the spine, so every body is cut through its middle.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import colormaps

    plane: Plane = plane_through(case.volume, view, point, follow_ras_mm=follow_ras_mm)
    ct = reslice(case.volume, plane)
    fig, ax = plt.subplots(figsize=(5.2, 5.2 * plane.shape[0] / max(plane.shape[1], 1)))
    extent = (0, plane.shape[1] * plane.spacing_mm, plane.shape[0] * plane.spacing_mm, 0)
    ax.imshow(ct, cmap="gray", vmin=BONE_WINDOW_HU[0], vmax=BONE_WINDOW_HU[1], extent=extent)
    if case.labels is not None:
        lab = reslice(case.labels, plane)
        cmap = colormaps["tab10"]
        for n, level in enumerate(case.labels.levels):
            m = lab == LEVEL_IDS[level]
            if not m.any():
                continue
            color = cmap(n % 10)
            ax.contour(
                m.astype(float),
                levels=[0.5],
                colors=[color],
                linewidths=0.9,
                extent=extent,
                origin="upper",
            )
            rc = np.argwhere(m)
            row_mm = rc[:, 0].mean() * plane.spacing_mm
            col_mm = rc[:, 1].max() * plane.spacing_mm + 4  # name just right of the outline
            ax.text(col_mm, row_mm, level, color=color, fontsize=8, va="center", fontweight="bold")
        rc_all = np.argwhere(lab > 0)
        if len(rc_all):
            # Frame the spine with a margin of soft tissue rather than the whole field of view.
            margin = CROP_MARGIN_MM / plane.spacing_mm
            lo = np.maximum(rc_all.min(axis=0) - margin, 0) * plane.spacing_mm
            hi = np.minimum(rc_all.max(axis=0) + margin, np.array(plane.shape) - 1)
            hi = hi * plane.spacing_mm
            ax.set_xlim(lo[1], hi[1])
            ax.set_ylim(hi[0], lo[0])
            aspect = (hi[1] - lo[1]) / max(hi[0] - lo[0], 1e-6)
            fig.set_size_inches(float(np.clip(5.2 * aspect + 1.0, 3.8, 9.0)), 5.6)
    ax.set_xlabel("mm")
    ax.set_title(title, fontsize=9)
    return figure_from_matplotlib(fig, title)


def case_section(case: Case) -> Section:
    """Report section describing the case: source, grid, levels and two labelled slices."""
    vol = case.volume
    point, curve = _spine_curve(case)
    rows = [
        ("Name", html.escape(case.name)),
        ("Grid", f"{vol.shape[0]} x {vol.shape[1]} x {vol.shape[2]} voxels"),
        ("Voxel size", " x ".join(f"{s:.3g}" for s in vol.spacing_mm) + " mm"),
        ("Orientation", "".join(vol.axcodes) + " (voxel axes; kypho's world is RAS+)"),
        ("HU range", f"{float(np.min(vol.data)):.0f} to {float(np.max(vol.data)):.0f}"),
        ("Labelled levels", ", ".join(case.levels) or "none"),
    ]
    for key in ("source", "description"):
        if key in case.metadata:
            rows.append((key.capitalize(), html.escape(str(case.metadata[key]))))
    body = "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"
    figs = [
        slice_figure(
            case,
            "sagittal",
            point,
            "Mid-sagittal slice following the spine (anterior left, superior up)",
            follow_ras_mm=curve,
        ),
        slice_figure(
            case,
            "coronal",
            point,
            "Coronal slice through the vertebral bodies (patient's right on the left)",
            follow_ras_mm=curve,
        ),
    ]
    if curve is not None:
        body += (
            "<p>Both slices are curved planar reformations through the vertebral centroids, "
            "so they stay in the spine where it drifts off the midline or curves forward.</p>"
        )
    return Section(key="case", title="Case", html=body, figures=figs)
