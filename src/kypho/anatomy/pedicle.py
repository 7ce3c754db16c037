"""Pedicle anatomy from the label: isthmus, width, height, axis and the canal beside it.

Method (two passes, see ``docs/references/plan.md``):

1. Coronal sections of the vertebra's local frame (planes of constant ``a``) from the posterior
   body wall back through the canal's depth.  In each, the pedicle is the bone component met first
   when walking laterally from the canal's edge at the canal's mid-height.
2. The isthmus is the section of least transverse width; the pedicle proper is the run of sections
   around it no wider than :data:`PEDICLE_SPAN_FACTOR` times that width.  A line fitted through
   their centroids is the first axis.
3. Second pass (:func:`_wall_midline`, three times): rays across the axis find the medial,
   lateral, superior and inferior walls (label, refined to the CT's half-maximum edge); where the
   section is free (opposite walls within :data:`FREE_TUBE_FACTOR` of the narrowest pair) the
   mid-points between opposite walls are fitted by lines along the axis.  The isthmus is the
   narrowest section perpendicular to the final axis.

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

from kypho.anatomy.grid import VertebraGrid
from kypho.errors import NotMeasurableError

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
#: Pass 1 looks for the pedicle from the body's posterior wall back over this fraction of the
#: canal's antero-posterior depth.  **Model choice**: the isthmus lies about a third of the way
#: back (the phantom puts it at 0.3 of the depth; on CT it sits beside the canal's front half).
PEDICLE_SEARCH_DEPTH = 0.8
#: A coronal section is the pedicle's only if its medial edge lies within this distance (mm) of
#: the canal's lateral edge.  **Model choice** (a voxel or two of label slack).
CANAL_CONTACT_MM = 2.5
#: Largest change (deg) of the axis that a perpendicular-section pass may make.  **Model choice**.
PASS2_MAX_TURN_DEG = 15.0
#: The best-centred line is judged between the pass-1 pedicle sections' depths widened by this
#: much (mm) at each end.  **Model choice**.
AXIS_SEGMENT_PAD_MM = 3.0
#: A section of the pedicle is "free" (its opposite walls are the pedicle's own) where the walls
#: found by rays across the axis lie no further apart than this multiple of the narrowest pair
#: found near the isthmus.  **Model choice**: the pedicle widens gently away from its isthmus
#: but jumps where it merges with the body, lamina, facets or transverse process.
FREE_TUBE_FACTOR = 1.25
#: The narrowest pair of walls is looked for within this distance (mm) of the isthmus.
MIDLINE_NEAR_MM = 4.0
#: Spacing (mm of depth) of the wall mid-points, the least number of them and the least length
#: (mm along the axis) over which a slope is fitted, and the residual (mm) beyond which a
#: mid-point is dropped as an outlier.  **Model choices**.
MIDLINE_STEP_MM = 0.5
MIDLINE_MIN_POINTS = 5
MIDLINE_MIN_SPAN_MM = 3.0
MIDLINE_OUTLIER_MM = 0.75
#: Half-maximum wall refinement on the CT: window (mm) around the label's surface in which the
#: cortex's peak is looked for, and the least contrast (HU) between that peak and the tissue
#: beyond for an edge to count.  **Model choices** (a voxel or two of label error; cortex
#: against soft tissue is several hundred HU).
HALF_MAX_WINDOW_MM = 2.0
HALF_MAX_MIN_CONTRAST_HU = 150.0
#: Refits of the axis through the wall mid-points.
AXIS_ITERATIONS = 3
#: In-plane (axial) transverse axis: the medial and lateral walls are found along the frame's
#: right axis in axial planes of the vertebra at heights within :data:`AXIAL_HALF_HEIGHT_MM` of
#: the pedicle's centre, every :data:`AXIAL_HEIGHT_STEP_MM`, and over :data:`AXIAL_HALF_LENGTH_MM`
#: of depth on either side of the isthmus.  **Model choices**: the medial and lateral walls run
#: cranio-caudally, nearly along a CT's slice normal, so their positions come from the in-plane
#: pixels (0.7 mm on the example) even on 2.5 mm slices; a few mm around the pedicle's mid-height
#: stay clear of its rounded superior and inferior borders (pedicle height >= 7 mm, Demiroz).
AXIAL_HALF_HEIGHT_MM = 3.0
AXIAL_HEIGHT_STEP_MM = 1.0
AXIAL_HALF_LENGTH_MM = 10.0
#: Largest transverse angle (deg, either way) accepted from the in-plane fit.  **Model choice**
#: beyond the published range (thoracolumbar pedicles converge about -10 to +30 deg; Lien 2007,
#: Kaur 2016, Demiroz).
AXIAL_MAX_ANGLE_DEG = 40.0

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
    transverse_source, sagittal_source : str
        How each angle was measured (or why it fell back).
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
    transverse_source: str = ""
    sagittal_source: str = ""


@dataclass
class _Section:
    centre: NDArray[np.float64]  # RAS
    width: float
    height: float
    w_dir: NDArray[np.float64]
    h_dir: NDArray[np.float64]
    outline: NDArray[np.float64]


def _across(
    axis: NDArray[np.float64], lat: NDArray[np.float64], e_s: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Unit directions across a pedicle axis: towards its lateral wall (``lat``'s side) and
    cranially (``e_s``'s side)."""
    w_dir = np.cross(e_s, axis)
    w_dir /= np.linalg.norm(w_dir)
    if w_dir @ lat < 0:
        w_dir = -w_dir
    h_dir = np.cross(axis, w_dir)
    if h_dir @ e_s < 0:
        h_dir = -h_dir
    return w_dir, h_dir


def _robust_line(t: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[float, float, int]:
    """``(slope, intercept, points kept)`` of a line through ``y(t)``, refitted once without the
    points off it by more than :data:`MIDLINE_OUTLIER_MM` (or twice the median residual)."""
    for _ in range(2):
        slope, icpt = np.polyfit(t, y, 1)
        res = np.abs(y - (icpt + slope * t))
        keep = res <= max(MIDLINE_OUTLIER_MM, 2.0 * float(np.median(res)))
        if keep.all() or keep.sum() < MIDLINE_MIN_POINTS:
            break
        t, y = t[keep], y[keep]
    return float(slope), float(icpt), int(t.size)


def _section(
    grid: VertebraGrid,
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
    img = grid.inside(pts)
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
        w_dir=w_dir,
        h_dir=h_dir,
        outline=outline,
    )


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


def _coronal_sections(grid: VertebraGrid, side: Side) -> list[_Section | None]:
    """Pass 1: the pedicle's section in each coronal grid plane (constant ``a``) from just inside
    the body back through the canal's depth.

    In each plane the candidates are the bone components on ``side`` whose medial edge lies
    within :data:`CANAL_CONTACT_MM` of the canal's lateral edge in that plane (the pedicle's medial
    wall is the canal's lateral wall).  The one overlapping the previous plane's choice is kept
    (tracking the same bar of bone), else the one nearest the height where the arch closes.
    """
    fr = grid.frame
    step = float(grid.spacing_mm[0])
    rot = fr.matrix.T * step
    if not np.allclose(grid.affine[:3, :3], rot, atol=1e-6):
        raise NotMeasurableError(
            f"{grid.level}: the vertebra's grid is not aligned with its frame"
        )
    lo = fr.to_local(grid.affine[:3, 3])
    ni, nj, nk = grid.bone.shape
    u = lo[0] + step * np.arange(ni)
    a = lo[1] + step * np.arange(nj)
    s = lo[2] + step * np.arange(nk)
    sgn = 1.0 if side == "right" else -1.0
    half = (sgn * u) > 0.0
    core = grid.canal_core
    ks = np.flatnonzero(core.any(axis=(0, 1)))
    s_close = float(s[ks].mean()) if ks.size else 0.0
    foot = core.any(axis=2)  # (u, a) footprint of the closed canal
    a_post = grid.body_posterior_a_mm
    depth = max(grid.canal_depth_mm, 8.0)
    js = [j for j in range(nj - 1, -1, -1) if a_post - PEDICLE_SEARCH_DEPTH * depth <= a[j] <= a_post + 1.5]
    out: list[_Section | None] = []
    prev: NDArray[np.bool_] | None = None
    e_u, e_s = np.asarray(fr.right), np.asarray(fr.superior)
    for j in js:
        row = foot[:, j] & half
        if not row.any():
            # Canal edge here: the nearest plane's footprint.
            near = np.flatnonzero((foot & half[:, None]).any(axis=0))
            if not near.size:
                out.append(None)
                prev = None
                continue
            row = foot[:, near[np.argmin(np.abs(near - j))]] & half
        edge_u = float(np.max(sgn * u[row]))
        img = grid.bone[:, j, :] & half[:, None]
        comp, n = ndimage.label(img)
        if n == 0:
            out.append(None)
            prev = None
            continue
        idx = np.arange(1, n + 1)
        med = ndimage.labeled_comprehension(
            sgn * u[:, None] * np.ones((1, nk)), comp, idx, np.min, float, np.inf
        )
        cand = [int(i) for i, m in zip(idx, med, strict=True) if m <= edge_u + CANAL_CONTACT_MM]
        if not cand:
            out.append(None)
            prev = None
            continue
        chosen = None
        if prev is not None:
            ov = [(int(np.sum((comp == c) & prev)), c) for c in cand]
            best = max(ov)
            if best[0] > 0:
                chosen = best[1]
        if chosen is None:
            sc = ndimage.mean(np.broadcast_to(s[None, :], img.shape), comp, cand)
            chosen = cand[int(np.argmin(np.abs(np.asarray(sc) - s_close)))]
        sec = comp == chosen
        prev = sec
        ii, kk = np.nonzero(sec)
        uu, ss = u[ii], s[kk]
        centre = fr.to_ras([uu.mean(), a[j], ss.mean()])
        edge = sec & ~ndimage.binary_erosion(sec)
        ei, ek = np.nonzero(edge)
        outline = fr.to_ras(np.stack([u[ei], np.full(len(ei), a[j]), s[ek]], axis=1))
        lat = sgn * e_u
        w_lo, w_hi = float(np.min(sgn * uu)), float(np.max(sgn * uu))
        out.append(_Section(
            centre=centre, width=w_hi - w_lo + step, height=float(ss.max() - ss.min() + step),
            w_dir=lat, h_dir=e_s, outline=outline,
        ))
    return out


def _perpendicular_sections(
    grid: VertebraGrid,
    point: NDArray[np.float64],
    axis: NDArray[np.float64],
    lat: NDArray[np.float64],
    e_s: NDArray[np.float64],
    a_lo: float,
    a_hi: float,
) -> list[_Section | None]:
    """Sections perpendicular to ``axis`` every 0.5 mm of local depth from ``a_lo`` to ``a_hi``."""
    fr = grid.frame
    w_dir, h_dir = _across(axis, lat, e_s)
    a_pt = fr.to_local(point)[1]
    da = max(float(axis @ np.asarray(fr.anterior)), 0.3)
    t_vals = np.arange(a_lo - a_pt, a_hi - a_pt + 0.01, 0.5) / da
    return [
        _section(grid, point + t * axis, w_dir, h_dir, 0.0, 0.0, half_w=16.0, half_h=16.0)
        for t in t_vals
    ]


def _wall_distances(
    grid: VertebraGrid, centres: NDArray, dirs: NDArray, steps: NDArray
) -> tuple[NDArray[np.float64], NDArray[np.float32]]:
    """Distance (mm) from each centre to the bone's surface along each direction.

    The label, interpolated linearly along the rays at ``steps`` (evenly spaced from 0), is
    sampled as ``val`` (n_centres, n_dirs, n_steps); the surface is where it crosses one half,
    to a sub-step, then refined on the CT by :func:`_half_max_walls`.  No crossing: ``inf``.
    """
    step = float(steps[1] - steps[0])
    pts = centres[:, None, None, :] + steps[None, None, :, None] * dirs[None, :, None, :]
    val = grid._sample(grid.bone.astype(np.float32), pts, order=1, cval=0.0)
    out = val < 0.5
    k = np.argmax(out, axis=2)
    found = out.any(axis=2) & (k > 0)
    kk = np.maximum(k, 1)
    v0 = np.take_along_axis(val, (kk - 1)[..., None], axis=2)[..., 0]
    v1 = np.take_along_axis(val, kk[..., None], axis=2)[..., 0]
    frac = np.clip((v0 - 0.5) / np.maximum(v0 - v1, 1e-6), 0.0, 1.0)
    dist = np.where(found, steps[kk - 1] + frac * step, np.inf)
    return _half_max_walls(grid, centres, dirs, dist), val


def _half_max_walls(
    grid: VertebraGrid,
    centres: NDArray[np.float64],
    dirs: NDArray[np.float64],
    dist_label: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Wall distances along rays refined on the CT: where the HU falls to half-way between the
    cortex's peak and the tissue beyond (the half-maximum edge), near the label's surface.

    A binary label at 0.5-2.5 mm voxels is a staircase: a pedicle tilted by a few degrees steps
    once every 6-30 mm, so the label alone cannot give its sagittal angle over a 5-10 mm stretch.
    The CT's partial-volume edge can.  Rays whose edge is not found keep the label's distance.
    """
    win = HALF_MAX_WINDOW_MM
    step = 0.5 * SECTION_RES_MM
    finite = np.isfinite(dist_label)
    if not finite.any():
        return dist_label
    offs = np.arange(-win, win + 1.0 + step / 2, step)  # around the label's surface
    base = np.where(finite, dist_label, 0.0)
    r = np.maximum(base[..., None] + offs, 0.0)  # (n_t, 4, n)
    pts = centres[:, None, None, :] + r[..., None] * dirs[None, :, None, :]
    hu = grid.hu_at(pts)
    in_win = np.abs(offs) <= win
    peak_i = np.argmax(np.where(in_win, hu, -np.inf), axis=-1)
    peak = np.take_along_axis(hu, peak_i[..., None], axis=-1)[..., 0]
    after = np.arange(len(offs)) > peak_i[..., None]
    low = np.min(np.where(after, hu, np.inf), axis=-1)
    thr = 0.5 * (peak + low)
    below = after & (hu < thr[..., None])
    j = np.argmax(below, axis=-1)
    ok = finite & below.any(axis=-1) & (peak - low >= HALF_MAX_MIN_CONTRAST_HU) & (j > 0)
    jj = np.maximum(j, 1)
    h0 = np.take_along_axis(hu, (jj - 1)[..., None], axis=-1)[..., 0]
    h1 = np.take_along_axis(hu, jj[..., None], axis=-1)[..., 0]
    frac = np.clip((h0 - thr) / np.maximum(h0 - h1, 1e-6), 0.0, 1.0)
    r0 = np.take_along_axis(r, (jj - 1)[..., None], axis=-1)[..., 0]
    r1 = np.take_along_axis(r, jj[..., None], axis=-1)[..., 0]
    return np.where(ok, r0 + frac * (r1 - r0), dist_label)


def _wall_midline(
    grid: VertebraGrid,
    point: NDArray[np.float64],
    axis: NDArray[np.float64],
    lat: NDArray[np.float64],
    e_s: NDArray[np.float64],
    a_lo: float,
    a_hi: float,
    width0: float,
    height0: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64], bool] | None:
    """One refit of the pedicle axis from the mid-points between its opposite walls.

    Returns the new point and axis, and whether the superior/inferior mid-points gave a slope
    (the sagittal angle) rather than only an offset.

    Every :data:`MIDLINE_STEP_MM` of local depth between ``a_lo`` and ``a_hi``, rays leave the
    current axis towards the lateral, medial, superior and inferior walls.  Where a pair of
    opposite walls is found no further apart than :data:`FREE_TUBE_FACTOR` times the pedicle's
    first width (or height) the section is "free" (not merged with the body, lamina, facets or
    transverse process) and the mid-point between the walls is a point of the pedicle's axis.
    The offsets of those mid-points from the current axis are fitted by straight lines along
    the axis (separately across and up), in the run of free sections around the isthmus.  The
    mid-points are unbiased by the pedicle's flaring into the body and the arch (it flares on
    both sides), unlike section centroids.
    """
    w_dir, h_dir = _across(axis, lat, e_s)
    fr = grid.frame
    a_pt = float(fr.to_local(point)[1])
    da = max(float(axis @ np.asarray(fr.anterior)), 0.3)
    t = np.arange(a_lo - a_pt, a_hi - a_pt + 1e-6, MIDLINE_STEP_MM) / da
    centres = point + t[:, None] * axis
    reach = FREE_TUBE_FACTOR * max(width0, height0) + 2.0
    step = 0.5 * SECTION_RES_MM
    steps = np.arange(0.0, reach + step, step)
    dirs = np.stack([w_dir, -w_dir, h_dir, -h_dir])
    dist, val = _wall_distances(grid, centres, dirs, steps)  # (n_t, 4)
    centre_in = (val[:, :, 0] >= 0.5).all(axis=1)
    w_sum, h_sum = dist[:, 0] + dist[:, 1], dist[:, 2] + dist[:, 3]
    near = centre_in & (np.abs(t) <= MIDLINE_NEAR_MM)
    if not near.any():
        return None
    w_min = float(np.min(np.where(near, w_sum, np.inf)))
    h_min = float(np.min(np.where(near, h_sum, np.inf)))
    ok_w = centre_in & (w_sum <= FREE_TUBE_FACTOR * min(w_min, FREE_TUBE_FACTOR * width0))
    ok_h = centre_in & (h_sum <= FREE_TUBE_FACTOR * min(h_min, FREE_TUBE_FACTOR * height0))
    with np.errstate(invalid="ignore"):  # no wall on either side: inf - inf, never fitted
        off_w = 0.5 * (dist[:, 0] - dist[:, 1])
        off_h = 0.5 * (dist[:, 2] - dist[:, 3])

    def fit(
        ok: NDArray[np.bool_], off: NDArray[np.float64]
    ) -> tuple[float, float, bool] | None:
        idx = np.flatnonzero(ok)
        if idx.size == 0:
            return None
        # The run of free sections nearest the isthmus (t = 0).
        runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
        run = min(runs, key=lambda r: float(np.min(np.abs(t[r]))))
        tt, oo = t[run], off[run]
        if tt.size < MIDLINE_MIN_POINTS or np.ptp(tt) < MIDLINE_MIN_SPAN_MM:
            return float(np.median(oo)), 0.0, False
        slope, icpt, _n = _robust_line(tt, oo)
        return icpt, slope, True

    fw, fh = fit(ok_w, off_w), fit(ok_h, off_h)
    if fw is None and fh is None:
        return None
    new_p = np.array(point, float)
    new_d = np.array(axis, float)
    if fw is not None:
        new_p = new_p + fw[0] * w_dir
        new_d = new_d + fw[1] * w_dir
    if fh is not None:
        new_p = new_p + fh[0] * h_dir
        new_d = new_d + fh[1] * h_dir
    new_d /= np.linalg.norm(new_d)
    if new_d @ np.asarray(fr.anterior) < 0:
        new_d = -new_d
    return new_p, new_d, fh is not None and fh[2]


def _axial_midline(
    grid: VertebraGrid,
    side: Side,
    u0: float,
    a0: float,
    s0: float,
    slope0: float,
    width0: float,
) -> tuple[float, float, int] | None:
    """Transverse axis of a pedicle in the vertebra's axial planes: ``(u at a0, du/da, rows)``.

    In axial planes (constant local ``s``) within :data:`AXIAL_HALF_HEIGHT_MM` of ``s0``, each
    row of constant depth ``a`` (every :data:`MIDLINE_STEP_MM` over
    :data:`AXIAL_HALF_LENGTH_MM` around the isthmus' ``a0``) is walked from the current mid-line
    along the frame's right axis to the pedicle's medial and lateral walls (label, refined to the
    CT's half-maximum edge).  The mid-points of a bar's two walls along any fixed direction lie
    on its mid-line, so the mid-points of the rows where the pedicle is free (walls no further
    apart than :data:`FREE_TUBE_FACTOR` times the narrowest row near the isthmus: not yet merged
    with the body, lamina, facets or transverse process) are fitted by a line ``u(a)``; three
    refits, then the median over the planes.  Only the right axis' direction is sampled across
    a wall, which lies nearly in a CT slice: the 2.5 mm slice spacing does not enter the
    transverse angle.  ``None`` when no plane gives a fit.
    """
    fr = grid.frame
    sgn = 1.0 if side == "right" else -1.0
    e_u = np.asarray(fr.right)
    lat = sgn * e_u
    a_rows = a0 + np.arange(-AXIAL_HALF_LENGTH_MM, AXIAL_HALF_LENGTH_MM + 1e-6, MIDLINE_STEP_MM)
    da = a_rows - a0
    n_h = round(AXIAL_HALF_HEIGHT_MM / AXIAL_HEIGHT_STEP_MM)
    s_levels = s0 + AXIAL_HEIGHT_STEP_MM * np.arange(-n_h, n_h + 1)
    step = 0.5 * SECTION_RES_MM
    reach = FREE_TUBE_FACTOR * width0 * 1.5 + 4.0
    steps = np.arange(0.0, reach + step, step)
    dirs = np.stack([lat, -lat])
    max_slope = math.tan(math.radians(AXIAL_MAX_ANGLE_DEG))
    fits: list[tuple[float, float, int]] = []
    for s_k in s_levels:
        u_c, k_c = u0, slope0
        res: tuple[float, float, int] | None = None
        for _ in range(AXIS_ITERATIONS):
            u_row = u_c + k_c * da
            centres = fr.to_ras(np.stack([u_row, a_rows, np.full_like(a_rows, s_k)], axis=1))
            dist, val = _wall_distances(grid, centres, dirs, steps)
            centre_in = val[:, 0, 0] >= 0.5
            w = dist[:, 0] + dist[:, 1]
            near = centre_in & np.isfinite(w) & (np.abs(da) <= MIDLINE_NEAR_MM)
            if not near.any():
                res = None
                break
            w_min = float(np.min(np.where(near, w, np.inf)))
            ok = centre_in & np.isfinite(w) & (w <= FREE_TUBE_FACTOR * w_min)
            idx = np.flatnonzero(ok)
            if idx.size == 0:
                res = None
                break
            runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
            run = min(runs, key=lambda r: float(np.min(np.abs(da[r]))))
            tt = da[run]
            oo = 0.5 * (dist[run, 0] - dist[run, 1]) * sgn  # offset along +u
            if tt.size < MIDLINE_MIN_POINTS or np.ptp(tt) < MIDLINE_MIN_SPAN_MM:
                res = None
                break
            kf, cf, n_kept = _robust_line(tt, oo)
            u_c, k_c = u_c + cf, k_c + kf
            if abs(k_c) > max_slope:
                res = None
                break
            res = (u_c, k_c, n_kept)
        if res is not None:
            fits.append(res)
    if not fits:
        return None
    arr = np.array(fits)
    return float(np.median(arr[:, 0])), float(np.median(arr[:, 1])), int(arr[:, 2].sum())


def _one_pedicle(grid: VertebraGrid, side: Side) -> PedicleAnatomy:
    fr = grid.frame
    sgn = 1.0 if side == "right" else -1.0
    e_u, e_s = np.asarray(fr.right), np.asarray(fr.superior)
    lat = sgn * e_u
    sections = _coronal_sections(grid, side)
    span = _span(sections)
    if len(span) < 2:
        raise NotMeasurableError(
            f"{grid.level}: the {side} pedicle could not be traced between the body and the arch"
        )
    # First axis: through the pass-1 centroids in the axial plane (convergence only).
    centres = np.array([sections[i].centre for i in span])  # type: ignore[union-attr]
    c_loc = fr.to_local(centres)
    point = centres.mean(axis=0)
    if np.ptp(c_loc[:, 1]) >= 2.0:
        slope = float(np.polyfit(c_loc[:, 1], c_loc[:, 0], 1)[0])
    else:
        slope = 0.0
    slope = float(np.clip(slope, -math.tan(math.radians(40)), math.tan(math.radians(40))))
    axis = fr.direction_to_ras([slope, 1.0, 0.0])
    axis /= np.linalg.norm(axis)
    # Refine: the axis is the mid-line between opposite walls (medial/lateral, superior/
    # inferior) measured by rays across the current axis along the free stretch of the pedicle.
    a_lo = float(min(c_loc[:, 1])) - AXIS_SEGMENT_PAD_MM
    a_hi = float(max(c_loc[:, 1])) + AXIS_SEGMENT_PAD_MM
    i0 = span[int(np.argmin([sections[i].width for i in span]))]  # type: ignore[union-attr]
    w0 = float(sections[i0].width)  # type: ignore[union-attr]
    h0 = float(sections[i0].height)  # type: ignore[union-attr]
    point = point + ((sections[i0].centre - point) @ lat) * lat  # type: ignore[union-attr]
    # 3-D refit (pass 2) from the pass-1 axis.
    sag_ok = False
    w_ok = False
    for _ in range(AXIS_ITERATIONS):
        new = _wall_midline(grid, point, axis, lat, e_s, a_lo, a_hi, w0, h0)
        if new is None:
            break
        p2, ax2, h_fitted = new
        if math.degrees(math.acos(min(1.0, abs(float(ax2 @ axis))))) > PASS2_MAX_TURN_DEG:
            break
        point, axis, sag_ok = p2, ax2, h_fitted
        w_ok = True
    d_loc = fr.direction_to_local(axis)
    if sag_ok:
        tan_sag = float(d_loc[2] / max(d_loc[1], 1e-6))
        sag_source = "superior/inferior half-maximum walls along the axis (3-D refit)"
    else:
        tan_sag = 0.0
        sag_source = ("fallback: parallel to the endplates (the body's axial plane); the "
                      "superior/inferior walls gave no free stretch long enough for a slope")
    if w_ok:
        tr_source = "medial/lateral half-maximum walls along the axis (3-D refit)"
        ax2d = None
    else:
        # The 3-D refit was refused (e.g. thick slices): the transverse axis from the axial
        # planes, where only in-plane pixels cross the medial and lateral walls.
        i_loc = fr.to_local(sections[i0].centre)  # type: ignore[union-attr]
        ax2d = _axial_midline(grid, side, float(i_loc[0]), float(i_loc[1]), float(i_loc[2]),
                              slope, w0)
        if ax2d is not None:
            u_mid, k_mid, n_rows = ax2d
            axis = fr.direction_to_ras([k_mid, 1.0, tan_sag])
            axis /= np.linalg.norm(axis)
            p_loc = fr.to_local(point)
            p_loc[0] = u_mid + k_mid * (p_loc[1] - i_loc[1])
            point = fr.to_ras(p_loc)
            tr_source = (f"axial planes (3-D refit refused): medial/lateral half-maximum walls, "
                         f"{n_rows} rows at "
                         f"{2 * round(AXIAL_HALF_HEIGHT_MM / AXIAL_HEIGHT_STEP_MM) + 1} heights")
        else:
            tr_source = ("fallback: line through the coronal sections' centroids (3-D refit "
                         "refused, no free stretch of pedicle in the axial planes)")
            axis = fr.direction_to_ras([d_loc[0] / max(d_loc[1], 1e-6), 1.0, tan_sag])
            axis /= np.linalg.norm(axis)
    # --- isthmus: narrowest section perpendicular to the axis ------------------------------------
    w_dir, h_dir = _across(axis, lat, e_s)
    secs2 = _perpendicular_sections(grid, point, axis, lat, e_s, a_lo, a_hi)
    span2 = _span(secs2)
    best_secs, best_span = (secs2, span2) if len(span2) >= 1 else (sections, span)
    widths = [best_secs[i].width for i in best_span]  # type: ignore[union-attr]
    ist = best_secs[best_span[int(np.argmin(widths))]]
    assert ist is not None
    if best_secs is sections:
        w_dir, h_dir = ist.w_dir, ist.h_dir
    # Isthmus centre: the section's box centre moved onto the axis' plane.
    box_c = ist.centre
    centre = point + ((box_c - point) @ axis) * axis
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
        transverse_source=tr_source,
        sagittal_source=sag_source,
    )


def find_pedicles(grid: VertebraGrid) -> dict[Side, PedicleAnatomy]:
    """Both pedicles of a vertebra (``{'left': ..., 'right': ...}``).

    Raises
    ------
    NotMeasurableError
        A pedicle cannot be traced from the canal's edge.
    """
    return {side: _one_pedicle(grid, side) for side in ("left", "right")}  # type: ignore[misc]


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
