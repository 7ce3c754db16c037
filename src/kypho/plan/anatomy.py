"""A vertebra as the planner sees it: local frame, body, spinal canal and distance fields.

Everything here is found from the vertebra's **label** (and the CT grid) only; a phantom's ground
truth is never read.  Steps (see ``docs/references/plan.md``):

1. Crop the level's label (with a margin) and fill the holes of every slice across the cranio-caudal
   voxel axis: where the posterior arch is closed (at the pedicles) the hole is the spinal canal.
2. Frame: superior axis from the neighbouring levels' centroids (the spine's tangent, as in
   :func:`kypho.fluoro.level_axes` without truth); anterior axis from the canal's centroid to the
   vertebra's centroid; origin at the canal's centroid, so ``u = 0`` is the midline.
3. The canal is extruded along the superior axis over the whole vertebra (its footprint in the
   axial plane), so the distance to it is defined above and below the pedicles too.
4. Signed distance to the bone surface (positive inside) and distance to the canal, both in mm,
   by Euclidean distance transforms on the voxel grid (anisotropic spacing respected).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from kypho.core.case import Case
from kypho.core.levels import LEVEL_IDS, LEVELS, parse_level
from kypho.errors import EmptyLabelMapError, InvalidParameterError, NotMeasurableError

__all__ = ["VertebraFrame", "VertebraModel", "build_vertebra_model"]

#: Margin (mm) around the level's label kept in the crop (room for paths and the canal).
CROP_MARGIN_MM = 12.0
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


def _centroid(labels_data: NDArray, affine: NDArray, level: str) -> NDArray[np.float64] | None:
    ijk = np.argwhere(labels_data == LEVEL_IDS[level])
    if len(ijk) == 0:
        return None
    return ijk.mean(axis=0) @ affine[:3, :3].T + affine[:3, 3]


def _superior_axis(case: Case, level: str) -> NDArray[np.float64]:
    lab = case.labels
    assert lab is not None
    i = LEVELS.index(level)
    here = _centroid(lab.data, lab.affine, level)
    above = _centroid(lab.data, lab.affine, LEVELS[i - 1]) if i > 0 else None
    below = _centroid(lab.data, lab.affine, LEVELS[i + 1]) if i + 1 < len(LEVELS) else None
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


def build_vertebra_model(case: Case, level: str) -> VertebraModel:
    """Crop ``level`` from ``case`` and find its frame, canal, body walls and distance fields.

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
    mask_full = lab.data == LEVEL_IDS[level]
    idx = np.argwhere(mask_full)
    pad = np.ceil(CROP_MARGIN_MM / spacing).astype(int)
    lo = np.maximum(idx.min(axis=0) - pad, 0)
    hi = np.minimum(idx.max(axis=0) + pad + 1, np.array(mask_full.shape))
    sl = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    bone = mask_full[sl]
    shift = np.eye(4)
    shift[:3, 3] = lo
    aff = affine @ shift
    hu = np.asarray(case.volume.data[sl], dtype=np.float32)

    # --- canal: holes of slices across the voxel axis closest to the superior axis -----------
    sup = _superior_axis(case, level)
    axis_dirs = affine[:3, :3] / spacing
    k_axis = int(np.argmax(np.abs(sup @ axis_dirs)))
    holes = np.zeros_like(bone)
    for k in range(bone.shape[k_axis]):
        idx_k = [slice(None)] * 3
        idx_k[k_axis] = k  # type: ignore[call-overload]
        sl2 = bone[tuple(idx_k)]
        if sl2.any():
            holes[tuple(idx_k)] = ndimage.binary_fill_holes(sl2) & ~sl2
    comp, n = ndimage.label(holes)
    if n == 0:
        raise NotMeasurableError(
            f"{level}: the label's posterior arch never closes around the spinal canal, so the "
            "pedicles cannot be found (is the label a whole vertebra, arch included?)"
        )
    sizes = ndimage.sum_labels(holes, comp, index=np.arange(1, n + 1))
    canal_core = comp == (1 + int(np.argmax(sizes)))
    in_plane = [i for i in range(3) if i != k_axis]
    max_area = float(
        np.max(np.sum(canal_core, axis=tuple(in_plane))) * np.prod(spacing[in_plane])
    )
    if max_area < MIN_CANAL_AREA_MM2:
        raise NotMeasurableError(
            f"{level}: the largest hole in the arch is {max_area:.0f} mm^2, too small for a spinal "
            f"canal (>= {MIN_CANAL_AREA_MM2:g} mm^2); the pedicles cannot be found"
        )

    def world(ijk: NDArray) -> NDArray[np.float64]:
        return ijk @ aff[:3, :3].T + aff[:3, 3]

    canal_c = world(np.argwhere(canal_core).mean(axis=0))
    vert_c = world(np.argwhere(bone).mean(axis=0))
    ant = vert_c - canal_c
    ant = ant - (ant @ sup) * sup
    if np.linalg.norm(ant) < 1.0:
        ant = np.array([0.0, 1.0, 0.0]) - sup[1] * sup
    ant /= np.linalg.norm(ant)
    right = np.cross(ant, sup)
    frame = VertebraFrame(
        tuple(float(x) for x in canal_c),  # type: ignore[arg-type]
        tuple(float(x) for x in right),  # type: ignore[arg-type]
        tuple(float(x) for x in ant),  # type: ignore[arg-type]
        tuple(float(x) for x in sup),  # type: ignore[arg-type]
    )

    # --- extrude the canal's footprint along the superior axis ---------------------------------
    grid = np.indices(bone.shape).reshape(3, -1).T
    loc = frame.to_local(world(grid))
    res = 0.5
    cpts = frame.to_local(world(np.argwhere(canal_core)))
    umin, amin = cpts[:, 0].min() - 2, cpts[:, 1].min() - 2
    nu = int(np.ceil((cpts[:, 0].max() + 2 - umin) / res)) + 1
    na = int(np.ceil((cpts[:, 1].max() + 2 - amin) / res)) + 1
    foot = np.zeros((nu, na), bool)
    foot[
        np.round((cpts[:, 0] - umin) / res).astype(int), np.round((cpts[:, 1] - amin) / res).astype(int)
    ] = True
    # Close the footprint over the voxel spacing (slices project to scattered points).
    foot = ndimage.binary_closing(foot, iterations=int(np.ceil(max(spacing) / res)))
    foot = ndimage.binary_fill_holes(foot)
    iu = np.round((loc[:, 0] - umin) / res).astype(int)
    ia = np.round((loc[:, 1] - amin) / res).astype(int)
    ok = (iu >= 0) & (iu < nu) & (ia >= 0) & (ia < na)
    in_foot = np.zeros(len(loc), bool)
    in_foot[ok] = foot[iu[ok], ia[ok]]
    s_lo, s_hi = loc[bone.reshape(-1), 2].min(), loc[bone.reshape(-1), 2].max()
    canal = (in_foot & (loc[:, 2] >= s_lo) & (loc[:, 2] <= s_hi)).reshape(bone.shape)
    canal &= ~bone
    canal |= canal_core

    # --- distance fields -------------------------------------------------------------------------
    half = 0.5 * float(np.min(spacing))
    d_in = ndimage.distance_transform_edt(bone, sampling=spacing)
    d_out = ndimage.distance_transform_edt(~bone, sampling=spacing)
    sdf = np.where(bone, d_in - half, -(d_out - half)).astype(np.float32)
    cdist = ndimage.distance_transform_edt(~canal, sampling=spacing).astype(np.float32)

    model = VertebraModel(
        level=level, frame=frame, affine=aff, bone=bone, canal=canal, bone_sdf_mm=sdf,
        canal_dist_mm=cdist, hu=hu, body_posterior_a_mm=0.0, body_anterior_a_mm=0.0,
        canal_width_mm=0.0, canal_depth_mm=0.0, spacing_mm=tuple(float(s) for s in spacing),  # type: ignore[arg-type]
    )
    # --- body walls on the midline at canal height ----------------------------------------------
    origin = np.asarray(frame.origin_ras_mm)
    t_post = model.march(origin, ant, want_inside=True)
    if t_post is None:
        raise NotMeasurableError(f"{level}: no vertebral body found in front of the spinal canal")
    start = origin + (t_post + 1.0) * ant
    t_out = model.march(start, ant, want_inside=False, max_mm=120.0)
    if t_out is None:
        raise NotMeasurableError(f"{level}: the vertebral body's anterior wall is outside the crop")
    a_post, a_ant = t_post, t_post + 1.0 + t_out
    # Canal extent: its largest closed cross-section in the local (u, a) plane.
    core_loc = frame.to_local(world(np.argwhere(canal_core)))
    width = float(core_loc[:, 0].max() - core_loc[:, 0].min() + spacing[in_plane].mean())
    depth = float(core_loc[:, 1].max() - core_loc[:, 1].min() + spacing[in_plane].mean())
    return VertebraModel(
        level=level, frame=frame, affine=aff, bone=bone, canal=canal, bone_sdf_mm=sdf,
        canal_dist_mm=cdist, hu=hu, body_posterior_a_mm=float(a_post),
        body_anterior_a_mm=float(a_ant), canal_width_mm=width, canal_depth_mm=depth,
        spacing_mm=model.spacing_mm,
    )
