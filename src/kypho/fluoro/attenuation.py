"""Linear attenuation: HU to mu at the fluoroscopy beam's effective energy, and instrument materials.

Units: linear attenuation coefficients are returned **per millimetre** (mu in 1/mm), so a line
integral over a path in world mm is dimensionless.  Mass attenuation coefficients are in cm^2/g
(as tabulated), densities in g/cm^3.

Sources (see ``docs/references/fluoro.md``)
-------------------------------------------
- Mass attenuation coefficients mu/rho (coherent scattering included): Hubbell JH, Seltzer SM,
  *Tables of X-Ray Mass Attenuation Coefficients and Mass Energy-Absorption Coefficients*,
  NIST Standard Reference Database 126 (NISTIR 5632), tables 3 and 4:
  physics.nist.gov/PhysRefData/XrayMassCoef/ComTab/{water,bone,pmma}.html and
  ElemTab/z{08,16,26,53,56}.html.  Values at 40-100 keV were copied from those tables
  (transcribed in the public ``roentgen`` package's data files, which name these pages).
- Densities of water (1.000), cortical bone ICRU-44 (1.920), PMMA (1.190) g/cm^3: NIST table 2;
  iron (7.874 g/cm^3): NIST table 1.
- Bilinear HU-to-mu conversion (air-water mixture below 0 HU, water-bone mixture above): the
  scheme of Kinahan PE et al., "Attenuation correction for a combined 3D PET/CT scanner",
  Med Phys 1998;25(10):2046-53.  The break point at 0 HU is a model choice.
- Effective energies: the default fluoroscopy energy (55 keV) is the mean photon energy of an
  80 kVp spectrum (tungsten anode, 12 degree anode angle, 3 mm Al) after 200 mm water, and the CT
  energy (70 keV) that of a 120 kVp spectrum with 6 mm Al after 200 mm water, both computed with
  SpekPy 2.5.4 (Poludniowski G et al., Med Phys 2021;48(7):3630-7).  Tube potentials, filtration
  and the 200 mm water path are model choices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

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

#: Energies (keV) at which mu/rho is tabulated below (NIST grid points, no absorption edge
#: of the listed elements lies between 40 and 100 keV).
ENERGY_GRID_KEV: tuple[float, ...] = (40.0, 50.0, 60.0, 80.0, 100.0)

#: mu/rho (cm^2/g) at ENERGY_GRID_KEV, NIST SRD 126 (Hubbell & Seltzer) tables 3 and 4.
MASS_ATTENUATION_CM2_G: dict[str, tuple[float, ...]] = {
    "water": (0.2683, 0.2269, 0.2059, 0.1837, 0.1707),  # ComTab/water.html
    "bone_cortical": (0.6655, 0.4242, 0.3148, 0.2229, 0.1855),  # ComTab/bone.html (ICRU-44)
    "pmma": (0.2350, 0.2074, 0.1924, 0.1751, 0.1641),  # ComTab/pmma.html
    "iron": (3.629, 1.958, 1.205, 0.5952, 0.3717),  # ElemTab/z26.html
    "iodine": (22.10, 12.32, 7.579, 3.510, 1.942),  # ElemTab/z53.html (above K edge 33.17 keV)
    "barium": (24.57, 13.79, 8.511, 3.963, 2.196),  # ElemTab/z56.html (above K edge 37.44 keV)
    "sulfur": (0.9872, 0.5849, 0.4053, 0.2585, 0.2020),  # ElemTab/z16.html
    "oxygen": (0.2585, 0.2132, 0.1907, 0.1678, 0.1551),  # ElemTab/z08.html
}

#: Densities in g/cm^3: NIST SRD 126 tables 1 (iron) and 2 (water, bone, PMMA).
DENSITY_G_CM3: dict[str, float] = {
    "water": 1.000,
    "bone_cortical": 1.920,
    "pmma": 1.190,
    "iron": 7.874,
}

#: Density of barium sulfate (barite), g/cm^3.  Handbook value 4.49 (CRC Handbook of Chemistry
#: and Physics, physical constants of inorganic compounds); quoted from the handbook, not re-read
#: for this project: verify before relying on cement density.
BARIUM_SULFATE_DENSITY_G_CM3 = 4.49

#: Standard atomic weights (IUPAC 2021 abridged values), used for BaSO4's mass fractions.
_ATOMIC_WEIGHT = {"barium": 137.33, "sulfur": 32.06, "oxygen": 15.999}

#: Default effective energy of the fluoroscopy beam (keV); see the module docstring.
DEFAULT_ENERGY_KEV = 55.0
#: Effective energy at which the CT's HU are interpreted (keV); see the module docstring.
CT_EFFECTIVE_ENERGY_KEV = 70.0


def _check_energy(energy_kev: float) -> float:
    e = float(energy_kev)
    if not np.isfinite(e) or e < ENERGY_GRID_KEV[0] or e > ENERGY_GRID_KEV[-1]:
        raise InvalidParameterError(
            f"effective energy {energy_kev!r} keV is outside the tabulated range "
            f"{ENERGY_GRID_KEV[0]:g}-{ENERGY_GRID_KEV[-1]:g} keV"
        )
    return e


def mass_attenuation_cm2_g(name: str, energy_kev: float) -> float:
    """mu/rho of a tabulated material (cm^2/g), log-log interpolated between NIST grid points."""
    if name not in MASS_ATTENUATION_CM2_G:
        raise InvalidParameterError(
            f"unknown material {name!r}: expected one of {sorted(MASS_ATTENUATION_CM2_G)}"
        )
    e = _check_energy(energy_kev)
    table = np.log(np.asarray(MASS_ATTENUATION_CM2_G[name]))
    return float(np.exp(np.interp(np.log(e), np.log(ENERGY_GRID_KEV), table)))


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
    e = _check_energy(energy_kev)
    e_ct = _check_energy(ct_energy_kev)
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
