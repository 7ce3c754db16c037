"""A vertebra as the planner sees it: local frame, body, spinal canal and distance fields.

Everything here is found from the vertebra's **label** (and the CT grid) only; a phantom's ground
truth is never read.  Steps (see ``docs/references/plan.md``):

1. First guess of the superior axis: the spine's tangent from the neighbouring levels' label
   centroids (as in :func:`kypho.fluoro.level_axes`, without truth).
2. The level's label is resampled (linear interpolation, threshold one half) on an isotropic grid
   of :data:`GRID_MIN_MM`-:data:`GRID_MAX_MM` mm aligned with the current frame, so anisotropic
   slices (e.g. 0.7 x 0.7 x 2.5 mm) and a tilted spine are analysed in the vertebra's own axes.
   The holes of its axial (constant-``s``) slices, where the arch is closed, are the spinal canal.
3. Frame refinement, :data:`FRAME_ITERATIONS` times: the superior axis becomes the body's own
   axis, the direction most nearly perpendicular to the normals of the body's side walls (in front
   of the canal; endplates left out) for its coronal tilt, and the body's posterior wall near
   the midline (kept by a wedge fracture) for its sagittal tilt; the anterior
   axis runs from the canal's centroid to the body's centroid; the origin is the canal's centroid
   (``u = 0`` is the midline).
4. The canal is extruded along the superior axis over the whole vertebra (its footprint in the
   axial plane), so the distance to it is defined above and below the pedicles too.
5. Signed distance to the bone surface (positive inside) and distance to the canal, in mm, by
   Euclidean distance transforms on the (small, cropped) resampled grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from kypho.core.case import Case
from kypho.core.levels import LEVEL_IDS, LEVELS, parse_level
from kypho.errors import EmptyLabelMapError, InvalidParameterError, NotMeasurableError

__all__ = ["VertebraFrame", "VertebraModel", "build_vertebra_model"]

#: Margin (mm) around the level's label kept in the resampled grid.  **Model choice**: room for
#: the distance fields near the surface; beyond the grid a point counts as far outside the bone.
CROP_MARGIN_MM = 6.0
#: Spacing of the resampled grid: the CT's finest spacing clipped to this range (mm).  **Model
#: choice**: 0.6 mm keeps a 0.5 mm scan's pedicle walls within a voxel while keeping the
#: distance transforms small; 1 mm is the coarsest grid on which a 5-10 mm pedicle is measured.
GRID_MIN_MM = 0.6
GRID_MAX_MM = 1.0
#: Frame refinement passes (body axis and canal re-found on a grid aligned with the last frame).
FRAME_ITERATIONS = 2
#: Body-wall normals: Gaussian smoothing of the resampled label (mm), the gap in front of the
#: canal's anterior edge where the body's walls start (mm), the largest |cos| between a normal
#: and the axis still counted as a wall (larger: endplate), and the largest correction (deg) of
#: the neighbours' tangent accepted.  **Model choices**.
WALL_SMOOTH_MM = 1.0
WALL_FRONT_GAP_MM = 2.0
WALL_NORMAL_MAX_COS = 0.5
MAX_AXIS_CORRECTION_DEG = 30.0
#: Posterior wall (sagittal tilt of the body's axis): half-width (mm) of the band of columns
#: around the midline, how far (mm) from the canal's front edge the wall may lie, how much bone
#: (mm) must follow it (the body, not a fragment), the rounded corners left out at each end (mm)
#: and the least height (mm) of wall for a fit.  **Model choices**.
POST_WALL_HALF_BAND_MM = 3.0
POST_WALL_NEAR_CANAL_MM = 6.0
POST_WALL_BODY_AHEAD_MM = 5.0
POST_WALL_END_MM = 2.0
POST_WALL_MIN_SPAN_MM = 10.0
#: Smallest canal cross-section accepted as the spinal canal (mm^2).  **Model choice**: the canal
#: is 200-400 mm^2 at T10-L5 (Panjabi 1991/1992 widths x depths); anything below 40 mm^2 is a
#: segmentation hole, not the canal.
MIN_CANAL_AREA_MM2 = 40.0


@dataclass(frozen=True)
class VertebraFrame:
    """Orthonormal local frame of a vertebra: ``u`` right, ``a`` anterior, ``s`` superior (mm).

    ``origin_ras_mm`` is the centroid of the spinal canal, so ``u = 0`` is the mid-sagittal plane.
    """

    origin_ras_mm: tuple[float, float, float]
    right: tuple[float, float, float]
    anterior: tuple[float, float, float]
    superior: tuple[float, float, float]

    @property
    def rotation(self) -> NDArray[np.float64]:
        """3x3 matrix whose columns are the right, anterior and superior axes (RAS)."""
        return np.stack([self.right, self.anterior, self.superior], axis=1)

    def to_local(self, p_ras_mm: ArrayLike) -> NDArray[np.float64]:
        """(u, a, s) mm of RAS points ``(..., 3)``."""
        return (np.asarray(p_ras_mm, float) - np.asarray(self.origin_ras_mm)) @ self.rotation

    def to_world(self, p_local_mm: ArrayLike) -> NDArray[np.float64]:
        """RAS mm of local points ``(..., 3)``."""
        return np.asarray(p_local_mm, float) @ self.rotation.T + np.asarray(self.origin_ras_mm)

    def direction_to_local(self, d_ras: ArrayLike) -> NDArray[np.float64]:
        return np.asarray(d_ras, float) @ self.rotation

    def direction_to_world(self, d_local: ArrayLike) -> NDArray[np.float64]:
        return np.asarray(d_local, float) @ self.rotation.T


@dataclass(frozen=True, eq=False)
class VertebraModel:
    """One level cropped from a case, with its frame, masks and distance fields.

    Attributes
    ----------
    level : str
    frame : VertebraFrame
    affine : (4, 4) ndarray
        Voxel to RAS mm of the crop.
    bone : (I, J, K) bool
        The level's label in the crop.
    canal : (I, J, K) bool
        Spinal canal (holes of the closed arch, extruded cranio-caudally over the vertebra).
    bone_sdf_mm : (I, J, K) float32
        Signed distance to the bone surface, positive inside the bone.
    canal_dist_mm : (I, J, K) float32
        Distance to the canal (0 inside it).
    hu : (I, J, K) float32
        The CT in the crop.
    body_posterior_a_mm, body_anterior_a_mm : float
        Local ``a`` of the posterior and anterior body walls on the midline at canal height.
    canal_width_mm, canal_depth_mm : float
        Transverse and antero-posterior extent of the canal's largest closed cross-section.
    spacing_mm : (3,) float
        Spacing of the resampled grid (isotropic).
    canal_core : (I, J, K) bool or None
        The canal where the arch is closed (before the extrusion).
    """

    level: str
    frame: VertebraFrame
    affine: NDArray[np.float64]
    bone: NDArray[np.bool_]
    canal: NDArray[np.bool_]
    bone_sdf_mm: NDArray[np.float32]
    canal_dist_mm: NDArray[np.float32]
    hu: NDArray[np.float32]
    body_posterior_a_mm: float
    body_anterior_a_mm: float
    canal_width_mm: float
    canal_depth_mm: float
    spacing_mm: tuple[float, float, float]
    canal_core: NDArray[np.bool_] | None = None

    # ------------------------------------------------------------------ sampling
    def ras_to_ijk(self, p_ras_mm: ArrayLike) -> NDArray[np.float64]:
        inv = np.linalg.inv(self.affine)
        return np.asarray(p_ras_mm, float) @ inv[:3, :3].T + inv[:3, 3]

    def _sample(self, arr: NDArray, p_ras_mm: ArrayLike, *, order: int, cval: float) -> NDArray:
        p = np.asarray(p_ras_mm, float)
        ijk = self.ras_to_ijk(p.reshape(-1, 3)).T
        out = ndimage.map_coordinates(arr, ijk, order=order, mode="constant", cval=cval)
        return out.reshape(p.shape[:-1])

    def sdf(self, p_ras_mm: ArrayLike) -> NDArray[np.float64]:
        """Signed distance to the bone surface (mm, + inside); far outside beyond the crop."""
        return self._sample(self.bone_sdf_mm, p_ras_mm, order=1, cval=-50.0)

    def canal_distance(self, p_ras_mm: ArrayLike) -> NDArray[np.float64]:
        """Distance to the spinal canal (mm); 50 beyond the crop."""
        return self._sample(self.canal_dist_mm, p_ras_mm, order=1, cval=50.0)

    def inside(self, p_ras_mm: ArrayLike) -> NDArray[np.bool_]:
        """Whether points lie in the level's bone (label interpolated, threshold 0.5)."""
        return self._sample(self.bone.astype(np.float32), p_ras_mm, order=1, cval=0.0) >= 0.5

    def in_canal(self, p_ras_mm: ArrayLike) -> NDArray[np.bool_]:
        return self._sample(self.canal.astype(np.float32), p_ras_mm, order=1, cval=0.0) >= 0.5

    def hu_at(self, p_ras_mm: ArrayLike) -> NDArray[np.float64]:
        return self._sample(self.hu, p_ras_mm, order=1, cval=-1000.0)

    def march(
        self, start_ras_mm: ArrayLike, direction_ras: ArrayLike, *, max_mm: float = 80.0,
        step_mm: float = 0.25, want_inside: bool,
    ) -> float | None:
        """Distance along a ray to the first point whose inside-ness equals ``want_inside``."""
        d = np.asarray(direction_ras, float)
        d = d / np.linalg.norm(d)
        t = np.arange(0.0, max_mm + step_mm, step_mm)
        pts = np.asarray(start_ras_mm, float) + t[:, None] * d
        hit = self.inside(pts) == want_inside
        idx = np.flatnonzero(hit)
        return float(t[idx[0]]) if idx.size else None

    @property
    def body_depth_mm(self) -> float:
        return self.body_anterior_a_mm - self.body_posterior_a_mm


def _neighbour_superior(case: Case, level: str) -> NDArray[np.float64]:
    """Spine tangent from the neighbouring levels' label centroids (first guess of the body axis)."""
    lab = case.labels
    assert lab is not None
    affine = np.asarray(lab.affine, float)
    i = LEVELS.index(level)
    names = [LEVELS[j] if 0 <= j < len(LEVELS) else None for j in (i - 1, i, i + 1)]
    objs = ndimage.find_objects(np.asarray(lab.data))
    cents: list[NDArray[np.float64] | None] = []
    for name in names:
        lid = LEVEL_IDS[name] if name is not None else 0
        box = objs[lid - 1] if name is not None and lid - 1 < len(objs) else None
        if box is None:
            cents.append(None)
            continue
        ijk = np.argwhere(np.asarray(lab.data[box]) == lid) + [s.start for s in box]
        cents.append(ijk.mean(axis=0) @ affine[:3, :3].T + affine[:3, 3])
    above, here, below = cents
    if above is not None and below is not None:
        sup = above - below
    elif above is not None and here is not None:
        sup = above - here
    elif below is not None and here is not None:
        sup = here - below
    else:
        sup = np.array([0.0, 0.0, 1.0])
    if np.linalg.norm(sup) < 1e-6 or sup[2] <= 0.3 * np.linalg.norm(sup):
        sup = np.array([0.0, 0.0, 1.0])
    return sup / np.linalg.norm(sup)


def _make_frame(origin: NDArray, anterior: NDArray, superior: NDArray) -> VertebraFrame:
    sup = superior / np.linalg.norm(superior)
    ant = anterior - (anterior @ sup) * sup
    if np.linalg.norm(ant) < 1e-6:
        ant = np.array([0.0, 1.0, 0.0]) - sup[1] * sup
    ant = ant / np.linalg.norm(ant)
    right = np.cross(ant, sup)

    def t(v: NDArray) -> tuple[float, float, float]:
        return (float(v[0]), float(v[1]), float(v[2]))

    return VertebraFrame(t(origin), t(right), t(ant), t(sup))


@dataclass
class _Grid:
    """A box of the vertebra's local frame sampled every ``step`` mm (axes u, a, s)."""

    frame: VertebraFrame
    lo_local: NDArray[np.float64]
    shape: tuple[int, int, int]
    step: float

    @property
    def affine(self) -> NDArray[np.float64]:
        rot = self.frame.rotation
        aff = np.eye(4)
        aff[:3, :3] = rot * self.step
        aff[:3, 3] = np.asarray(self.frame.origin_ras_mm) + rot @ self.lo_local
        return aff

    def local_of(self, ijk: NDArray) -> NDArray[np.float64]:
        return self.lo_local + np.asarray(ijk, float) * self.step

    def sample(self, data: NDArray, affine_src: NDArray, *, order: int, cval: float) -> NDArray:
        """``data`` (voxel grid ``affine_src``) resampled on this grid."""
        m = np.linalg.inv(affine_src) @ self.affine
        return ndimage.affine_transform(
            data, m[:3, :3], offset=m[:3, 3], output_shape=self.shape, order=order,
            mode="constant", cval=cval, output=np.float32,
        )


def _grid_around(frame: VertebraFrame, pts_ras: NDArray, step: float, margin: float) -> _Grid:
    loc = frame.to_local(pts_ras)
    lo = loc.min(axis=0) - margin
    hi = loc.max(axis=0) + margin
    shape = tuple(int(np.ceil((h - lo_) / step)) + 1 for lo_, h in zip(lo, hi, strict=True))
    return _Grid(frame, lo, shape, step)  # type: ignore[arg-type]


def _canal_core(bone: NDArray[np.bool_], step: float, level: str) -> NDArray[np.bool_]:
    """Largest hole of the axial (constant-s) slices of ``bone``: the spinal canal where the arch
    is closed."""
    holes = np.zeros_like(bone)
    for k in range(bone.shape[2]):
        sl = bone[:, :, k]
        if sl.any():
            holes[:, :, k] = ndimage.binary_fill_holes(sl) & ~sl
    comp, n = ndimage.label(holes)
    if n == 0:
        raise NotMeasurableError(
            f"{level}: the label's posterior arch never closes around the spinal canal, so the "
            "pedicles cannot be found (is the label a whole vertebra, arch included?)"
        )
    sizes = ndimage.sum_labels(holes, comp, index=np.arange(1, n + 1))
    core = comp == (1 + int(np.argmax(sizes)))
    max_area = float(core.sum(axis=(0, 1)).max()) * step * step
    if max_area < MIN_CANAL_AREA_MM2:
        raise NotMeasurableError(
            f"{level}: the largest hole in the arch is {max_area:.0f} mm^2, too small for a spinal "
            f"canal (>= {MIN_CANAL_AREA_MM2:g} mm^2); the pedicles cannot be found"
        )
    return core


def _body_axis_from_walls(
    bone: NDArray[np.bool_], grid: _Grid, a_front: float
) -> NDArray[np.float64] | None:
    """Local unit vector of the body's cranio-caudal axis from the normals of its side walls.

    The walls of the body (anterior, lateral and posterior, in front of the canal) run along the
    body's axis, so the axis is the direction most nearly perpendicular to their normals: the
    eigenvector of the smallest eigenvalue of the normals' scatter matrix.  Endplate normals
    (within :data:`WALL_NORMAL_MAX_COS` of the axis) are left out, iterating from the grid's s.
    """
    sm = ndimage.gaussian_filter(bone.astype(np.float32), WALL_SMOOTH_MM / grid.step)
    gi, ga, gs = np.gradient(sm)
    surf = (sm > 0.2) & (sm < 0.8)
    idx = np.argwhere(surf)
    a_loc = grid.local_of(idx)[:, 1]
    idx = idx[a_loc > a_front + WALL_FRONT_GAP_MM]
    if len(idx) < 50:
        return None
    n = -np.stack([g[tuple(idx.T)] for g in (gi, ga, gs)], axis=1)
    nn = np.linalg.norm(n, axis=1)
    keep = nn > 1e-6
    n = n[keep] / nn[keep, None]
    s = np.array([0.0, 0.0, 1.0])
    for _ in range(4):
        sel = np.abs(n @ s) < WALL_NORMAL_MAX_COS
        if sel.sum() < 50:
            return None
        m = n[sel].T @ n[sel]
        _, vec = np.linalg.eigh(m)
        s_new = vec[:, 0] * (1.0 if vec[2, 0] >= 0 else -1.0)
        if np.allclose(s_new, s, atol=1e-4):
            break
        s = s_new
    # Accept only a plausible correction of the first guess (the grid's s).
    if s[2] < math.cos(math.radians(MAX_AXIS_CORRECTION_DEG)):
        return None
    return s


def _posterior_wall_slope(
    bone: NDArray[np.bool_], grid: _Grid, canal_c: NDArray, a_front: float,
    hu: NDArray[np.float32], hu_affine: NDArray,
) -> float | None:
    """Slope ``da/ds`` of the body's posterior wall near the midline (local axes of ``grid``).

    In each axial row of the grid, walking anterior from the canal's centre, the first bone of
    the label in the columns within :data:`POST_WALL_HALF_BAND_MM` of the midline is the
    posterior wall; its position is refined to the CT's half-maximum edge (between the canal's
    HU and the cortex's peak), and a straight line ``a(s)`` is fitted over the wall's height
    less :data:`POST_WALL_END_MM` at each end (the rounded corners).  ``None`` when fewer than
    :data:`POST_WALL_MIN_SPAN_MM` of wall are found.
    """
    step = grid.step
    ni, nj, nk = bone.shape
    u = grid.lo_local[0] + step * np.arange(ni)
    a = grid.lo_local[1] + step * np.arange(nj)
    s = grid.lo_local[2] + step * np.arange(nk)
    cols = np.flatnonzero(np.abs(u - canal_c[0]) <= POST_WALL_HALF_BAND_MM)
    j0 = int(np.clip(np.searchsorted(a, canal_c[1]), 0, nj - 1))
    sub = bone[cols, j0:, :]  # (n_cols, n_a, nk)
    has = sub.any(axis=1)
    first = np.argmax(sub, axis=1)
    a_wall = np.where(has, a[j0 + first], np.nan)
    # The body: the wall is near the canal's front edge and bone continues in front of it.
    ahead = round(POST_WALL_BODY_AHEAD_MM / step)
    idx_ahead = np.clip(j0 + first + ahead, 0, nj - 1)
    body_ok = bone[cols[:, None], idx_ahead, np.arange(nk)[None, :]]
    a_wall = np.where(body_ok & (np.abs(a_wall - a_front) <= POST_WALL_NEAR_CANAL_MM), a_wall, np.nan)
    # Half-maximum edge on the CT along +a around the label's wall.
    offs = np.arange(-3.0, 3.0 + 1e-6, 0.125)
    ok = np.isfinite(a_wall)
    if ok.sum() < 4:
        return None
    ci, ck = np.nonzero(ok)
    aw = a_wall[ci, ck]
    loc = np.stack([u[cols[ci]], aw, s[ck]], axis=1)
    prof_loc = loc[:, None, :] + offs[None, :, None] * np.array([0.0, 1.0, 0.0])
    prof_ras = grid.frame.to_world(prof_loc)
    inv = np.linalg.inv(hu_affine)
    ijk = prof_ras @ inv[:3, :3].T + inv[:3, 3]
    prof = ndimage.map_coordinates(
        hu, ijk.reshape(-1, 3).T, order=1, mode="nearest"
    ).reshape(ijk.shape[:2])
    pk = np.argmax(np.where(offs >= -1.0, prof, -np.inf), axis=1)
    peak = prof[np.arange(len(pk)), pk]
    before = np.arange(len(offs))[None, :] < pk[:, None]
    low = np.min(np.where(before, prof, np.inf), axis=1)
    thr = 0.5 * (peak + low)
    above = before & (prof >= thr[:, None])
    # Last crossing before the peak: first index from which the profile stays above thr.
    jx = np.argmax(above, axis=1)
    good = above.any(axis=1) & (jx > 0) & (peak - low >= 150.0)
    jj = np.maximum(jx, 1)
    p0, p1 = prof[np.arange(len(jj)), jj - 1], prof[np.arange(len(jj)), jj]
    frac = np.clip((thr - p0) / np.maximum(p1 - p0, 1e-6), 0.0, 1.0)
    edge = aw + offs[jj - 1] + frac * (offs[1] - offs[0])
    aw = np.where(good, edge, aw)
    # One wall position per row (median over the midline columns).
    rows = np.unique(ck)
    a_row = np.array([np.median(aw[ck == k]) for k in rows])
    s_row = s[rows]
    inner = (s_row >= s_row.min() + POST_WALL_END_MM) & (s_row <= s_row.max() - POST_WALL_END_MM)
    s_row, a_row = s_row[inner], a_row[inner]
    if len(s_row) < 6 or np.ptp(s_row) < POST_WALL_MIN_SPAN_MM:
        return None
    for _ in range(2):
        slope, icpt = np.polyfit(s_row, a_row, 1)
        res = np.abs(a_row - (icpt + slope * s_row))
        keep = res <= max(1.0, 2.0 * float(np.median(res)))
        if keep.all() or keep.sum() < 6:
            break
        s_row, a_row = s_row[keep], a_row[keep]
    if abs(slope) > math.tan(math.radians(MAX_AXIS_CORRECTION_DEG)):
        return None
    return float(slope)


def _analyse(
    mask: NDArray[np.bool_], affine: NDArray, pts_ras: NDArray, frame: VertebraFrame,
    step: float, level: str, *, refine: bool, hu: NDArray[np.float32] | None = None,
) -> tuple[_Grid, NDArray[np.bool_], NDArray[np.bool_], VertebraFrame]:
    """Resample the label on a grid of ``frame``; canal; a refined frame (canal-centred, anterior
    towards the body's centroid, superior along the body's walls when ``refine``)."""
    grid = _grid_around(frame, pts_ras, step, CROP_MARGIN_MM)
    bone = grid.sample(mask.astype(np.float32), affine, order=1, cval=0.0) >= 0.5
    core = _canal_core(bone, step, level)
    cidx = np.argwhere(core)
    canal_c = grid.local_of(cidx.mean(axis=0))
    a_front = float(grid.local_of(cidx)[:, 1].max())
    bidx = np.argwhere(bone)
    bloc = grid.local_of(bidx)
    body = bloc[bloc[:, 1] > a_front + 1.0]
    rot = frame.rotation
    s_local = np.array([0.0, 0.0, 1.0])
    if refine:
        s_new = _body_axis_from_walls(bone, grid, a_front)
        if s_new is not None:
            s_local = s_new
        # Sagittal tilt from the posterior wall (kept by wedge fractures), coronal tilt from the
        # side walls (left-right symmetric, so a wedge does not bias it).
        slope = (
            _posterior_wall_slope(bone, grid, canal_c, a_front, hu, affine)
            if hu is not None else None
        )
        if slope is not None:
            s_local = np.array([s_local[0] / s_local[2], slope, 1.0])
            s_local /= np.linalg.norm(s_local)
    ant_local = (body.mean(axis=0) - canal_c) if len(body) else np.array([0.0, 1.0, 0.0])
    origin = frame.to_world(canal_c)
    new = _make_frame(origin, rot @ ant_local, rot @ s_local)
    return grid, bone, core, new


def build_vertebra_model(case: Case, level: str) -> VertebraModel:
    """Crop ``level`` from ``case``, resample it in its own frame and find its canal, body walls
    and distance fields.

    Raises
    ------
    EmptyLabelMapError
        The case has no labels.
    InvalidParameterError
        The level is not labelled.
    NotMeasurableError
        The level touches the scan's edge, or its arch never closes around a canal.
    """
    from kypho.io.summary import levels_at_edge

    level = parse_level(level)
    if case.labels is None:
        raise EmptyLabelMapError(
            f"case {case.name!r} has no vertebra labels: planning needs the level's label"
        )
    if level not in case.levels:
        raise InvalidParameterError(
            f"level {level} is not labelled in case {case.name!r} "
            f"(labelled: {', '.join(case.levels) or 'none'})"
        )
    if level in levels_at_edge(case.labels):
        raise NotMeasurableError(
            f"{level} is cut by the edge of the scan in case {case.name!r}: its pedicles and body "
            "may be incomplete, so no path is planned there"
        )
    lab = case.labels
    affine = np.asarray(lab.affine, float)
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    lid = LEVEL_IDS[level]
    box = ndimage.find_objects((np.asarray(lab.data) == lid).astype(np.uint8))[0]
    pad = np.ceil(2.0 * CROP_MARGIN_MM / spacing).astype(int)
    lo = np.maximum([b.start for b in box] - pad, 0)
    hi = np.minimum([b.stop for b in box] + pad, np.array(lab.shape))
    sl = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    mask = np.asarray(lab.data[sl]) == lid
    shift = np.eye(4)
    shift[:3, 3] = lo
    caff = affine @ shift
    idx = np.argwhere(mask)
    pts = idx @ caff[:3, :3].T + caff[:3, 3]
    step = float(np.clip(spacing.min(), GRID_MIN_MM, GRID_MAX_MM))

    # --- frame: neighbours' tangent first, then the body's own walls and the canal ---------------
    sup0 = _neighbour_superior(case, level)
    frame = _make_frame(pts.mean(axis=0), np.array([0.0, 1.0, 0.0]), sup0)
    hu_crop = np.asarray(case.volume.data[sl], dtype=np.float32)
    for _ in range(FRAME_ITERATIONS):
        _, _, _, frame = _analyse(mask, caff, pts, frame, step, level, refine=True, hu=hu_crop)
    grid, bone, canal_core, frame2 = _analyse(mask, caff, pts, frame, step, level, refine=False)
    # Same axes, origin moved to the canal's centroid on this grid.
    frame = VertebraFrame(frame2.origin_ras_mm, frame.right, frame.anterior, frame.superior)
    grid = _Grid(frame, grid.lo_local - _frame_shift(grid.frame, frame), grid.shape, grid.step)
    aff = grid.affine
    hu = grid.sample(hu_crop, caff, order=1, cval=-1000.0)

    # --- extrude the canal's footprint along the superior axis ---------------------------------
    foot = canal_core.any(axis=2)
    foot = ndimage.binary_closing(foot, iterations=2)
    foot = ndimage.binary_fill_holes(foot)
    ks = np.flatnonzero(bone.any(axis=(0, 1)))
    canal = np.zeros_like(bone)
    canal[:, :, ks.min(): ks.max() + 1] = foot[:, :, None]
    canal &= ~bone
    canal |= canal_core

    # --- distance fields -------------------------------------------------------------------------
    half = 0.5 * step
    d_in = ndimage.distance_transform_edt(bone, sampling=step)
    d_out = ndimage.distance_transform_edt(~bone, sampling=step)
    sdf = np.where(bone, d_in - half, -(d_out - half)).astype(np.float32)
    cdist = ndimage.distance_transform_edt(~canal, sampling=step).astype(np.float32)

    sp3 = (step, step, step)
    model = VertebraModel(
        level=level, frame=frame, affine=aff, bone=bone, canal=canal, bone_sdf_mm=sdf,
        canal_dist_mm=cdist, hu=hu, body_posterior_a_mm=0.0, body_anterior_a_mm=0.0,
        canal_width_mm=0.0, canal_depth_mm=0.0, spacing_mm=sp3, canal_core=canal_core,
    )
    # --- body walls on the midline at canal height ----------------------------------------------
    origin = np.asarray(frame.origin_ras_mm)
    ant = np.asarray(frame.anterior)
    t_post = model.march(origin, ant, want_inside=True)
    if t_post is None:
        raise NotMeasurableError(f"{level}: no vertebral body found in front of the spinal canal")
    start = origin + (t_post + 1.0) * ant
    t_out = model.march(start, ant, want_inside=False, max_mm=120.0)
    if t_out is None:
        raise NotMeasurableError(f"{level}: the vertebral body's anterior wall is outside the crop")
    a_post, a_ant = t_post, t_post + 1.0 + t_out
    # Canal extent: its largest closed cross-section in the local (u, a) plane.
    core_loc = grid.local_of(np.argwhere(canal_core))
    width = float(core_loc[:, 0].max() - core_loc[:, 0].min() + step)
    depth = float(core_loc[:, 1].max() - core_loc[:, 1].min() + step)
    return VertebraModel(
        level=level, frame=frame, affine=aff, bone=bone, canal=canal, bone_sdf_mm=sdf,
        canal_dist_mm=cdist, hu=hu, body_posterior_a_mm=float(a_post),
        body_anterior_a_mm=float(a_ant), canal_width_mm=width, canal_depth_mm=depth,
        spacing_mm=sp3, canal_core=canal_core,
    )


def _frame_shift(old: VertebraFrame, new: VertebraFrame) -> NDArray[np.float64]:
    """Local coordinates (in ``old``'s axes) of ``new``'s origin: frames sharing axes."""
    return old.to_local(new.origin_ras_mm)
