"""A vertebra's body told apart from its posterior elements, and the body's first axes.

A label map (TotalSegmentator, VerSe, the phantom) labels the *whole* vertebra: body, pedicles,
laminae and processes.  Morphometry needs the body alone, so this module finds it from the
anatomy:

1. **Prior axes.**  The superior axis starts as the tangent of the spine (the line through the
   centroids of the neighbouring vertebrae), the anterior axis as the patient's anterior
   direction (RAS+ ``+y``) made perpendicular to it.
2. **The spinal canal.**  Projected along the superior axis, the vertebra is a ring: body in
   front, pedicles at the sides, laminae behind, and the canal is the hole in the middle.  The
   anterior margin of that hole at the midline is the posterior wall of the body; everything
   anterior to it (and connected to the body) is the body.  When the ring is open (a cut or
   missing lamina), the canal is found as the first gap along the midline walking from the
   anterior surface backwards; when no gap exists at all, the whole label is taken as the body
   (a body-only segmentation).
3. **Refined axes.**  The superior axis becomes the bisector of the normals of the planes fitted
   to the body's superior and inferior surfaces, the anterior axis the direction from the canal
   centre to the body centroid (perpendicular to the superior axis), so the mid-sagittal plane
   follows the vertebra's own tilt and axial rotation.  Steps 2-3 are repeated until the axes
   settle (a degree's hundredth, three passes at most).

The walls then refine the superior axis once more (:mod:`kypho.anatomy.morphometry`), which
gives the vertebra's final :class:`~kypho.anatomy.frame.VertebraFrame`.  Coordinates in a frame
are ``(u, v, w)`` = (right, anterior, superior) in mm from the body centroid.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from kypho.anatomy.frame import VertebraFrame, step_along_mm, unit
from kypho.anatomy.sampling import MaskSampler, outer_crossings
from kypho.errors import NotMeasurableError

__all__ = [
    "ANISOTROPY_FOR_WALLS",
    "CanalInfo",
    "VertebraGeometry",
    "body_only_geometry",
    "extract_vertebra",
]

#: Smallest canal hole accepted in the axial projection, mm^2.  Model choice: well below any
#: adult canal (lumbar canals are about 24 mm wide and 17-19 mm deep, Panjabi 1992, see
#: docs/references/assess.md) yet above the foramina transversaria of C1-C6 seen off-midline.
MIN_CANAL_AREA_MM2 = 20.0
#: Half-width of the midline strip searched for the canal gap, mm (model choice).
MIDLINE_HALF_WIDTH_MM = 2.0
#: Shortest gap along the midline accepted as the canal, mm (model choice).
MIN_CANAL_GAP_MM = 3.0
#: Smallest label accepted as a vertebra, mL (model choice; an adult cervical vertebra is
#: several mL, a lumbar one tens of mL).
MIN_LABEL_VOLUME_ML = 1.0
#: When the voxel grid is this much coarser along the superior axis than across it (thick
#: slices), the axis is refined from the walls instead of the endplates (model choice).
ANISOTROPY_FOR_WALLS = 1.5
#: A second body component at least this fraction of the first means two bodies (model choice).
MERGED_COMPONENT_FRACTION = 0.25


@dataclass(frozen=True)
class CanalInfo:
    """The spinal canal seen in the axial projection of one vertebra (frame coordinates, mm)."""

    centre_uv_mm: tuple[float, float]
    front_v_mm: float  # anterior margin at the midline = the body's posterior wall (projection)
    ap_mm: float  # antero-posterior depth at the midline
    width_mm: float  # largest transverse width
    area_mm2: float
    closed: bool  # True: a hole enclosed by the ring; False: a gap along the midline only


@dataclass(frozen=True, eq=False)
class VertebraGeometry:
    """One vertebra cropped from the label map, with its frame and body mask.

    ``label_mask`` and ``body_mask`` are boolean arrays on the crop; ``crop_affine`` maps crop
    voxel indices to RAS+ mm.
    """

    level: str
    label_id: int
    frame: VertebraFrame
    separation: str
    crop: tuple[slice, slice, slice]
    crop_affine: NDArray[np.float64]
    label_mask: NDArray[np.bool_]
    body_mask: NDArray[np.bool_]
    canal: CanalInfo | None
    label_touches_edge: bool
    spacing_mm: tuple[float, float, float]

    @cached_property
    def body_points_ras_mm(self) -> NDArray[np.float64]:
        """RAS+ mm of every body voxel centre, ``(N, 3)`` (computed once)."""
        idx = np.argwhere(self.body_mask)
        return idx @ self.crop_affine[:3, :3].T + self.crop_affine[:3, 3]

    def body_extent_mm(self) -> NDArray[np.float64]:
        """``[[u_min, u_max], [v_min, v_max], [w_min, w_max]]`` of the body voxel centres."""
        loc = self.frame.to_local(self.body_points_ras_mm)
        return np.stack([loc.min(axis=0), loc.max(axis=0)], axis=1)


def _grid_pixel_mm(spacing: tuple[float, float, float]) -> float:
    """Pixel of the axial projection: the second-finest voxel edge, at least 1 mm."""
    return max(1.0, sorted(spacing)[1])


def _project(u: NDArray, v: NDArray, gp: float) -> tuple[NDArray[np.bool_], float, float]:
    """Occupancy image of points (u, v) with pixel gp, padded by 3 pixels; returns (img, u0, v0)."""
    pad = 3
    u0 = float(u.min()) - pad * gp
    v0 = float(v.min()) - pad * gp
    iu = np.rint((u - u0) / gp).astype(np.intp)  # pixel centres at u0 + iu * gp
    iv = np.rint((v - v0) / gp).astype(np.intp)
    img = np.zeros((int(iu.max()) + pad + 1, int(iv.max()) + pad + 1), dtype=bool)
    img[iu, iv] = True
    img = ndimage.binary_closing(img, structure=np.ones((3, 3), bool))
    return img, u0, v0


def _find_canal(loc: NDArray[np.float64], gp: float) -> CanalInfo | None:
    """The canal in the axial projection of the points ``loc`` (frame coordinates)."""
    u, v = loc[:, 0], loc[:, 1]
    img, u0, v0 = _project(u, v, gp)
    u_mid = float(np.median(u))
    holes = ndimage.binary_fill_holes(img) & ~img
    lab, n = ndimage.label(holes)
    best = None
    if n:
        areas = ndimage.sum_labels(holes, lab, index=np.arange(1, n + 1)) * gp * gp
        for k in np.argsort(areas)[::-1]:
            if areas[k] < MIN_CANAL_AREA_MM2:
                break
            iu, iv = np.nonzero(lab == k + 1)
            uc = u0 + iu.mean() * gp
            if abs(uc - u_mid) <= 0.5 * max(10.0, 0.5 * (u.max() - u.min())):
                best = (iu, iv, float(areas[k]))
                break
    if best is not None:
        iu, iv, area = best
        uc = u0 + iu.mean() * gp
        vc = v0 + iv.mean() * gp
        mid = np.abs(u0 + iu * gp - uc) <= max(MIDLINE_HALF_WIDTH_MM, gp)
        iv_mid = iv[mid] if mid.any() else iv
        front = v0 + (int(iv_mid.max()) + 0.5) * gp
        back = v0 + (int(iv_mid.min()) - 0.5) * gp
        width = (int(iu.max()) - int(iu.min()) + 1) * gp
        return CanalInfo((uc, vc), front, front - back, width, area, True)
    # Open ring: walk the midline strip from the anterior surface backwards.
    strip_cols = np.abs(u0 + np.arange(img.shape[0]) * gp - u_mid) <= max(MIDLINE_HALF_WIDTH_MM, gp)
    prof = img[strip_cols].any(axis=0)
    occupied = np.nonzero(prof)[0]
    if occupied.size == 0:
        return None
    j = int(occupied.max())
    while j >= 0 and prof[j]:
        j -= 1
    gap_top = j  # last empty pixel going posteriorly starts here
    while j >= 0 and not prof[j]:
        j -= 1
    if j < 0:
        return None  # nothing behind the body along the midline: no posterior elements
    gap_len = (gap_top - j) * gp
    if gap_len < MIN_CANAL_GAP_MM:
        return None
    front = v0 + (gap_top + 0.5) * gp
    back = v0 + (j + 0.5) * gp
    return CanalInfo(
        (u_mid, 0.5 * (front + back)), front, front - back, float("nan"), float("nan"), False
    )


def _bisecting_normal(u: NDArray, v: NDArray, w_a: NDArray, w_b: NDArray) -> NDArray:
    """Unit bisector of the normals of the planes ``w = a u + b v + c`` fitted to two surfaces
    (the two endplates, or the two side walls), in the (u, v, w) frame."""
    normals = []
    for w in (w_a, w_b):
        a, b, _ = _fit_plane(u, v, w)
        n = np.array([-a, -b, 1.0])
        normals.append(n / np.linalg.norm(n))
    s = normals[0] + normals[1]
    return s / np.linalg.norm(s)


def _fit_plane(x: NDArray, y: NDArray, z: NDArray) -> tuple[float, float, float]:
    """Least-squares plane ``z = a x + b y + c`` with one pass of outlier rejection."""
    A = np.column_stack([x, y, np.ones_like(x)])
    coef, *_ = np.linalg.lstsq(A, z, rcond=None)
    res = z - A @ coef
    mad = float(np.median(np.abs(res - np.median(res)))) + 1e-9
    keep = np.abs(res) <= max(3.0 * 1.4826 * mad, 0.5)
    if keep.sum() >= 6:
        coef, *_ = np.linalg.lstsq(A[keep], z[keep], rcond=None)
    return float(coef[0]), float(coef[1]), float(coef[2])


def _endplate_axis(loc: NDArray[np.float64], gp: float) -> NDArray[np.float64] | None:
    """Bisector of the superior and inferior surface normals of the body (frame coordinates)."""
    u, v, w = loc[:, 0], loc[:, 1], loc[:, 2]
    u0, v0 = float(u.min()), float(v.min())
    iu = np.floor((u - u0) / gp).astype(np.intp)
    iv = np.floor((v - v0) / gp).astype(np.intp)
    nv = int(iv.max()) + 1
    col = iu * nv + iv
    ncol = int(col.max()) + 1
    top = np.full(ncol, -np.inf)
    bot = np.full(ncol, np.inf)
    np.maximum.at(top, col, w)
    np.minimum.at(bot, col, w)
    cu = u0 + (np.arange(ncol) // nv + 0.5) * gp
    cv = v0 + (np.arange(ncol) % nv + 0.5) * gp
    width = u.max() - u.min()
    depth = v.max() - v.min()
    uc = 0.5 * (u.max() + u.min())
    vc = 0.5 * (v.max() + v.min())
    sel = np.isfinite(top) & (np.abs(cu - uc) <= 0.3 * width) & (np.abs(cv - vc) <= 0.3 * depth)
    if sel.sum() < 9:
        return None
    return _bisecting_normal(cu[sel], cv[sel], top[sel], bot[sel])


def _refine_superior_subvoxel(
    body_mask: NDArray[np.bool_],
    crop_affine: NDArray[np.float64],
    frame: VertebraFrame,
    spacing: tuple[float, float, float],
    body_pts: NDArray[np.float64],
) -> VertebraFrame:
    """Superior axis from planes fitted to the sub-voxel endplate surfaces of the body centre.

    Lines along the current superior axis over the central 60 % x 60 % of the body locate
    its superior and inferior surfaces on the interpolated mask; the new axis bisects the two
    fitted planes' normals.  Works on thick slices, where voxel-centre extremes are coarse.
    """
    loc = frame.to_local(body_pts)
    (u0, v0, w0), (u1, v1, w1) = loc.min(axis=0), loc.max(axis=0)
    step = max(1.5, _grid_pixel_mm(spacing))
    uc, vc = 0.5 * (u0 + u1), 0.5 * (v0 + v1)
    us = np.arange(uc - 0.3 * (u1 - u0), uc + 0.3 * (u1 - u0) + 1e-9, step)
    vs = np.arange(vc - 0.3 * (v1 - v0), vc + 0.3 * (v1 - v0) + 1e-9, step)
    if us.size < 3 or vs.size < 3:
        return frame
    margin = 2.0 * max(spacing)
    tw = np.arange(w0 - margin, w1 + margin, 0.25 * min(spacing))
    U, V = np.meshgrid(us, vs, indexing="ij")
    uf, vf = U.ravel(), V.ravel()
    base = np.column_stack([uf, vf, np.zeros_like(uf)])
    w_in, w_out = outer_crossings(MaskSampler(body_mask, crop_affine, frame).lines(base, 2, tw), tw)
    ok = np.isfinite(w_in) & np.isfinite(w_out)
    if ok.sum() < 9:
        return frame
    s = _bisecting_normal(uf[ok], vf[ok], w_out[ok], w_in[ok]) @ frame.matrix
    return VertebraFrame.from_axes(frame.origin_ras_mm, s, frame.anterior)


def _refine_superior_walls(
    body_mask: NDArray[np.bool_],
    crop_affine: NDArray[np.float64],
    frame: VertebraFrame,
    spacing: tuple[float, float, float],
    body_pts: NDArray[np.float64],
) -> VertebraFrame:
    """Superior axis from the walls: the line through the mid-points between opposite walls.

    At heights across the central 60 % of the body, the left/right and the anterior/posterior
    walls are located on the interpolated mask along lines through the body centre; the axis
    follows how their mid-points move with height.  Used on thick slices, where the walls are
    sampled finely (in-plane) and the endplates coarsely.
    """
    loc = frame.to_local(body_pts)
    (u0, v0, w0), (u1, v1, w1) = loc.min(axis=0), loc.max(axis=0)
    h = w1 - w0
    ws = np.linspace(w0 + 0.2 * h, w1 - 0.2 * h, 9)
    offs = np.linspace(-1.5, 1.5, 4)
    margin = 2.0 * max(spacing)
    step = 0.25 * min(spacing)
    sampler = MaskSampler(body_mask, crop_affine, frame)
    mids = []
    for axis, (lo, hi) in ((0, (u0, u1)), (1, (v0, v1))):
        t = np.arange(lo - margin, hi + margin, step)
        other = 1 - axis
        W, off = np.meshgrid(ws, offs, indexing="ij")
        base = np.zeros((W.size, 3))
        base[:, other] = off.ravel()
        base[:, 2] = W.ravel()
        a_in, a_out = outer_crossings(sampler.lines(base, axis, t), t)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mid = np.nanmedian((0.5 * (a_in + a_out)).reshape(W.shape), axis=1)
        mids.append(mid)
    ok = np.isfinite(mids[0]) & np.isfinite(mids[1])
    if ok.sum() < 4:
        return frame
    du = np.polyfit(ws[ok], mids[0][ok], 1)[0]
    dv = np.polyfit(ws[ok], mids[1][ok], 1)[0]
    s = np.array([du, dv, 1.0])
    s = (s / np.linalg.norm(s)) @ frame.matrix
    return VertebraFrame.from_axes(frame.origin_ras_mm, s, frame.anterior)


def _body_components(
    body: NDArray[np.bool_],
) -> tuple[NDArray[np.bool_], list[NDArray[np.bool_]]]:
    """Largest connected component of ``body`` and every other one of comparable size."""
    lab, n = ndimage.label(body, structure=np.ones((3, 3, 3), bool))
    if n <= 1:
        return body, []
    sizes = ndimage.sum_labels(body, lab, index=np.arange(1, n + 1))
    order = np.argsort(sizes)[::-1]
    largest = lab == order[0] + 1
    others = [
        lab == k + 1 for k in order[1:] if sizes[k] >= MERGED_COMPONENT_FRACTION * sizes[order[0]]
    ]
    return largest, others


def extract_vertebra(
    labels: NDArray,
    affine: NDArray[np.float64],
    level: str,
    label_id: int,
    bbox: tuple[slice, slice, slice],
    prior_superior: ArrayLike,
    *,
    max_iter: int = 3,
) -> VertebraGeometry:
    """Crop one vertebra, find its body and its own axes.

    Parameters
    ----------
    labels : (I, J, K) int ndarray
        The whole label map.
    affine : (4, 4) ndarray
        Voxel to RAS+ mm.
    level, label_id : str, int
        Which vertebra.
    bbox : tuple of slices
        Its bounding box in ``labels`` (from :func:`scipy.ndimage.find_objects`).
    prior_superior : (3,) array_like
        Direction of the spine at this level (see :func:`spine_tangents`).
    max_iter : int
        Passes of separation and axis refinement.

    Raises
    ------
    NotMeasurableError
        With a reason for the report: too few voxels, cut by the scan edge, two bodies in one
        label, body too small.
    """
    shape = labels.shape
    spacing = tuple(float(s) for s in np.linalg.norm(affine[:3, :3], axis=0))
    lo = [max(0, b.start - 1) for b in bbox]
    hi = [min(n, b.stop + 1) for b, n in zip(bbox, shape, strict=True)]
    crop = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    mask = labels[crop] == label_id
    voxel_ml = abs(float(np.linalg.det(affine[:3, :3]))) / 1000.0
    n_vox = int(mask.sum())
    idx = np.argwhere(mask)
    full_idx = idx + np.asarray(lo)
    on_edge = (full_idx == 0) | (full_idx == np.asarray(shape) - 1)
    label_touches_edge = bool(on_edge.any())
    if n_vox * voxel_ml < MIN_LABEL_VOLUME_ML:
        what = f"only {n_vox} voxels ({n_vox * voxel_ml:.2f} mL) labelled"
        if label_touches_edge:
            raise NotMeasurableError(f"cut by scan edge ({what} inside the scan)")
        raise NotMeasurableError(f"{what}, below {MIN_LABEL_VOLUME_ML:g} mL")
    crop_affine = affine.copy()
    crop_affine[:3, 3] = affine[:3, :3] @ np.asarray(lo, float) + affine[:3, 3]
    pts = idx @ crop_affine[:3, :3].T + crop_affine[:3, 3]

    gp = _grid_pixel_mm(spacing)  # type: ignore[arg-type]
    origin = pts.mean(axis=0)
    frame = VertebraFrame.from_axes(origin, prior_superior, (0.0, 1.0, 0.0))
    canal: CanalInfo | None = None
    separation = "whole label"
    body_sel = np.ones(len(pts), dtype=bool)
    body_mask = mask
    others: list[NDArray[np.bool_]] = []
    for _ in range(max(1, max_iter)):
        loc = frame.to_local(pts)
        canal = _find_canal(loc, gp)
        if canal is not None:
            body_sel = loc[:, 1] >= canal.front_v_mm
            separation = "canal" if canal.closed else "midline gap"
        else:
            body_sel = np.ones(len(pts), dtype=bool)
            separation = "whole label"
        if body_sel.sum() < 10:
            raise NotMeasurableError("no vertebral body found anterior to the spinal canal")
        cand = np.zeros_like(mask)
        cand[tuple(idx[body_sel].T)] = True
        body_mask, others = _body_components(cand)
        body_sel = body_mask[tuple(idx.T)]
        body_pts = pts[body_sel]
        centroid = body_pts.mean(axis=0)
        new_frame = VertebraFrame.from_axes(centroid, frame.superior, frame.anterior)
        s_loc = _endplate_axis(new_frame.to_local(body_pts), gp)
        s_new = np.asarray(new_frame.superior) if s_loc is None else s_loc @ new_frame.matrix
        if canal is not None and canal.closed:
            canal_ras = frame.to_ras([canal.centre_uv_mm[0], canal.centre_uv_mm[1], 0.0])
            hint = centroid - canal_ras
            hint = hint - (hint @ s_new) * s_new
            if np.linalg.norm(hint) < 1e-6 or np.dot(unit(hint), frame.anterior) < np.cos(
                np.radians(45.0)
            ):
                hint = np.asarray(frame.anterior)
        else:
            hint = np.asarray(frame.anterior)
        refined = VertebraFrame.from_axes(centroid, s_new, hint)
        change = max(
            float(np.degrees(np.arccos(np.clip(np.dot(refined.superior, frame.superior), -1, 1)))),
            float(np.degrees(np.arccos(np.clip(np.dot(refined.anterior, frame.anterior), -1, 1)))),
        )
        frame = refined
        if change < 0.01:
            break

    # Sub-voxel refinement of the superior axis (the canal-based anterior axis is kept).
    body_pts = pts[body_mask[tuple(idx.T)]]
    along = step_along_mm(affine, frame.superior)
    across = 0.5 * (step_along_mm(affine, frame.right) + step_along_mm(affine, frame.anterior))
    refine = (
        _refine_superior_walls
        if along > ANISOTROPY_FOR_WALLS * across
        else (_refine_superior_subvoxel)
    )
    for _ in range(2):
        frame = refine(body_mask, crop_affine, frame, spacing, body_pts)  # type: ignore[arg-type]

    # Canal info expressed in the final frame.
    canal = _find_canal(frame.to_local(pts), gp) if canal is not None else None

    if others:
        w_main = frame.to_local(pts[body_mask[tuple(idx.T)]])[:, 2]
        for comp in others:
            w_o = frame.to_local(pts[comp[tuple(idx.T)]])[:, 2]
            overlap = min(w_main.max(), w_o.max()) - max(w_main.min(), w_o.min())
            if overlap < 0.3 * min(np.ptp(w_main), np.ptp(w_o)):
                raise NotMeasurableError(
                    "two vertebral bodies in one label (levels merged in the label map?)"
                )
    body_idx = np.argwhere(body_mask) + np.asarray(lo)
    if ((body_idx == 0) | (body_idx == np.asarray(shape) - 1)).any():
        raise NotMeasurableError("cut by scan edge (the vertebral body reaches the image border)")
    return VertebraGeometry(
        level=level,
        label_id=label_id,
        frame=frame,
        separation=separation,
        crop=crop,  # type: ignore[arg-type]
        crop_affine=crop_affine,
        label_mask=mask,
        body_mask=body_mask,
        canal=canal,
        label_touches_edge=label_touches_edge,
        spacing_mm=spacing,  # type: ignore[arg-type]
    )


def body_only_geometry(
    body: NDArray[np.bool_],
    affine: ArrayLike,
    superior: ArrayLike,
    anterior: ArrayLike,
    *,
    level: str = "body",
) -> VertebraGeometry:
    """A :class:`VertebraGeometry` for a mask that holds a vertebral body alone.

    Used where no label map exists (a synthetic body for the simulator): the body is the whole
    mask, the frame's axes are the given ones about the mask's centroid, and there is no canal.
    Morphometry (:func:`kypho.anatomy.morphometry.measure_morphometry`) then measures it with the
    same definitions as a real vertebra.
    """
    body = np.asarray(body, dtype=bool)
    affine = np.asarray(affine, dtype=float)
    if not body.any():
        raise NotMeasurableError(f"{level}: empty body mask")
    box = ndimage.find_objects(body.astype(np.uint8))[0]
    lo = [max(0, b.start - 1) for b in box]
    hi = [min(n, b.stop + 1) for b, n in zip(box, body.shape, strict=True)]
    crop = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    mask = body[crop]
    crop_affine = affine.copy()
    crop_affine[:3, 3] = affine[:3, :3] @ np.asarray(lo, float) + affine[:3, 3]
    pts = np.argwhere(mask) @ crop_affine[:3, :3].T + crop_affine[:3, 3]
    frame = VertebraFrame.from_axes(pts.mean(axis=0), superior, anterior)
    spacing = tuple(float(s) for s in np.linalg.norm(affine[:3, :3], axis=0))
    touches = any(a == 0 or b == n for a, b, n in zip(lo, hi, body.shape, strict=True))
    return VertebraGeometry(
        level=level, label_id=0, frame=frame, separation="body mask", crop=crop,  # type: ignore[arg-type]
        crop_affine=crop_affine, label_mask=mask, body_mask=mask, canal=None,
        label_touches_edge=touches, spacing_mm=spacing,  # type: ignore[arg-type]
    )
