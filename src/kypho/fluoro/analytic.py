"""Analytic test objects for the renderer: centred grids and supersampled volume fractions.

Used by kypho's tests and benchmark to build spheres, cylinders and boxes whose line integrals are
known in closed form.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from kypho.core.volume import affine_from_spacing

__all__ = ["centred_affine", "supersampled_fraction"]


def centred_affine(n: int, spacing_mm: float) -> NDArray[np.float64]:
    """Axis-aligned RAS affine of an ``n``-cube grid centred on the origin."""
    return affine_from_spacing((spacing_mm,) * 3, origin_ras_mm=(-(n - 1) / 2 * spacing_mm,) * 3)


def supersampled_fraction(
    n: int, spacing_mm: float, inside: Callable[[NDArray, NDArray, NDArray], NDArray], ss: int = 4
) -> NDArray[np.float32]:
    """Fraction of each voxel of the centred ``n``-cube grid inside ``inside(x, y, z)`` (RAS mm),
    estimated from ``ss``^3 regularly spaced subsamples per voxel."""
    g = (np.arange(n) - (n - 1) / 2) * spacing_mm
    off = ((np.arange(ss) + 0.5) / ss - 0.5) * spacing_mm
    frac = np.zeros((n, n, n), np.float32)
    for a in off:
        for b in off:
            for c in off:
                frac += inside(g[:, None, None] + a, g[None, :, None] + b, g[None, None, :] + c)
    return frac / ss**3
