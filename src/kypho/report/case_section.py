"""The report's first section: the case itself, mid-sagittal and coronal slices with labels."""

from __future__ import annotations

import html

import numpy as np
from numpy.typing import NDArray

from kypho.core.case import Case
from kypho.core.levels import LEVEL_IDS
from kypho.core.reslice import Plane, plane_through, reslice
from kypho.report import Figure, Section, figure_from_matplotlib

__all__ = ["case_section", "level_centroids_ras_mm", "slice_figure"]

#: Display window for bone on CT, HU (a common "bone window": centre 400, width 1800).
BONE_WINDOW_HU = (-500.0, 1300.0)


def level_centroids_ras_mm(case: Case) -> dict[str, NDArray[np.float64]]:
    """Centroid (RAS+ mm) of every labelled level."""
    if case.labels is None:
        return {}
    from scipy import ndimage

    levels = case.labels.levels
    ids = [LEVEL_IDS[lv] for lv in levels]
    cents = ndimage.center_of_mass(np.ones(case.labels.shape, bool), case.labels.data, ids)
    return {lv: case.labels.ijk_to_ras(np.asarray(c)) for lv, c in zip(levels, cents, strict=True)}


def _spine_point(case: Case) -> NDArray[np.float64]:
    cents = level_centroids_ras_mm(case)
    if cents:
        return np.median(np.stack(list(cents.values())), axis=0)
    centre_ijk = (np.asarray(case.volume.shape) - 1) / 2
    return case.volume.ijk_to_ras(centre_ijk)


def slice_figure(case: Case, view: str, point: NDArray[np.float64], title: str) -> Figure:
    """A CT slice (bone window) with the vertebra labels outlined and named."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import colormaps

    plane: Plane = plane_through(case.volume, view, point)
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
    ax.set_xlabel("mm")
    ax.set_title(title, fontsize=9)
    return figure_from_matplotlib(fig, title)


def case_section(case: Case) -> Section:
    """Report section describing the case: source, grid, levels and two labelled slices."""
    vol = case.volume
    point = _spine_point(case)
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
            "Mid-sagittal slice (anterior left, superior up) with vertebra labels",
        ),
        slice_figure(
            case, "coronal", point, "Coronal slice through the spine (patient's right on the left)"
        ),
    ]
    return Section(key="case", title="Case", html=body, figures=figs)
