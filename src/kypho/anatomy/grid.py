"""A vertebra resampled in its own frame, with distance fields: what the trocar planner needs.

Everything here is found from the vertebra's **label** and the CT grid, in the frame measured
once by :mod:`kypho.anatomy` (a phantom's ground truth is never read).  Steps (see
``docs/references/plan.md``):

1. The level's label is resampled (linear interpolation, threshold one half) on an isotropic grid
   of :data:`GRID_MIN_MM`-:data:`GRID_MAX_MM` mm aligned with the vertebra's frame, so
   anisotropic slices (e.g. 0.7 x 0.7 x 2.5 mm) and a tilted spine are analysed in the
   vertebra's own axes.  The holes of its axial (constant-``w``) slices, where the arch is
   closed, are the spinal canal.
2. The canal is extruded along the superior axis over the whole vertebra (its footprint in the
   axial plane), so the distance to it is defined above and below the pedicles too.
3. Signed distance to the bone surface (positive inside) and distance to the canal, in mm, by
   Euclidean distance transforms on the (small, cropped) resampled grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from kypho.anatomy.frame import VertebraFrame
from kypho.core.case import Case
from kypho.core.levels import LEVEL_IDS
from kypho.errors import NotMeasurableError

__all__ = ["CROP_MARGIN_MM", "GRID_MAX_MM", "GRID_MIN_MM", "VertebraGrid", "build_vertebra_grid"]

#: Margin (mm) around the level's label kept in the resampled grid.  **Model choice**: room for
#: the distance fields near the surface; beyond the grid a point counts as far outside the bone.
CROP_MARGIN_MM = 6.0
#: Spacing of the resampled grid: the CT's finest spacing clipped to this range (mm).  **Model
#: choice**: 0.6 mm keeps a 0.5 mm scan's pedicle walls within a voxel while keeping the
#: distance transforms small; 1 mm is the coarsest grid on which a 5-10 mm pedicle is measured.
GRID_MIN_MM = 0.6
GRID_MAX_MM = 1.0
#: Smallest canal cross-section accepted as the spinal canal (mm^2).  **Model choice**: the canal
#: is 200-400 mm^2 at T10-L5 (Panjabi 1991/1992 widths x depths); anything below 40 mm^2 is a
#: segmentation hole, not the canal.
MIN_CANAL_AREA_MM2 = 40.0


@dataclass(frozen=True, eq=False)
class VertebraGrid:
    """One level resampled on an isotropic grid aligned with its frame, with distance fields.

    Attributes
    ----------
    level : str
    frame : VertebraFrame
        The vertebra's frame (:mod:`kypho.anatomy.frame`); the grid's axes are its axes.
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
    canal_centre_ras_mm : (3,) float
        Centroid of the closed canal (the canal's part enclosed by the arch).
    body_posterior_a_mm, body_anterior_a_mm : float
        Local ``v`` (anterior coordinate) of the posterior and anterior body walls, walking
        forward from the canal's centre along the anterior axis.
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
    canal_core: NDArray[np.bool_]
    canal_centre_ras_mm: tuple[float, float, float]

    # ------------------------------------------------------------------ sampling
    def ras_to_ijk(self, p_ras_mm: ArrayLike) -> NDArray[np.float64]:
        """RAS+ mm to (fractional) grid indices."""
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

    def hu_at(self, p_ras_mm: ArrayLike) -> NDArray[np.float64]:
        """CT number (HU) at points, trilinear; air beyond the crop."""
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
        """Antero-posterior depth of the body on the canal's line (mm)."""
        return self.body_anterior_a_mm - self.body_posterior_a_mm



@dataclass
class _Grid:
    """A box of the vertebra's local frame sampled every ``step`` mm (axes u, a, s)."""

    frame: VertebraFrame
    lo_local: NDArray[np.float64]
    shape: tuple[int, int, int]
    step: float

    @property
    def affine(self) -> NDArray[np.float64]:
        rot = self.frame.matrix.T
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


def build_vertebra_grid(
    case: Case, level: str, frame: VertebraFrame, box: tuple[slice, slice, slice]
) -> VertebraGrid:
    """Resample ``level`` of ``case`` on a grid aligned with ``frame``; canal, walls, distances.

    Parameters
    ----------
    case : Case
        CT and labels.
    level : str
        The (labelled) level.
    frame : VertebraFrame
        The vertebra's frame (:attr:`kypho.anatomy.VertebraAnatomy.frame`).
    box : tuple of slices
        The level's bounding box in the label map.

    Raises
    ------
    NotMeasurableError
        The arch never closes around a canal, or no body lies in front of it.
    """
    lab = case.labels
    assert lab is not None
    affine = np.asarray(lab.affine, float)
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    lid = LEVEL_IDS[level]
    pad = np.ceil(2.0 * CROP_MARGIN_MM / spacing).astype(int)
    lo = np.maximum([b.start for b in box] - pad, 0)
    hi = np.minimum([b.stop for b in box] + pad, np.array(lab.shape))
    sl = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    mask = np.asarray(lab.data[sl]) == lid
    shift = np.eye(4)
    shift[:3, 3] = lo
    caff = affine @ shift
    pts = np.argwhere(mask) @ caff[:3, :3].T + caff[:3, 3]
    step = float(np.clip(spacing.min(), GRID_MIN_MM, GRID_MAX_MM))

    grid = _grid_around(frame, pts, step, CROP_MARGIN_MM)
    bone = grid.sample(mask.astype(np.float32), caff, order=1, cval=0.0) >= 0.5
    canal_core = _canal_core(bone, step, level)
    hu = grid.sample(np.asarray(case.volume.data[sl], dtype=np.float32), caff, order=1,
                     cval=-1000.0)
    core_idx = np.argwhere(canal_core)
    canal_c = frame.to_ras(grid.local_of(core_idx.mean(axis=0)))

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
    core_loc = grid.local_of(core_idx)
    width = float(core_loc[:, 0].max() - core_loc[:, 0].min() + step)
    depth = float(core_loc[:, 1].max() - core_loc[:, 1].min() + step)
    fields = dict(
        level=level, frame=frame, affine=grid.affine, bone=bone, canal=canal, bone_sdf_mm=sdf,
        canal_dist_mm=cdist, hu=hu, canal_width_mm=width, canal_depth_mm=depth,
        spacing_mm=(step, step, step), canal_core=canal_core,
        canal_centre_ras_mm=tuple(float(x) for x in canal_c),
    )
    probe = VertebraGrid(body_posterior_a_mm=0.0, body_anterior_a_mm=0.0, **fields)
    # --- body walls on the canal's line, walking forward from its centre ------------------------
    ant = np.asarray(frame.anterior)
    t_post = probe.march(canal_c, ant, want_inside=True)
    if t_post is None:
        raise NotMeasurableError(f"{level}: no vertebral body found in front of the spinal canal")
    start = canal_c + (t_post + 1.0) * ant
    t_out = probe.march(start, ant, want_inside=False, max_mm=120.0)
    if t_out is None:
        raise NotMeasurableError(f"{level}: the vertebral body's anterior wall is outside the crop")
    v_canal = float(frame.to_local(canal_c)[1])
    return VertebraGrid(body_posterior_a_mm=v_canal + t_post,
                        body_anterior_a_mm=v_canal + t_post + 1.0 + t_out, **fields)
