"""A vertebra's own axes (:class:`VertebraFrame`) and the spine's tangent, defined once.

The frame of a vertebra (picture: ``docs/images/anatomy-phantom-L1.png``, described in
``docs/anatomy.md``):

* **origin** at the centroid of the vertebral *body* (posterior elements excluded);
* **superior** (``w``) along the body's own cranio-caudal axis, measured from its walls and
  endplates (:mod:`kypho.anatomy.morphometry`), pointing to the head;
* **anterior** (``v``) from the spinal canal's centre towards the body's centroid, made
  perpendicular to the superior axis, so the mid-sagittal plane ``u = 0`` contains both the
  body's centroid and the canal's centre and follows the vertebra's axial rotation;
* **right** (``u``) = anterior x superior: the patient's right.

Local coordinates ``(u, v, w)`` are (right, anterior, superior) millimetres from the origin.
The frame is right-handed and orthonormal, like RAS+ itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from kypho.core.levels import LEVELS

__all__ = [
    "TANGENT_REACH_LEVELS",
    "VertebraFrame",
    "spine_tangents",
    "step_along_mm",
    "unit",
]

Vec3 = tuple[float, float, float]

#: The spine's tangent at a level joins the nearest labelled level above and below it, looked
#: for at most this many levels away (model choice: two keeps the tangent local on a curved
#: spine yet bridges one missing or unusable label).
TANGENT_REACH_LEVELS = 2


def unit(x: ArrayLike) -> NDArray[np.float64]:
    """``x`` scaled to length one (``ValueError`` for a zero or non-finite vector)."""
    v = np.asarray(x, dtype=float)
    n = float(np.linalg.norm(v))
    if not np.isfinite(n) or n < 1e-12:
        raise ValueError("zero-length direction")
    return v / n


def _vec(x: ArrayLike) -> Vec3:
    v = np.asarray(x, dtype=float).reshape(3)
    return (float(v[0]), float(v[1]), float(v[2]))


@dataclass(frozen=True)
class VertebraFrame:
    """Right, anterior and superior unit vectors of a vertebra (RAS+) and its origin (mm).

    See the module docstring for how each axis is defined.  ``matrix`` has the axes as rows, so
    ``local = (p - origin) @ matrix.T`` and ``p = local @ matrix + origin``.
    """

    origin_ras_mm: Vec3
    right: Vec3
    anterior: Vec3
    superior: Vec3

    @property
    def matrix(self) -> NDArray[np.float64]:
        """3x3 matrix whose rows are the right, anterior and superior axes (RAS+)."""
        return np.array([self.right, self.anterior, self.superior], dtype=float)

    def to_local(self, p_ras_mm: ArrayLike) -> NDArray[np.float64]:
        """RAS+ mm points ``(..., 3)`` to frame coordinates ``(u, v, w)`` mm."""
        return (np.asarray(p_ras_mm, dtype=float) - np.asarray(self.origin_ras_mm)) @ self.matrix.T

    def to_ras(self, uvw_mm: ArrayLike) -> NDArray[np.float64]:
        """Frame coordinates ``(u, v, w)`` mm ``(..., 3)`` to RAS+ mm."""
        return np.asarray(uvw_mm, dtype=float) @ self.matrix + np.asarray(self.origin_ras_mm)

    def direction_to_local(self, d_ras: ArrayLike) -> NDArray[np.float64]:
        """A RAS+ direction ``(..., 3)`` in frame components."""
        return np.asarray(d_ras, dtype=float) @ self.matrix.T

    def direction_to_ras(self, d_local: ArrayLike) -> NDArray[np.float64]:
        """Frame components ``(..., 3)`` of a direction to RAS+."""
        return np.asarray(d_local, dtype=float) @ self.matrix

    @staticmethod
    def from_axes(
        origin: ArrayLike, superior: ArrayLike, anterior_hint: ArrayLike
    ) -> VertebraFrame:
        """Right-handed frame from a superior axis and a direction roughly anterior.

        The anterior axis is ``anterior_hint`` made perpendicular to ``superior``; when the hint
        is (nearly) parallel to it, the patient's anterior ``+A`` is used instead.
        """
        s = unit(superior)
        a = np.asarray(anterior_hint, dtype=float)
        a = a - (a @ s) * s
        if np.linalg.norm(a) < 1e-6:
            a = np.array([0.0, 1.0, 0.0]) - s[1] * s
        a = unit(a)
        r = np.cross(a, s)
        return VertebraFrame(_vec(origin), _vec(r), _vec(a), _vec(s))


def spine_tangents(
    centroids_ras_mm: Mapping[str, ArrayLike], *, unreliable: Iterable[str] = ()
) -> dict[str, NDArray[np.float64]]:
    """Unit tangent of the spine (pointing superior) at each level of ``centroids_ras_mm``.

    The one rule kypho uses: the tangent at a level is the direction from the nearest level
    below to the nearest level above, each looked for within :data:`TANGENT_REACH_LEVELS`;
    levels in ``unreliable`` (labels cut by the scan's edge, whose centroids are biased) are
    used only when no other neighbour is found on that side.  At an end of the labelled range
    the one neighbour there is joins the level itself; a level with no neighbour gets ``+S``.
    The tangent is only the first guess of each vertebra's superior axis, which is then measured
    on its own body (:mod:`kypho.anatomy.body`, :mod:`kypho.anatomy.morphometry`).
    """
    pos = {lv: np.asarray(centroids_ras_mm[lv], dtype=float) for lv in LEVELS if lv in centroids_ras_mm}
    bad = set(unreliable)

    def neighbour(i: int, step: int) -> str | None:
        found = [
            LEVELS[j]
            for j in range(i + step, i + step * (TANGENT_REACH_LEVELS + 1), step)
            if 0 <= j < len(LEVELS) and LEVELS[j] in pos
        ]
        good = [lv for lv in found if lv not in bad]
        return (good or found or [None])[0]

    out: dict[str, NDArray[np.float64]] = {}
    for lv in pos:
        i = LEVELS.index(lv)
        above, below = neighbour(i, -1), neighbour(i, +1)
        top = pos[above] if above else pos[lv]
        bottom = pos[below] if below else pos[lv]
        d = top - bottom
        if np.linalg.norm(d) < 1e-6:
            d = np.array([0.0, 0.0, 1.0])
        d = d / np.linalg.norm(d)
        if d[2] < 0:  # keep it pointing to the head
            d = -d
        out[lv] = d
    return out


def step_along_mm(affine: ArrayLike, direction: ArrayLike) -> float:
    """Length of the voxel grid's sampling step along a direction (mm): how coarse it is there."""
    d = np.linalg.inv(np.asarray(affine, dtype=float)[:3, :3]) @ np.asarray(direction, dtype=float)
    return float(1.0 / np.max(np.abs(d)))
