"""Pedicle anatomy from the label: isthmus, width, height, axis and the canal beside it.

Method (two passes, see ``docs/references/plan.md``):

1. Coronal sections of the vertebra's local frame (planes of constant ``a``) from the posterior
   body wall back through the canal's depth.  In each, the pedicle is the bone component met first
   when walking laterally from the canal's edge at the canal's mid-height.
2. The isthmus is the section of least transverse width; the pedicle proper is the run of sections
   around it no wider than :data:`PEDICLE_SPAN_FACTOR` times that width.  A line fitted through
   their centroids is the first axis.
3. Second pass: sections perpendicular to that axis (width measured along the horizontal direction
   across the axis, height across both); the narrowest one is the isthmus; the axis is refitted
   through the new centroids.

Width and height are the extents of the section of the label (sampled at :data:`SECTION_RES_MM`,
label interpolated linearly and thresholded at one half, i.e. the surface half-way between voxel
centres).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from kypho.errors import NotMeasurableError
from kypho.plan.anatomy import VertebraModel

__all__ = [
    "PEDICLE_SPAN_FACTOR",
    "PUBLISHED_PEDICLE_WIDTH_MM",
    "PedicleAnatomy",
    "Side",
    "find_pedicles",
    "published_comparison",
]

Side = Literal["left", "right"]

#: Section sampling step (mm).  **Model choice**: fine against voxels of 0.5-1 mm.
SECTION_RES_MM = 0.25
#: Sections wider than this multiple of the isthmus width are not "pedicle" (they are where the
#: pedicle flares into the body or meets the facets and transverse process).  **Model choice**.
PEDICLE_SPAN_FACTOR = 1.25
#: Smallest section accepted as a pedicle (mm).  **Model choice** below the thinnest published
#: pedicles (3.4 mm wide, Lien 2007; sagittal diameter 7.2 mm at T1, Demiroz).
MIN_WIDTH_MM = 2.5
MIN_HEIGHT_MM = 5.0

#: Published transverse (medio-lateral) pedicle width per level, mm: (mean, spread, source).
#: T11, T12: Panjabi MM et al. Spine 1991;16(8):888-901, Table 5 (mean of right and left);
#: L1-L5: Panjabi MM et al. Spine 1992;17(3):299-306, Table 4 (mean +- SEM) -- both read from the
#: transcription in ``Gregory-Schwing-MD-PhD/CTSpinoPelvic1K`` (clinical-anchors.md 4b, "2nd").
#: T10: no per-level mean was read; Lien SB et al. Eur Spine J 2007;16:1215-22 give 3.4-7.7 mm
#: for the safe-zone width at T1-T10 (range only).  Kaur K et al. J Clin Orthop Trauma 2016
#: (CT, 600 vertebrae): T12 8.31 +- 1.83 mm.  Zindrick MR et al. Spine 1987 (via the same
#: transcription): L1 8.7 +- 2.3, L2 8.9 +- 2.2, L3 10.3 +- 2.6 mm.
PUBLISHED_PEDICLE_WIDTH_MM: dict[str, tuple[float | None, str, str]] = {
    "T10": (None, "3.4-7.7 (T1-T10 range)", "Lien 2007"),
    "T11": (9.75, "", "Panjabi 1991"),
    "T12": (8.7, "Kaur 2016: 8.31 +- 1.83", "Panjabi 1991"),
    "L1": (8.60, "+- 0.92 SEM; Zindrick 8.7 +- 2.3", "Panjabi 1992"),
    "L2": (8.25, "+- 0.68 SEM; Zindrick 8.9 +- 2.2", "Panjabi 1992"),
    "L3": (10.15, "+- 0.60 SEM; Zindrick 10.3 +- 2.6", "Panjabi 1992"),
    "L4": (14.05, "+- 0.32 SEM; Zindrick 12.9 +- 2.1", "Panjabi 1992"),
    "L5": (18.60, "+- 1.03 SEM; Zindrick 18.0 +- 4.1", "Panjabi 1992"),
}
#: Published transverse pedicle angles where a per-level number was read (degrees of convergence):
#: T12 3 deg (Demiroz S, Erdem S, Turk Neurosurg, CT of 1512 pedicles, abstract).  Per-level
#: angles at T10-L5 from Zindrick, Panjabi or Ebraheim were **not found** (clinical-anchors 4b).
#: openradiology.org: the needle runs at about 0 deg at L3 and 20-30 deg in the thoracic spine
#: (intercostovertebral route), quoted in the comparison text.
PUBLISHED_TRANSVERSE_ANGLE_DEG: dict[str, tuple[float, str]] = {"T12": (3.0, "Demiroz")}


@dataclass(frozen=True)
class PedicleAnatomy:
    """One pedicle as measured on the label.

    Attributes
    ----------
    side : {'left', 'right'}
    isthmus_ras_mm : (3,) float
        Centroid of the narrowest cross-section.
    axis_ras : (3,) float
        Unit vector of the pedicle axis, pointing into the body.
    width_mm, height_mm : float
        Transverse and cranio-caudal extent of the isthmus section.
    transverse_angle_deg : float
        Convergence towards the midline in the vertebra's axial plane (positive = medial).
    sagittal_angle_deg : float
        Caudal tilt in its sagittal plane (positive = the axis descends going anterior).
    medial_wall_ras_mm, lateral_wall_ras_mm : (3,) float
        Points of the medial and lateral walls at the isthmus.
    lateral_dir_ras, up_dir_ras : (3,) float
        Unit vectors across the axis at the isthmus: towards the lateral wall and cranially.
    canal_gap_mm : float
        Distance from the medial wall at the isthmus to the midline.
    outline_ras_mm : tuple of (3,) float
        Boundary of the isthmus section (for pictures and the AP-view rule).
    """

    side: Side
    isthmus_ras_mm: tuple[float, float, float]
    axis_ras: tuple[float, float, float]
    width_mm: float
    height_mm: float
    transverse_angle_deg: float
    sagittal_angle_deg: float
    medial_wall_ras_mm: tuple[float, float, float]
    lateral_wall_ras_mm: tuple[float, float, float]
    lateral_dir_ras: tuple[float, float, float]
    up_dir_ras: tuple[float, float, float]
    canal_gap_mm: float
    outline_ras_mm: tuple[tuple[float, float, float], ...] = ()


@dataclass
class _Section:
    centre: NDArray[np.float64]  # RAS
    width: float
    height: float
    area: float
    w_dir: NDArray[np.float64]
    h_dir: NDArray[np.float64]
    w_range: tuple[float, float]  # extents along w_dir relative to the plane origin
    h_range: tuple[float, float]
    outline: NDArray[np.float64]


def _section(
    model: VertebraModel,
    origin: NDArray[np.float64],
    w_dir: NDArray[np.float64],
    h_dir: NDArray[np.float64],
    seed_w: float,
    seed_h: float,
    *,
    half_w: float,
    half_h: float,
) -> _Section | None:
    """Bone component of the plane ``origin + x w_dir + y h_dir`` containing (or nearest to) the
    seed, with ``x`` in [-half_w, half_w] and ``y`` in [-half_h, half_h]."""
    r = SECTION_RES_MM
    xs = np.arange(-half_w, half_w + r / 2, r)
    ys = np.arange(-half_h, half_h + r / 2, r)
    pts = origin + xs[:, None, None] * w_dir + ys[None, :, None] * h_dir
    img = model.inside(pts)
    if not img.any():
        return None
    comp, _n = ndimage.label(img)
    i0 = int(np.clip(round((seed_w + half_w) / r), 0, len(xs) - 1))
    j0 = int(np.clip(round((seed_h + half_h) / r), 0, len(ys) - 1))
    lab = comp[i0, j0]
    if lab == 0:
        ii, jj = np.nonzero(comp)
        k = int(np.argmin((ii - i0) ** 2 + (jj - j0) ** 2))
        if math.hypot(ii[k] - i0, jj[k] - j0) * r > 4.0:
            return None
        lab = comp[ii[k], jj[k]]
    sec = comp == lab
    ii, jj = np.nonzero(sec)
    x, y = xs[ii], ys[jj]
    centre = origin + x.mean() * w_dir + y.mean() * h_dir
    edge = sec & ~ndimage.binary_erosion(sec)
    ei, ej = np.nonzero(edge)
    outline = origin + xs[ei, None] * w_dir + ys[ej, None] * h_dir
    return _Section(
        centre=centre,
        width=float(x.max() - x.min() + r),
        height=float(y.max() - y.min() + r),
        area=float(len(x) * r * r),
        w_dir=w_dir,
        h_dir=h_dir,
        w_range=(float(x.min() - r / 2), float(x.max() + r / 2)),
        h_range=(float(y.min() - r / 2), float(y.max() + r / 2)),
        outline=outline,
    )


def _fit_axis(centres: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Point and unit direction of the least-squares line through ``centres``."""
    c = centres.mean(axis=0)
    _, _, vt = np.linalg.svd(centres - c)
    return c, vt[0]


def _span(sections: list[_Section | None]) -> list[int]:
    """Indices of the run of sections around the narrowest one whose width and height both stay
    within :data:`PEDICLE_SPAN_FACTOR` of the narrowest section's (a section that merged with the
    body, a facet or a transverse process grows in one of them)."""
    # Slivers (tips of processes cut by the plane) are not pedicles: the thinnest published
    # pedicles are about 3.4-3.9 mm wide (Lien 2007; Clin Anat 2005;18:404) and 7-9 mm high.
    def plausible(s: _Section | None) -> bool:
        return s is not None and s.width >= MIN_WIDTH_MM and s.height >= MIN_HEIGHT_MM

    widths = np.array([s.width if plausible(s) else np.inf for s in sections])  # type: ignore[union-attr]
    heights = np.array([s.height if plausible(s) else np.inf for s in sections])  # type: ignore[union-attr]
    if not np.isfinite(widths).any():
        return []
    # Start from the narrowest section among those of ordinary height (the smallest heights
    # seen, up to the span factor), so a thin sliver of a process is not taken for the isthmus.
    h_ok = heights <= PEDICLE_SPAN_FACTOR * np.min(heights[np.isfinite(heights)])
    cand = np.where(h_ok, widths, np.inf)
    i0 = int(np.argmin(cand))
    w_lim = PEDICLE_SPAN_FACTOR * widths[i0]
    h_lim = PEDICLE_SPAN_FACTOR * heights[i0]

    def ok(i: int) -> bool:
        return bool(widths[i] <= w_lim and heights[i] <= h_lim)

    lo = i0
    while lo - 1 >= 0 and ok(lo - 1):
        lo -= 1
    hi = i0
    while hi + 1 < len(widths) and ok(hi + 1):
        hi += 1
    return list(range(lo, hi + 1))


def _one_pedicle(model: VertebraModel, side: Side) -> PedicleAnatomy:
    fr = model.frame
    sgn = 1.0 if side == "right" else -1.0
    e_u, e_a, e_s = (np.asarray(v) for v in (fr.right, fr.anterior, fr.superior))
    lat = sgn * e_u
    # Canal points on this side, local coordinates.
    canal_idx = np.argwhere(model.canal)
    canal_loc = fr.to_local(canal_idx @ model.affine[:3, :3].T + model.affine[:3, 3])
    core = canal_loc[model.bone_sdf_mm[tuple(canal_idx.T)] > -3.0]  # canal next to bone
    if len(core) == 0:
        core = canal_loc
    a_post = model.body_posterior_a_mm
    a_back = float(core[:, 1].min())
    s_mid = float(np.median(core[:, 2]))
    # --- pass 1: coronal sections -------------------------------------------------------------
    sections: list[_Section | None] = []
    a_values = np.arange(a_post - 0.5, a_back, -0.5)
    for a in a_values:
        row = core[(np.abs(core[:, 1] - a) < 1.0) & (sgn * core[:, 0] > 0)]
        u_edge = float(np.max(sgn * row[:, 0])) if len(row) else 0.25 * model.canal_width_mm
        s_here = float(np.median(row[:, 2])) if len(row) else s_mid
        # Walk laterally from the canal edge to the first bone.
        origin = fr.to_world([sgn * u_edge, a, s_here])
        t = model.march(origin, lat, max_mm=15.0, want_inside=True)
        if t is None:
            sections.append(None)
            continue
        seed = origin + (t + 0.5) * lat
        sec = _section(model, seed, lat, e_s, 0.0, 0.0, half_w=16.0, half_h=16.0)
        sections.append(sec)
    span = _span(sections)
    if len(span) < 2:
        raise NotMeasurableError(
            f"{model.level}: the {side} pedicle could not be traced between the body and the arch"
        )
    centres = np.array([sections[i].centre for i in span])  # type: ignore[union-attr]
    point, axis = _fit_axis(centres)
    if axis @ e_a < 0:
        axis = -axis
    # --- pass 2: sections perpendicular to the axis ---------------------------------------------
    for _ in range(2):
        w_dir = np.cross(e_s, axis)
        w_dir /= np.linalg.norm(w_dir)
        if w_dir @ lat < 0:
            w_dir = -w_dir
        h_dir = np.cross(axis, w_dir)
        if h_dir @ e_s < 0:
            h_dir = -h_dir
        # Parametrise along the axis by the local a coordinate.
        t_vals = np.arange(-25.0, 25.01, 0.5)
        secs2: list[_Section | None] = []
        for t in t_vals:
            o = point + t * axis
            a_here = fr.to_local(o)[1]
            if a_here > a_post + 1.0 or a_here < a_back - 1.0:
                secs2.append(None)
                continue
            secs2.append(_section(model, o, w_dir, h_dir, 0.0, 0.0, half_w=16.0, half_h=16.0))
        span2 = _span(secs2)
        if len(span2) < 2:
            break
        c2 = np.array([secs2[i].centre for i in span2])  # type: ignore[union-attr]
        point, axis = _fit_axis(c2)
        if axis @ e_a < 0:
            axis = -axis
    widths = [secs2[i].width for i in span2]  # type: ignore[union-attr]
    ist = secs2[span2[int(np.argmin(widths))]]
    assert ist is not None
    # Isthmus centre on the fitted axis (the section's own centroid is noisier).
    centre = point + ((ist.centre - point) @ axis) * axis
    w_dir, h_dir = ist.w_dir, ist.h_dir
    med = centre - (ist.width / 2) * w_dir
    latw = centre + (ist.width / 2) * w_dir
    d_loc = fr.direction_to_local(axis)
    transverse = math.degrees(math.atan2(-sgn * d_loc[0], d_loc[1]))
    sagittal = math.degrees(math.atan2(-d_loc[2], math.hypot(d_loc[0], d_loc[1])))
    gap = float(abs(fr.to_local(med)[0]))

    def tup(v: NDArray) -> tuple[float, float, float]:
        return (float(v[0]), float(v[1]), float(v[2]))

    return PedicleAnatomy(
        side=side,
        isthmus_ras_mm=tup(centre),
        axis_ras=tup(axis),
        width_mm=ist.width,
        height_mm=ist.height,
        transverse_angle_deg=float(transverse),
        sagittal_angle_deg=float(sagittal),
        medial_wall_ras_mm=tup(med),
        lateral_wall_ras_mm=tup(latw),
        lateral_dir_ras=tup(w_dir),
        up_dir_ras=tup(h_dir),
        canal_gap_mm=gap,
        outline_ras_mm=tuple(tup(p) for p in ist.outline[:: max(1, len(ist.outline) // 120)]),
    )


def find_pedicles(model: VertebraModel) -> dict[Side, PedicleAnatomy]:
    """Both pedicles of a vertebra (``{'left': ..., 'right': ...}``).

    Raises
    ------
    NotMeasurableError
        A pedicle cannot be traced from the canal's edge.
    """
    return {side: _one_pedicle(model, side) for side in ("left", "right")}  # type: ignore[misc]


def published_comparison(level: str, pedicle: PedicleAnatomy) -> dict[str, object]:
    """Measured width and angle against the published per-level values (``None`` when none)."""
    width, spread, src = PUBLISHED_PEDICLE_WIDTH_MM.get(level, (None, "", ""))
    ang = PUBLISHED_TRANSVERSE_ANGLE_DEG.get(level)
    return {
        "level": level,
        "side": pedicle.side,
        "width_mm": round(pedicle.width_mm, 2),
        "published_width_mm": width,
        "published_width_note": spread,
        "published_width_source": src,
        "width_difference_mm": None if width is None else round(pedicle.width_mm - width, 2),
        "transverse_angle_deg": round(pedicle.transverse_angle_deg, 1),
        "published_transverse_angle_deg": None if ang is None else ang[0],
        "published_angle_source": None if ang is None else ang[1],
    }
