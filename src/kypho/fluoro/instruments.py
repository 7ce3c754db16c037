"""Instruments and materials in the beam: trocar/cannula, contrast-filled balloon, bone cement.

Each instrument adds ``(mu_material - mu_displaced) * chord`` to every pixel's line integral,
where ``chord`` is the exact length (mm) of the ray inside the shape (closed form for cylinders
and ellipsoids, Joseph's method for voxel volumes).  ``mu_displaced`` is the attenuation of what
the instrument pushes aside; kypho takes water (soft tissue and marrow are water-like) for all of
them, a model choice: cement fills the marrow spaces of trabecular bone, and the trocar and
balloon displace marrow and compacted trabeculae whose excess over water is ignored.

Gauges (outer diameters, Stubs / Birmingham wire gauge, the scale needle gauges follow; ISO 9626
tabulates the same nominal outer diameters for needle tubing): 8 G 4.191 mm (0.165 in),
10 G 3.404 mm (0.134 in), 11 G 3.048 mm (0.120 in), 13 G 2.413 mm (0.095 in),
15 G 1.829 mm (0.072 in).  The vertebroplasty trocar is 11-13 G (Provenzano et al., AJNR 2004;
``clinical-anchors.md`` 3a); kyphoplasty access cannula gauges were not found there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from kypho.errors import InvalidParameterError
from kypho.fluoro.attenuation import (
    DEFAULT_ENERGY_KEV,
    Material,
    cement,
    iodine_contrast,
    steel,
    water,
)
from kypho.fluoro.carm import CArm

__all__ = [
    "GAUGE_OUTER_DIAMETER_MM",
    "Balloon",
    "CementVolume",
    "Instrument",
    "Trocar",
    "cylinder_chord_mm",
    "ellipsoid_chord_mm",
    "gauge_outer_diameter_mm",
]

#: Outer diameter (mm) by gauge: Stubs (Birmingham) wire gauge inches x 25.4.
GAUGE_OUTER_DIAMETER_MM: dict[int, float] = {
    8: 4.191,
    10: 3.404,
    11: 3.048,
    13: 2.413,
    15: 1.829,
}


def gauge_outer_diameter_mm(gauge: int) -> float:
    """Outer diameter of a needle of the given gauge (see module docstring)."""
    if gauge not in GAUGE_OUTER_DIAMETER_MM:
        raise InvalidParameterError(
            f"unknown needle gauge {gauge!r}: kypho knows {sorted(GAUGE_OUTER_DIAMETER_MM)}"
        )
    return GAUGE_OUTER_DIAMETER_MM[gauge]


@runtime_checkable
class Instrument(Protocol):
    """Anything that adds to a frame's line integrals."""

    def line_integral(self, carm: CArm, *, energy_kev: float = DEFAULT_ENERGY_KEV) -> NDArray[np.float32]:
        """Added line integral per pixel, shape ``(rows, cols)``."""
        ...


def _vec3(v: ArrayLike, what: str) -> NDArray[np.float64]:
    a = np.asarray(v, dtype=np.float64).reshape(-1)
    if a.shape != (3,) or not np.all(np.isfinite(a)):
        raise InvalidParameterError(f"{what} must be a finite 3-vector (RAS mm), got {v!r}")
    return a


def _rays(carm: CArm) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    src = carm.source_ras_mm
    return src, carm.pixel_centres_ras_mm() - src


def cylinder_chord_mm(
    source_ras_mm: ArrayLike,
    ray_ras_mm: NDArray[np.float64],
    a_ras_mm: ArrayLike,
    b_ras_mm: ArrayLike,
    radius_mm: float,
) -> NDArray[np.float64]:
    """Length (mm) of each ray ``source + t * ray, 0 <= t <= 1`` inside the solid cylinder with
    axis ``a -> b`` and the given radius (flat ends)."""
    s = np.asarray(source_ras_mm, float)
    a, b = np.asarray(a_ras_mm, float), np.asarray(b_ras_mm, float)
    w = b - a
    length = float(np.linalg.norm(w))
    n = w / length
    o = s - a
    v = ray_ras_mm
    on = float(o @ n)
    vn = v @ n
    o_perp = o - on * n
    v_perp = v - vn[..., None] * n
    qa = np.einsum("...i,...i->...", v_perp, v_perp)
    qb = v_perp @ o_perp
    qc = float(o_perp @ o_perp) - radius_mm**2
    disc = qb * qb - qa * qc
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.sqrt(np.maximum(disc, 0.0))
        t1 = np.where(qa > 1e-18, (-qb - root) / qa, np.where(qc <= 0, -np.inf, np.inf))
        t2 = np.where(qa > 1e-18, (-qb + root) / qa, np.where(qc <= 0, np.inf, -np.inf))
        t1 = np.where((qa > 1e-18) & (disc < 0), np.inf, t1)
        s1 = (0.0 - on) / vn
        s2 = (length - on) / vn
    par = np.abs(vn) < 1e-18
    inside_slab = (on >= 0) & (on <= length)
    lo_s = np.where(par, np.where(inside_slab, -np.inf, np.inf), np.minimum(s1, s2))
    hi_s = np.where(par, np.where(inside_slab, np.inf, -np.inf), np.maximum(s1, s2))
    lo = np.maximum.reduce([t1, lo_s, np.zeros_like(t1)])
    hi = np.minimum.reduce([t2, hi_s, np.ones_like(t2)])
    return np.maximum(hi - lo, 0.0) * np.linalg.norm(v, axis=-1)


def ellipsoid_chord_mm(
    source_ras_mm: ArrayLike,
    ray_ras_mm: NDArray[np.float64],
    centre_ras_mm: ArrayLike,
    axes_ras: ArrayLike,
    semi_axes_mm: ArrayLike,
) -> NDArray[np.float64]:
    """Length (mm) of each ray inside an ellipsoid; ``axes_ras`` rows are its orthonormal axes."""
    rot = np.asarray(axes_ras, float).reshape(3, 3)
    semi = np.asarray(semi_axes_mm, float).reshape(3)
    o = (rot @ (np.asarray(source_ras_mm, float) - np.asarray(centre_ras_mm, float))) / semi
    v = (ray_ras_mm @ rot.T) / semi
    qa = np.einsum("...i,...i->...", v, v)
    qb = v @ o
    qc = float(o @ o) - 1.0
    disc = qb * qb - qa * qc
    root = np.sqrt(np.maximum(disc, 0.0))
    t1 = (-qb - root) / qa
    t2 = (-qb + root) / qa
    lo = np.maximum(t1, 0.0)
    hi = np.minimum(t2, 1.0)
    chord = np.where(disc > 0, np.maximum(hi - lo, 0.0), 0.0)
    return chord * np.linalg.norm(ray_ras_mm, axis=-1)


@dataclass(frozen=True)
class Trocar:
    """A straight trocar or access cannula: a steel cylinder from ``hub`` to ``tip``.

    Parameters
    ----------
    tip_ras_mm, hub_ras_mm : (3,) float
        Distal tip and a proximal point (outside the patient) on its axis.
    gauge : int
        Needle gauge; sets the outer diameter (:data:`GAUGE_OUTER_DIAMETER_MM`).
    inner_diameter_mm : float
        0 for a trocar with its stylet in (solid); the lumen for an open cannula.
    material : Material
        Default stainless steel (modelled as iron).
    """

    tip_ras_mm: tuple[float, float, float]
    hub_ras_mm: tuple[float, float, float]
    gauge: int = 11
    inner_diameter_mm: float = 0.0
    material: Material = field(default_factory=steel)

    def __post_init__(self) -> None:
        tip, hub = _vec3(self.tip_ras_mm, "trocar tip"), _vec3(self.hub_ras_mm, "trocar hub")
        if np.linalg.norm(tip - hub) < 1e-6:
            raise InvalidParameterError("trocar tip and hub coincide: its length must be positive")
        od = gauge_outer_diameter_mm(self.gauge)
        idm = float(self.inner_diameter_mm)
        if not (0.0 <= idm < od):
            raise InvalidParameterError(
                f"cannula inner diameter must be in [0, {od:g}) mm for {self.gauge} G, got {idm!r}"
            )
        object.__setattr__(self, "tip_ras_mm", tuple(tip))
        object.__setattr__(self, "hub_ras_mm", tuple(hub))

    @classmethod
    def along(
        cls,
        entry_ras_mm: ArrayLike,
        direction_ras: ArrayLike,
        inserted_mm: float,
        *,
        outside_mm: float = 100.0,
        **kwargs: object,
    ) -> Trocar:
        """A trocar entering at ``entry`` along ``direction``, tip ``inserted_mm`` beyond it, with
        ``outside_mm`` of shaft outside (default 100 mm, a model choice)."""
        e = _vec3(entry_ras_mm, "entry point")
        d = _vec3(direction_ras, "direction")
        d = d / np.linalg.norm(d)
        if not inserted_mm >= 0 or not outside_mm >= 0 or inserted_mm + outside_mm <= 0:
            raise InvalidParameterError(f"insertion depth must be >= 0 mm, got {inserted_mm!r}")
        return cls(tuple(e + inserted_mm * d), tuple(e - outside_mm * d), **kwargs)  # type: ignore[arg-type]

    @property
    def outer_diameter_mm(self) -> float:
        return gauge_outer_diameter_mm(self.gauge)

    def line_integral(self, carm: CArm, *, energy_kev: float = DEFAULT_ENERGY_KEV) -> NDArray[np.float32]:
        src, rays = _rays(carm)
        chord = cylinder_chord_mm(src, rays, self.hub_ras_mm, self.tip_ras_mm, self.outer_diameter_mm / 2)
        if self.inner_diameter_mm > 0:
            chord = chord - cylinder_chord_mm(src, rays, self.hub_ras_mm, self.tip_ras_mm, self.inner_diameter_mm / 2)
        dmu = self.material.mu_per_mm(energy_kev) - water().mu_per_mm(energy_kev)
        return (dmu * chord).astype(np.float32)


@dataclass(frozen=True)
class Balloon:
    """An inflated balloon tamp, a prolate spheroid filled with iodinated contrast.

    Parameters
    ----------
    centre_ras_mm : (3,) float
    axis_ras : (3,) float
        Long axis (usually the cannula's direction).
    length_mm, diameter_mm : float
        Inflated size (no manufacturer dimensions were found; give what the scenario needs).
    iodine_mg_per_ml : float
        Contrast strength in the balloon (default 150 mg I/mL, see
        :func:`kypho.fluoro.attenuation.iodine_contrast`).
    """

    centre_ras_mm: tuple[float, float, float]
    axis_ras: tuple[float, float, float]
    length_mm: float
    diameter_mm: float
    iodine_mg_per_ml: float = 150.0

    def __post_init__(self) -> None:
        c = _vec3(self.centre_ras_mm, "balloon centre")
        ax = _vec3(self.axis_ras, "balloon axis")
        if np.linalg.norm(ax) < 1e-9:
            raise InvalidParameterError("balloon axis must be non-zero")
        if not (self.length_mm > 0 and self.diameter_mm > 0):
            raise InvalidParameterError(
                f"balloon length and diameter must be positive, got {self.length_mm!r} and {self.diameter_mm!r} mm"
            )
        iodine_contrast(self.iodine_mg_per_ml)  # validates the concentration
        object.__setattr__(self, "centre_ras_mm", tuple(c))
        object.__setattr__(self, "axis_ras", tuple(ax / np.linalg.norm(ax)))

    @property
    def volume_ml(self) -> float:
        """Inflated volume, 4/3 pi a b^2 (mL)."""
        return 4.0 / 3.0 * math.pi * (self.length_mm / 2) * (self.diameter_mm / 2) ** 2 / 1000.0

    def _axes(self) -> NDArray[np.float64]:
        a = np.asarray(self.axis_ras)
        helper = np.array([1.0, 0.0, 0.0]) if abs(a[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
        b = np.cross(a, helper)
        b /= np.linalg.norm(b)
        return np.stack([a, b, np.cross(a, b)])

    def line_integral(self, carm: CArm, *, energy_kev: float = DEFAULT_ENERGY_KEV) -> NDArray[np.float32]:
        src, rays = _rays(carm)
        semi = (self.length_mm / 2, self.diameter_mm / 2, self.diameter_mm / 2)
        chord = ellipsoid_chord_mm(src, rays, self.centre_ras_mm, self._axes(), semi)
        dmu = iodine_contrast(self.iodine_mg_per_ml).mu_per_mm(energy_kev) - water().mu_per_mm(energy_kev)
        return (dmu * chord).astype(np.float32)


@dataclass(frozen=True, eq=False)
class CementVolume:
    """Bone cement given as a volume fraction on a voxel grid.

    Parameters
    ----------
    fraction : (I, J, K) array
        Cement volume fraction per voxel in [0, 1] (a boolean mask works).
    affine : (4, 4) array
        Voxel to RAS mm.
    baso4_mass_fraction : float
        Radiopacifier content (default 0.30, see :func:`kypho.fluoro.attenuation.cement`).
    """

    fraction: NDArray[np.float32]
    affine: NDArray[np.float64]
    baso4_mass_fraction: float = 0.30

    def __post_init__(self) -> None:
        f = np.asarray(self.fraction)
        if f.ndim != 3 or f.size == 0:
            raise InvalidParameterError(f"cement fraction must be a non-empty 3-D array, got shape {f.shape}")
        f = f.astype(np.float32)
        if not np.all(np.isfinite(f)) or f.min() < 0 or f.max() > 1:
            raise InvalidParameterError("cement fraction must lie in [0, 1]")
        aff = np.asarray(self.affine, float)
        if aff.shape != (4, 4) or abs(np.linalg.det(aff[:3, :3])) < 1e-12:
            raise InvalidParameterError("cement affine must be an invertible 4x4 matrix")
        cement(self.baso4_mass_fraction)
        object.__setattr__(self, "fraction", f)
        object.__setattr__(self, "affine", aff)

    @property
    def volume_ml(self) -> float:
        """Cement volume (mL)."""
        return float(self.fraction.sum(dtype=np.float64)) * abs(np.linalg.det(self.affine[:3, :3])) / 1000.0

    def line_integral(self, carm: CArm, *, energy_kev: float = DEFAULT_ENERGY_KEV) -> NDArray[np.float32]:
        from kypho.fluoro.render import AttenuationVolume, EmptyViewError, line_integrals

        dmu = cement(self.baso4_mass_fraction).mu_per_mm(energy_kev) - water().mu_per_mm(energy_kev)
        vol = AttenuationVolume(self.fraction * np.float32(dmu), self.affine, float(energy_kev))
        try:
            out, _, _ = line_integrals(vol, carm)
        except EmptyViewError:
            out = np.zeros((carm.detector.rows, carm.detector.cols), np.float32)
        return out
