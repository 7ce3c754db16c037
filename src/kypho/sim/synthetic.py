"""Synthetic vertebral bodies (elliptic cylinders with a shell, wedge, cleft and holes).

Used by the tests and the benchmark, and handy to explore the simulator without a CT.  The
body is centred on the RAS origin, its axes aligned with the world: x to the patient's right,
y anterior, z superior.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kypho.core.breaks import CorticalBreak
from kypho.errors import InvalidParameterError
from kypho.sim.bone import (
    BREAK_LOCATIONS,
    DEFAULT_CALIBRATION,
    BodyGeometry,
    DensityCalibration,
)

__all__ = ["BreakSpec", "CleftSpec", "synthetic_body", "wall_centre_ras_mm"]

#: Cortical bone density used to paint the shell (mg/cm^3): model value for display only.
_CORTICAL_BMD = 800.0


@dataclass(frozen=True)
class BreakSpec:
    """A round hole in one wall, ``offset_mm`` = (along the wall, along the height) from its
    centre."""

    location: str
    radius_mm: float = 3.0
    offset_mm: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class CleftSpec:
    """An ellipsoidal fracture cleft centred at ``centre_mm`` with semi-axes ``radii_mm``."""

    centre_mm: tuple[float, float, float] = (0.0, 5.0, 0.0)
    radii_mm: tuple[float, float, float] = (10.0, 6.0, 1.5)


def _top_z(y: np.ndarray, depth: float, h_post: float, h_ant: float) -> np.ndarray:
    """Height of the superior endplate above the inferior one at AP position y."""
    t = (y + depth / 2.0) / depth
    return h_post + (h_ant - h_post) * np.clip(t, 0.0, 1.0)


def wall_centre_ras_mm(
    location: str,
    *,
    width_mm: float,
    depth_mm: float,
    height_mm: float,
    anterior_height_mm: float | None = None,
    offset_mm: tuple[float, float] = (0.0, 0.0),
) -> tuple[float, float, float]:
    """Centre (RAS mm) of a wall of :func:`synthetic_body`'s body, shifted by ``offset_mm``."""
    h_ant = height_mm if anterior_height_mm is None else anterior_height_mm
    z0 = -height_mm / 2.0
    du, dz = offset_mm
    if location == "posterior_wall":
        return (du, -depth_mm / 2.0, z0 + height_mm / 2.0 + dz)
    if location == "anterior_wall":
        return (du, depth_mm / 2.0, z0 + h_ant / 2.0 + dz)
    if location in ("left_wall", "right_wall"):
        sign = 1.0 if location == "right_wall" else -1.0
        zt = float(_top_z(np.array([du]), depth_mm, height_mm, h_ant)[0])
        return (sign * width_mm / 2.0, du, z0 + zt / 2.0 + dz)
    if location == "superior_endplate":
        zt = float(_top_z(np.array([dz]), depth_mm, height_mm, h_ant)[0])
        return (du, dz, z0 + zt)
    if location == "inferior_endplate":
        return (du, dz, z0)
    raise InvalidParameterError(f"unknown wall {location!r}")


def synthetic_body(
    *,
    width_mm: float = 40.0,
    depth_mm: float = 30.0,
    height_mm: float = 24.0,
    anterior_height_mm: float | None = None,
    normal_height_mm: float | None = None,
    bmd_mg_cc: float = 70.0,
    spacing_mm: float = 1.0,
    cortical_thickness_mm: float = 1.0,
    cleft: CleftSpec | None = None,
    breaks: Sequence[BreakSpec] = (),
    calibration: DensityCalibration = DEFAULT_CALIBRATION,
    level: str = "L1",
    margin_mm: float = 4.0,
) -> BodyGeometry:
    """An elliptic-cylinder vertebral body on an axis-aligned grid.

    Parameters
    ----------
    width_mm, depth_mm : float
        Left-right and antero-posterior diameters.
    height_mm : float
        Posterior (and, without a wedge, every) height.
    anterior_height_mm : float or None
        Anterior height for a wedge-shaped body (superior endplate tilted).
    normal_height_mm : float or None
        Height before the fracture (for height-restoration bookkeeping).
    bmd_mg_cc : float
        Trabecular density; the HU are painted with ``calibration``'s inverse.
    cleft, breaks : optional
        Fracture cleft and cortical holes.
    """
    if min(width_mm, depth_mm, height_mm) <= 4 * spacing_mm:
        raise InvalidParameterError("synthetic body is too small for the grid")
    h_ant = height_mm if anterior_height_mm is None else float(anterior_height_mm)
    hmax = max(height_mm, h_ant)
    ext = np.array([width_mm, depth_mm, hmax]) / 2.0 + margin_mm
    n = np.ceil(2 * ext / spacing_mm).astype(int) + 1
    origin = -(n - 1) * spacing_mm / 2.0
    aff = np.diag([spacing_mm, spacing_mm, spacing_mm, 1.0])
    aff[:3, 3] = origin
    x, y, z = (origin[i] + spacing_mm * np.arange(n[i]) for i in range(3))
    X, Y, Z = np.meshgrid(x, y, z, indexing="ij")
    z0 = -height_mm / 2.0
    top = z0 + _top_z(Y, depth_mm, height_mm, h_ant)
    ell = (X / (width_mm / 2.0)) ** 2 + (Y / (depth_mm / 2.0)) ** 2
    body = (ell <= 1.0) & (z0 - 0.5 * spacing_mm <= Z) & (top + 0.5 * spacing_mm >= Z)
    t = cortical_thickness_mm
    inner_ell = (X / (width_mm / 2.0 - t)) ** 2 + (Y / (depth_mm / 2.0 - t)) ** 2
    inner = (inner_ell <= 1.0) & (z0 + t - 0.5 * spacing_mm < Z) & (top - t + 0.5 * spacing_mm > Z)
    cortical = body & ~inner
    cleft_mask = np.zeros(body.shape, bool)
    if cleft is not None:
        c = np.asarray(cleft.centre_mm, float)
        r = np.asarray(cleft.radii_mm, float)
        cleft_mask = (((X - c[0]) / r[0]) ** 2 + ((Y - c[1]) / r[1]) ** 2
                      + ((Z - c[2]) / r[2]) ** 2 <= 1.0) & inner
    bmd = np.full(body.shape, 0.0)
    bmd[body] = bmd_mg_cc
    bmd[cortical] = _CORTICAL_BMD
    bmd[cleft_mask] = 0.0
    hu = calibration.hu_for(bmd).astype(np.float32)
    hu[~body] = 40.0  # soft tissue around the body (display only)
    cbreaks = []
    for b in breaks:
        if b.location not in BREAK_LOCATIONS:
            raise InvalidParameterError(f"unknown break location {b.location!r}")
        centre = wall_centre_ras_mm(
            b.location, width_mm=width_mm, depth_mm=depth_mm, height_mm=height_mm,
            anterior_height_mm=h_ant, offset_mm=b.offset_mm,
        )
        cbreaks.append(CorticalBreak(b.location, centre, float(b.radius_mm)))  # type: ignore[arg-type]
    normal = None
    if normal_height_mm is not None:
        normal = (float(normal_height_mm),) * 3
    return BodyGeometry(
        hu=hu,
        body=body,
        cortical=cortical,
        cleft=cleft_mask,
        affine=aff,
        breaks=tuple(cbreaks),
        level=level,
        normal_heights_mm=normal,
    )
