"""Sub-voxel sampling of a binary mask along lines of a vertebra's frame.

Surfaces are located on the trilinear interpolation of a binary mask at the 0.5 level, i.e.
half-way between the last voxel centre inside and the first outside; :func:`outer_crossings`
finds where lines first enter and last leave it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from kypho.anatomy.frame import VertebraFrame

__all__ = ["MaskSampler", "outer_crossings"]


class MaskSampler:
    """Trilinear samples of a boolean crop mask at frame coordinates ``(u, v, w)`` mm."""

    def __init__(
        self, mask: NDArray[np.bool_], crop_affine: NDArray[np.float64], frame: VertebraFrame
    ) -> None:
        self.mask = np.pad(mask.astype(np.float32), 1)
        inv = np.linalg.inv(crop_affine)
        # ijk = inv3 @ (origin + uvw @ m) + inv_t, plus 1 for the padding
        self.lin = inv[:3, :3] @ frame.matrix.T
        self.off = inv[:3, :3] @ np.asarray(frame.origin_ras_mm) + inv[:3, 3] + 1.0

    def __call__(self, uvw: NDArray[np.float64]) -> NDArray[np.float64]:
        shp = uvw.shape[:-1]
        ijk = np.asarray(uvw, dtype=float).reshape(-1, 3) @ self.lin.T + self.off
        out = ndimage.map_coordinates(self.mask, ijk.T, order=1, mode="constant", cval=0.0)
        return out.reshape(shp)

    def lines(self, base_uvw: NDArray[np.float64], axis: int, t: NDArray[np.float64]) -> NDArray:
        """Samples along lines parallel to frame axis ``axis`` (0 u, 1 v, 2 w).

        Line ``i`` passes through ``base_uvw[i]`` with its ``axis`` coordinate replaced by
        ``t``; returns ``(len(base_uvw), len(t))``.
        """
        b = np.array(base_uvw, dtype=float, copy=True).reshape(-1, 3)
        b[:, axis] = 0.0
        start = b @ self.lin.T + self.off  # (L, 3)
        d = self.lin[:, axis]  # (3,)
        coords = np.empty((3, start.shape[0], t.size))
        for k in range(3):
            np.add(start[:, k, None], t[None, :] * d[k], out=coords[k])
        return ndimage.map_coordinates(self.mask, coords, order=1, mode="constant", cval=0.0)


def outer_crossings(
    f: NDArray[np.float64], t: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Outermost 0.5 crossings along each row of ``f`` sampled at increasing, even ``t``.

    Returns ``(t_enter, t_exit)``: where each line first enters and last leaves the mask
    (NaN for lines that never enter), interpolated linearly between samples.
    """
    inside = f >= 0.5
    has = inside.any(axis=1)
    n = f.shape[1]
    first = np.argmax(inside, axis=1)
    last = n - 1 - np.argmax(inside[:, ::-1], axis=1)
    rows = np.arange(f.shape[0])
    dt = t[1] - t[0]
    fp = np.clip(first - 1, 0, n - 1)
    f0, f1 = f[rows, fp], f[rows, first]
    frac = np.where(f1 > f0, (0.5 - f0) / np.maximum(f1 - f0, 1e-12), 0.0)
    t_enter = np.where(first > 0, t[fp] + frac * dt, t[first])
    ln = np.clip(last + 1, 0, n - 1)
    g0, g1 = f[rows, last], f[rows, ln]
    frac = np.where(g0 > g1, (g0 - 0.5) / np.maximum(g0 - g1, 1e-12), 0.0)
    t_exit = np.where(last < n - 1, t[last] + frac * dt, t[last])
    return np.where(has, t_enter, np.nan), np.where(has, t_exit, np.nan)
