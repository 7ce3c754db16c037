"""Measurements on the phantom's voxels (label map), independent of the generator's code."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from kypho.core.volume import LabelMap


def labels_at(labels: LabelMap, points_ras_mm: ArrayLike) -> NDArray[np.int64]:
    """Label of the nearest voxel to each point (0 outside the grid)."""
    ijk = np.rint(labels.ras_to_ijk(np.asarray(points_ras_mm, float))).astype(int)
    shape = np.array(labels.shape)
    ok = np.all((ijk >= 0) & (ijk < shape), axis=-1)
    out = np.zeros(ijk.shape[:-1], dtype=np.int64)
    idx = ijk[ok]
    out[ok] = labels.data[idx[:, 0], idx[:, 1], idx[:, 2]]
    return out


def run_length_mm(
    labels: LabelMap, p0: ArrayLike, p1: ArrayLike, label_id: int, *, margin_mm: float = 12.0
) -> float:
    """Length of the run of ``label_id`` along the line p0 -> p1 that contains its midpoint."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    length = float(np.linalg.norm(p1 - p0))
    direction = (p1 - p0) / length
    step = min(labels.spacing_mm) / 8
    t = np.arange(-margin_mm, length + margin_mm + step, step)
    hit = labels_at(labels, p0 + t[:, None] * direction) == label_id
    mid = int(np.argmin(np.abs(t - length / 2)))
    if not hit[mid]:
        return 0.0
    lo = mid
    while lo > 0 and hit[lo - 1]:
        lo -= 1
    hi = mid
    while hi < len(t) - 1 and hit[hi + 1]:
        hi += 1
    return float(t[hi] - t[lo] + step)


def section_extent_mm(
    labels: LabelMap,
    centre: ArrayLike,
    e1: ArrayLike,
    e2: ArrayLike,
    label_id: int,
    half1_mm: float,
    half2_mm: float,
) -> tuple[float, float]:
    """Extents along ``e1`` and ``e2`` (through ``centre``) of the connected patch of
    ``label_id`` containing ``centre`` in the plane spanned by the unit vectors e1, e2."""
    c, e1, e2 = (np.asarray(x, float) for x in (centre, e1, e2))
    step = min(labels.spacing_mm) / 8
    s1 = np.arange(-half1_mm, half1_mm + step / 2, step)
    s2 = np.arange(-half2_mm, half2_mm + step / 2, step)
    pts = c + s1[:, None, None] * e1 + s2[None, :, None] * e2
    mask = labels_at(labels, pts) == label_id
    comp, _ = ndimage.label(mask)
    i0, j0 = len(s1) // 2, len(s2) // 2
    if comp[i0, j0] == 0:
        return 0.0, 0.0
    patch = comp == comp[i0, j0]
    row, col = np.nonzero(patch[:, j0])[0], np.nonzero(patch[i0, :])[0]
    return float(s1[row.max()] - s1[row.min()] + step), float(s2[col.max()] - s2[col.min()] + step)
