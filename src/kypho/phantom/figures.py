"""Pictures and the report section of a phantom: slices with the truth landmarks, a lateral
projection, and the table of true morphometry."""

from __future__ import annotations

import html

import numpy as np
from numpy.typing import NDArray

from kypho.core.case import Case
from kypho.core.reslice import plane_through, reslice
from kypho.errors import InvalidParameterError
from kypho.report import Figure, Section, figure_from_matplotlib

__all__ = ["lateral_projection", "phantom_figures", "phantom_section"]

#: Display windows (HU): bone for sagittal/coronal, a narrower one for the axial slice.
BONE_WINDOW_HU = (-500.0, 1300.0)
AXIAL_WINDOW_HU = (-250.0, 1000.0)


def _need_truth(case: Case) -> None:
    if case.truth is None:
        raise InvalidParameterError(f"case {case.name!r} is not a phantom (it has no ground truth)")


def lateral_projection(case: Case) -> tuple[NDArray[np.float32], tuple[float, float, float, float]]:
    """Sum of (HU + 1000) along x (a crude lateral radiograph), rows superior to inferior,
    columns anterior to posterior, with its extent in mm for ``imshow``."""
    vol = case.volume
    if vol.axcodes != ("R", "A", "S"):
        raise InvalidParameterError("lateral_projection expects an axis-aligned RAS phantom grid")
    proj = np.zeros(vol.shape[1:], np.float64)
    for i in range(vol.shape[0]):  # slab by slab: no full-size float copy
        proj += np.clip(vol.data[i].astype(np.float32) + 1000.0, 0, None)
    img = (proj * vol.spacing_mm[0] / 1000.0).astype(np.float32).T[::-1, ::-1]  # mm of water
    ny, nz = vol.shape[1], vol.shape[2]
    sy, sz = vol.spacing_mm[1], vol.spacing_mm[2]
    return img, (0.0, ny * sy, nz * sz, 0.0)


def _figure_slice(case: Case, view: str, point: NDArray[np.float64], title: str, window) -> Figure:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plane = plane_through(case.volume, view, point)
    img = reslice(case.volume, plane)
    fig, ax = plt.subplots(figsize=(5.2, 5.2 * plane.shape[0] / max(plane.shape[1], 1)))
    extent = (0, plane.shape[1] * plane.spacing_mm, plane.shape[0] * plane.spacing_mm, 0)
    ax.imshow(img, cmap="gray", vmin=window[0], vmax=window[1], extent=extent)
    if view == "sagittal" and case.truth is not None:
        for v in case.truth.vertebrae:
            pts = np.array([v.landmarks_ras_mm[k] for k in ("sa", "sm", "sp", "ia", "im", "ip")])
            rc = plane.to_pixel(pts) * plane.spacing_mm
            color = "tab:red" if v.fracture_type != "none" else "tab:cyan"
            ax.plot(rc[:, 1], rc[:, 0], "o", ms=2.5, color=color)
            ax.text(rc[0, 1] - 4, rc[:, 0].mean(), v.level, color=color, fontsize=7, ha="right")
    ax.set_xlabel("mm")
    ax.set_title(title, fontsize=9)
    return figure_from_matplotlib(fig, title)


def phantom_figures(case: Case) -> list[Figure]:
    """Mid-sagittal slice with the six-point landmarks, a coronal slice, an axial slice through a
    pedicle of the fractured (else the middle) level, and the lateral projection."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _need_truth(case)
    truth = case.truth
    assert truth is not None
    key = next((v for v in truth.vertebrae if v.fracture_type != "none"), None)
    key = key or truth.vertebrae[len(truth.vertebrae) // 2]
    centre = np.asarray(key.centroid_ras_mm, float)
    mid = np.array([0.0, centre[1], centre[2]])
    figs = [
        _figure_slice(
            case,
            "sagittal",
            mid,
            "Mid-sagittal slice (anterior left): six-point morphometry landmarks "
            "(red: fractured level)",
            BONE_WINDOW_HU,
        ),
        _figure_slice(
            case,
            "coronal",
            centre,
            f"Coronal slice through the {key.level} body (patient's right on the left)",
            BONE_WINDOW_HU,
        ),
        _figure_slice(
            case,
            "axial",
            np.asarray(key.pedicles[0].isthmus_ras_mm),
            f"Axial slice through the {key.level} pedicles (anterior up, right on the left)",
            AXIAL_WINDOW_HU,
        ),
    ]
    img, extent = lateral_projection(case)
    fig, ax = plt.subplots(figsize=(5.2, 5.2 * img.shape[0] / max(img.shape[1], 1)))
    lo, hi = np.percentile(img, [2, 99.9])
    ax.imshow(img, cmap="gray", vmin=lo, vmax=hi, extent=extent)
    ax.set_xlabel("mm (anterior left)")
    title = "Lateral projection: sum of (HU + 1000) along x, a crude lateral radiograph"
    ax.set_title(title, fontsize=9)
    figs.append(figure_from_matplotlib(fig, title))
    return figs


def phantom_section(case: Case) -> Section:
    """Report section ``"phantom"``: what was built, the true morphometry, and pictures."""
    _need_truth(case)
    truth = case.truth
    assert truth is not None
    head = (
        "<tr><th>Level</th><th>Ha mm</th><th>Hm mm</th><th>Hp mm</th><th>normal Ha/Hm/Hp mm</th>"
        "<th>wedge deg</th><th>fracture</th><th>Genant</th><th>height loss %</th>"
        "<th>trabecular HU</th></tr>"
    )
    rows = []
    for v in truth.vertebrae:
        cls = ' class="flag"' if v.fracture_type != "none" else ""
        rows.append(
            f"<tr{cls}><td>{html.escape(v.level)}</td><td>{v.height_anterior_mm:.1f}</td>"
            f"<td>{v.height_middle_mm:.1f}</td><td>{v.height_posterior_mm:.1f}</td>"
            f"<td>{v.normal_height_anterior_mm:.1f} / {v.normal_height_middle_mm:.1f} / "
            f"{v.normal_height_posterior_mm:.1f}</td><td>{v.wedge_angle_deg:.1f}</td>"
            f"<td>{html.escape(v.fracture_type)}</td><td>{v.genant_grade}</td>"
            f"<td>{v.height_loss_pct:.1f}</td><td>{v.trabecular_hu:.0f}</td></tr>"
        )
    spec = truth.spec
    body = (
        f"<p>Synthetic spine phantom {html.escape(str(spec.get('first_level')))}-"
        f"{html.escape(str(spec.get('last_level')))}, {spec.get('voxel_mm')} mm voxels, "
        f"{html.escape(str(spec.get('bone_density')))} bone, seed {truth.seed}. Column shortened "
        f"by {truth.column_height_loss_mm:.1f} mm by its fractures. Dimensions come from "
        "published anatomy tables (docs/references/phantom.md); the heights below are the "
        "generator's ground truth between the six morphometry points.</p>"
        f"<table>{head}{''.join(rows)}</table>"
    )
    return Section(
        key="phantom", title="Phantom ground truth", html=body, figures=phantom_figures(case)
    )
