"""Planar reslicing of a volume or label map in world (RAS+ mm) coordinates.

Pictures of a case (mid-sagittal, coronal, axial or oblique planes) are sampled here, once, so
every stage draws on the same geometry whatever the file's voxel orientation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from kypho.core.volume import LabelMap, Volume

__all__ = ["Plane", "plane_through", "reslice"]


@dataclass(frozen=True)
class Plane:
    """A rectangular sampling grid in RAS+ mm.

    Pixel ``(r, c)`` lies at ``origin_ras_mm + r * spacing_mm * row_dir + c * spacing_mm * col_dir``
    (plus ``row_shift_mm[r]`` along the normal ``row_dir x col_dir`` for a curved reformation).
    Rows usually run top to bottom of the picture (e.g. superior to inferior).
    """

    origin_ras_mm: tuple[float, float, float]
    row_dir: tuple[float, float, float]
    col_dir: tuple[float, float, float]
    shape: tuple[int, int]
    spacing_mm: float
    row_shift_mm: tuple[float, ...] | None = None

    @property
    def normal(self) -> NDArray[np.float64]:
        """Unit normal ``row_dir x col_dir``."""
        return np.cross(np.asarray(self.row_dir), np.asarray(self.col_dir))

    def points_ras_mm(self) -> NDArray[np.float64]:
        """RAS+ mm of every pixel centre, shape ``(rows, cols, 3)``."""
        r = np.arange(self.shape[0])[:, None, None] * self.spacing_mm * np.asarray(self.row_dir)
        c = np.arange(self.shape[1])[None, :, None] * self.spacing_mm * np.asarray(self.col_dir)
        pts = np.asarray(self.origin_ras_mm) + r + c
        if self.row_shift_mm is not None:
            pts = pts + np.asarray(self.row_shift_mm)[:, None, None] * self.normal
        return pts

    def to_pixel(self, p_ras_mm: ArrayLike) -> NDArray[np.float64]:
        """(row, col) of RAS+ points projected onto the plane, shape ``(..., 2)``."""
        d = np.asarray(p_ras_mm, dtype=float) - np.asarray(self.origin_ras_mm)
        return (
            np.stack([d @ np.asarray(self.row_dir), d @ np.asarray(self.col_dir)], axis=-1)
            / self.spacing_mm
        )


_VIEWS = {
    # name: (normal axis, row direction (top->bottom), column direction (left->right of picture))
    # Sagittal: superior up, anterior on the picture's left (the usual lateral spine view).
    "sagittal": (0, (0.0, 0.0, -1.0), (0.0, -1.0, 0.0)),
    # Coronal, viewed from the front: patient's right on the picture's left (radiological).
    "coronal": (1, (0.0, 0.0, -1.0), (-1.0, 0.0, 0.0)),
    # Axial, viewed from the feet: patient's right on the left, anterior up.
    "axial": (2, (0.0, -1.0, 0.0), (-1.0, 0.0, 0.0)),
}


def plane_through(
    image: Volume | LabelMap,
    view: str,
    point_ras_mm: ArrayLike,
    *,
    spacing_mm: float | None = None,
    follow_ras_mm: ArrayLike | None = None,
) -> Plane:
    """The ``view`` plane (``'sagittal'``, ``'coronal'``, ``'axial'``) through a point, covering the image.

    Parameters
    ----------
    image : Volume or LabelMap
        Sets the extent (its bounding box in RAS) and the default pixel size (its finest voxel).
    view : {'sagittal', 'coronal', 'axial'}
    point_ras_mm : (3,) array_like
        A point on the plane.
    spacing_mm : float, optional
        Pixel size of the picture.
    follow_ras_mm : (N, 3) array_like, optional
        Points along a curve (e.g. vertebral centroids) for a curved planar reformation: each
        row is shifted along the plane's normal so that it passes through the curve, linearly
        interpolated between the points by their row position and held constant beyond them.
        A spine that drifts off the midline or curves forward then stays in the picture.
    """
    if view not in _VIEWS:
        raise ValueError(f"unknown view {view!r}; choose sagittal, coronal or axial")
    normal_axis, row_dir, col_dir = _VIEWS[view]
    step = float(spacing_mm or min(image.spacing_mm))
    corners = np.array(
        [
            [i, j, k]
            for i in (0, image.shape[0] - 1)
            for j in (0, image.shape[1] - 1)
            for k in (0, image.shape[2] - 1)
        ],
        dtype=float,
    )
    ras = image.ijk_to_ras(corners)
    lo, hi = ras.min(axis=0), ras.max(axis=0)
    rd, cd = np.asarray(row_dir), np.asarray(col_dir)
    # Start at the corner where both row and column coordinates are smallest.
    origin = np.where(rd + cd < 0, hi, lo).astype(float)
    origin[normal_axis] = float(np.asarray(point_ras_mm, dtype=float)[normal_axis])
    n_rows = int(np.floor(abs((hi - lo) @ rd) / step)) + 1
    n_cols = int(np.floor(abs((hi - lo) @ cd) / step)) + 1
    shift = None
    if follow_ras_mm is not None:
        curve = np.asarray(follow_ras_mm, dtype=float).reshape(-1, 3)
        if len(curve):
            normal = np.cross(rd, cd)
            row_of = (curve - origin) @ rd / step
            order = np.argsort(row_of)
            across = (curve - origin) @ normal
            rows = np.arange(n_rows, dtype=float)
            shift = tuple(np.interp(rows, row_of[order], across[order]).tolist())
    return Plane(
        tuple(origin),
        tuple(rd),
        tuple(cd),
        (n_rows, n_cols),
        step,
        shift,  # type: ignore[arg-type]
    )


def reslice(
    image: Volume | LabelMap, plane: Plane, *, order: int | None = None, cval: float | None = None
) -> NDArray:
    """Sample ``image`` on ``plane``.

    Trilinear (``order=1``) for CT, nearest (``order=0``) for label maps by default; points
    outside the image get ``cval`` (-1000 HU for CT, 0 for labels).
    """
    is_labels = isinstance(image, LabelMap)
    order = (0 if is_labels else 1) if order is None else order
    cval = (0.0 if is_labels else -1000.0) if cval is None else cval
    ijk = image.ras_to_ijk(plane.points_ras_mm())
    coords = np.moveaxis(ijk, -1, 0)
    data = image.data if is_labels else np.asarray(image.data, dtype=np.float32)
    out = ndimage.map_coordinates(
        data, coords, order=order, mode="constant", cval=cval, prefilter=False
    )
    return out.astype(image.data.dtype) if is_labels else out
