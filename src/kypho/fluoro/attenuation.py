"""Linear attenuation: HU to mu at the fluoroscopy beam's effective energy, and instrument materials.

Units: linear attenuation coefficients are returned **per millimetre** (mu in 1/mm), so a line
integral over a path in world mm is dimensionless.  Mass attenuation coefficients are in cm^2/g
(as tabulated), densities in g/cm^3.

Sources (see ``docs/references/fluoro.md``)
-------------------------------------------
- Mass attenuation coefficients, densities and the CT's effective energy (70 keV): the one
  table kypho keeps, :mod:`kypho.core.attenuation` (NIST SRD 126; SpekPy for the energy).
- Bilinear HU-to-mu conversion (air-water mixture below 0 HU, water-bone mixture above): the
  scheme of Kinahan PE et al., "Attenuation correction for a combined 3D PET/CT scanner",
  Med Phys 1998;25(10):2046-53.  The break point at 0 HU is a model choice.
- The default fluoroscopy energy (55 keV) is the mean photon energy of an 80 kVp spectrum
  (tungsten anode, 12 degree anode angle, 3 mm Al) after 200 mm water, computed with SpekPy
  2.5.4 (Poludniowski G et al., Med Phys 2021;48(7):3630-7).  Tube potential, filtration and the
  200 mm water path are model choices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from kypho.core.attenuation import (
    CT_EFFECTIVE_ENERGY_KEV,
    DENSITY_G_CM3,
    ENERGY_GRID_KEV,
    MASS_ATTENUATION_CM2_G,
    check_energy,
    mass_attenuation_cm2_g,
)
from kypho.errors import InvalidParameterError

__all__ = [
    "BARIUM_SULFATE_DENSITY_G_CM3",
    "CT_EFFECTIVE_ENERGY_KEV",
    "DEFAULT_ENERGY_KEV",
    "DENSITY_G_CM3",
    "ENERGY_GRID_KEV",
    "MASS_ATTENUATION_CM2_G",
    "Material",
    "barium_sulfate",
    "cement",
    "cortical_bone",
    "hu_to_mu",
    "iodine_contrast",
    "mass_attenuation_cm2_g",
    "mu_per_mm",
    "pmma",
    "steel",
    "water",
]

#: Density of barium sulfate (barite), g/cm^3.  Handbook value 4.49 (CRC Handbook of Chemistry
#: and Physics, physical constants of inorganic compounds); quoted from the handbook, not re-read
#: for this project: verify before relying on cement density.
BARIUM_SULFATE_DENSITY_G_CM3 = 4.49

#: Standard atomic weights (IUPAC 2021 abridged values), used for BaSO4's mass fractions.
_ATOMIC_WEIGHT = {"barium": 137.33, "sulfur": 32.06, "oxygen": 15.999}

#: Default effective energy of the fluoroscopy beam (keV); see the module docstring.
DEFAULT_ENERGY_KEV = 55.0


@dataclass(frozen=True)
class Material:
    """A homogeneous material: mass fractions of tabulated constituents and a density.

    Parameters
    ----------
    name : str
        Human-readable name ("steel", "PMMA + 30 wt% BaSO4").
    fractions : tuple of (str, float)
        Mass fractions of the tabulated constituents (keys of :data:`MASS_ATTENUATION_CM2_G`),
        summing to 1.  Mixture rule mu/rho = sum w_i (mu/rho)_i (NIST SRD 126, section 3).
    density_g_cm3 : float
        Bulk density.
    """

    name: str
    fractions: tuple[tuple[str, float], ...]
    density_g_cm3: float

    def __post_init__(self) -> None:
        total = sum(w for _, w in self.fractions)
        if not self.fractions or abs(total - 1.0) > 1e-6 or any(w < 0 for _, w in self.fractions):
            raise InvalidParameterError(
                f"material {self.name!r}: mass fractions must be >= 0 and sum to 1, got {total:g}"
            )
        if not (self.density_g_cm3 > 0 and np.isfinite(self.density_g_cm3)):
            raise InvalidParameterError(
                f"material {self.name!r}: density must be positive, got {self.density_g_cm3!r}"
            )

    def mass_attenuation_cm2_g(self, energy_kev: float) -> float:
        """mu/rho of the mixture (cm^2/g)."""
        return sum(w * mass_attenuation_cm2_g(n, energy_kev) for n, w in self.fractions)

    def mu_per_mm(self, energy_kev: float) -> float:
        """Linear attenuation coefficient in 1/mm."""
        return self.mass_attenuation_cm2_g(energy_kev) * self.density_g_cm3 / 10.0


def water() -> Material:
    """Liquid water, 1.000 g/cm^3."""
    return Material("water", (("water", 1.0),), DENSITY_G_CM3["water"])


def cortical_bone() -> Material:
    """Cortical bone (ICRU-44), 1.920 g/cm^3."""
    return Material("cortical bone", (("bone_cortical", 1.0),), DENSITY_G_CM3["bone_cortical"])


def pmma() -> Material:
    """Polymethyl methacrylate, 1.190 g/cm^3."""
    return Material("PMMA", (("pmma", 1.0),), DENSITY_G_CM3["pmma"])


def steel() -> Material:
    """Stainless steel modelled as iron at 7.874 g/cm^3 (model choice: 304/316 steels are mostly
    iron with chromium and nickel of similar atomic number)."""
    return Material("steel (as iron)", (("iron", 1.0),), DENSITY_G_CM3["iron"])


def _baso4_fractions() -> tuple[tuple[str, float], ...]:
    w = _ATOMIC_WEIGHT
    m = w["barium"] + w["sulfur"] + 4 * w["oxygen"]
    return (("barium", w["barium"] / m), ("sulfur", w["sulfur"] / m), ("oxygen", 4 * w["oxygen"] / m))


def barium_sulfate() -> Material:
    """BaSO4, mass fractions from atomic weights, density :data:`BARIUM_SULFATE_DENSITY_G_CM3`."""
    return Material("BaSO4", _baso4_fractions(), BARIUM_SULFATE_DENSITY_G_CM3)


def cement(baso4_mass_fraction: float = 0.30) -> Material:
    """PMMA bone cement with a barium-sulfate radiopacifier.

    The default 30 wt% is one of the BaSO4 fractions Jasper et al. tested in Simplex P
    (J Mater Sci Mater Med 2002;13(1):1-5); the fraction in commercial vertebroplasty cements was
    not found (``clinical-anchors.md`` 3c).  Density: ideal mixture of PMMA (1.19) and BaSO4
    (4.49) with no porosity (model choice).
    """
    f = float(baso4_mass_fraction)
    if not 0.0 <= f < 1.0:
        raise InvalidParameterError(f"BaSO4 mass fraction must be in [0, 1), got {baso4_mass_fraction!r}")
    density = 1.0 / ((1.0 - f) / DENSITY_G_CM3["pmma"] + f / BARIUM_SULFATE_DENSITY_G_CM3)
    fractions = (("pmma", 1.0 - f), *((n, f * w) for n, w in _baso4_fractions()))
    return Material(f"PMMA + {100 * f:.0f} wt% BaSO4", fractions, density)


def iodine_contrast(iodine_mg_per_ml: float = 150.0) -> Material:
    """Iodinated contrast solution modelled as water plus iodine at the given concentration.

    Default 150 mg I/mL: a 300 mg I/mL agent (e.g. iohexol "Omnipaque 300", named for its iodine
    content) diluted 1:1 with saline, a model choice for balloon inflation (the dilution used in
    kyphoplasty was not found in the sources read).  The solution is modelled as 1 g/cm^3 of
    water plus ``c`` g/cm^3 of iodine; the water displaced by the solute is ignored.
    """
    c = float(iodine_mg_per_ml) / 1000.0  # g/cm^3
    if not 0.0 <= c <= 1.0:
        raise InvalidParameterError(f"iodine concentration must be 0-1000 mg/mL, got {iodine_mg_per_ml!r}")
    density = 1.0 + c
    fractions = (("water", 1.0 / density), ("iodine", c / density))
    return Material(f"contrast {iodine_mg_per_ml:g} mg I/mL", fractions, density)


def mu_per_mm(material: Material | str, energy_kev: float = DEFAULT_ENERGY_KEV) -> float:
    """Linear attenuation (1/mm) of a :class:`Material` or of a named material
    ("water", "bone", "pmma", "steel", "baso4", "cement", "contrast")."""
    if isinstance(material, str):
        named = {
            "water": water,
            "bone": cortical_bone,
            "pmma": pmma,
            "steel": steel,
            "baso4": barium_sulfate,
            "cement": cement,
            "contrast": iodine_contrast,
        }
        if material not in named:
            raise InvalidParameterError(f"unknown material {material!r}: expected one of {sorted(named)}")
        material = named[material]()
    return material.mu_per_mm(energy_kev)


def hu_to_mu(
    hu: ArrayLike,
    *,
    energy_kev: float = DEFAULT_ENERGY_KEV,
    ct_energy_kev: float = CT_EFFECTIVE_ENERGY_KEV,
    out: NDArray[np.float32] | None = None,
) -> NDArray[np.float32]:
    """Convert HU to linear attenuation (1/mm, float32) at ``energy_kev`` (bilinear model).

    Below 0 HU a voxel is an air-water mixture: mu = mu_w(E) (1 + HU/1000), clipped at 0 for
    HU < -1000.  Above 0 HU it is a water-cortical-bone mixture whose bone fraction is
    HU / HU_bone, where HU_bone is cortical bone's HU at the CT's effective energy; its mu at E is
    mu_w(E) + HU/HU_bone (mu_b(E) - mu_w(E)) (Kinahan et al. 1998).
    """
    e = check_energy(energy_kev)
    e_ct = check_energy(ct_energy_kev)
    mu_w = water().mu_per_mm(e)
    mu_b = cortical_bone().mu_per_mm(e)
    hu_bone = 1000.0 * (cortical_bone().mu_per_mm(e_ct) / water().mu_per_mm(e_ct) - 1.0)
    slope_hi = (mu_b - mu_w) / hu_bone
    h = np.asarray(hu)
    if out is None:
        out = np.empty(h.shape, dtype=np.float32)
    # Two fused passes, float32 throughout to keep memory at one volume.
    np.multiply(h, np.float32(mu_w / 1000.0), out=out, casting="unsafe")
    out += np.float32(mu_w)
    np.maximum(out, np.float32(0.0), out=out)
    above = h > 0
    out[above] = np.float32(mu_w) + h[above].astype(np.float32) * np.float32(slope_hi)
    return out
