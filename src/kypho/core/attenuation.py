"""X-ray attenuation data shared by every stage: one NIST table, one CT effective energy.

The fluoroscopy renderer (:mod:`kypho.fluoro.attenuation`: HU to linear attenuation at the
C-arm's energy, instruments and cement) and the simulator's density calibration
(:class:`kypho.sim.bone.DensityCalibration`: HU to K2HPO4-equivalent bone mineral density) read
the same coefficients and interpret the same CT at the same effective energy.

Sources (see ``docs/references/fluoro.md`` and ``docs/references/sim.md``)
-------------------------------------------------------------------------
- Mass attenuation coefficients mu/rho (coherent scattering included): Hubbell JH, Seltzer SM,
  *Tables of X-Ray Mass Attenuation Coefficients and Mass Energy-Absorption Coefficients*,
  NIST Standard Reference Database 126 (NISTIR 5632), tables 3 and 4
  (physics.nist.gov/PhysRefData/XrayMassCoef/ComTab/{water,bone,pmma}.html and
  ElemTab/z{08,16,26,53,56}.html; values at 40-100 keV transcribed in the public ``roentgen``
  package's data files, which name these pages).  ICRU-44 blood, adipose tissue, skeletal
  muscle and dry air from the same tables (tab4), and K2HPO4 from NIST XCOM, as tabulated in
  Bonelab/Ogo ``ogo/dat/MassAttenuationTables.py``.
- Densities (g/cm^3): NIST SRD 126 tables 1 and 2 (water 1.000, ICRU-44 cortical bone 1.920,
  PMMA 1.190, iron 7.874, whole blood 1.06, adipose 0.95, skeletal muscle 1.05, dry air
  1.205e-3); K2HPO4 crystal 2.44 (standard-state value, as listed for dipotassium phosphate).
- The CT's effective energy, :data:`CT_EFFECTIVE_ENERGY_KEV` = 70 keV: the mean photon energy
  of a 120 kVp spectrum (tungsten anode, 12 degree anode angle, 6 mm Al) after 200 mm of water,
  computed with SpekPy 2.5.4 (Poludniowski G et al., Med Phys 2021;48(7):3630-7).  Tube
  potential, filtration and the water path are model choices.
"""

from __future__ import annotations

import numpy as np

from kypho.errors import InvalidParameterError

__all__ = [
    "CT_EFFECTIVE_ENERGY_KEV",
    "DENSITY_G_CM3",
    "ENERGY_GRID_KEV",
    "MASS_ATTENUATION_CM2_G",
    "check_energy",
    "mass_attenuation_cm2_g",
]

#: Energies (keV) at which mu/rho is tabulated below (NIST grid points, no absorption edge
#: of the listed elements lies between 40 and 100 keV).
ENERGY_GRID_KEV: tuple[float, ...] = (40.0, 50.0, 60.0, 80.0, 100.0)

#: mu/rho (cm^2/g) at :data:`ENERGY_GRID_KEV` (sources in the module docstring).
MASS_ATTENUATION_CM2_G: dict[str, tuple[float, ...]] = {
    "water": (0.2683, 0.2269, 0.2059, 0.1837, 0.1707),  # ComTab/water.html
    "bone_cortical": (0.6655, 0.4242, 0.3148, 0.2229, 0.1855),  # ComTab/bone.html (ICRU-44)
    "pmma": (0.2350, 0.2074, 0.1924, 0.1751, 0.1641),  # ComTab/pmma.html
    "iron": (3.629, 1.958, 1.205, 0.5952, 0.3717),  # ElemTab/z26.html
    "iodine": (22.10, 12.32, 7.579, 3.510, 1.942),  # ElemTab/z53.html (above K edge 33.17 keV)
    "barium": (24.57, 13.79, 8.511, 3.963, 2.196),  # ElemTab/z56.html (above K edge 37.44 keV)
    "sulfur": (0.9872, 0.5849, 0.4053, 0.2585, 0.2020),  # ElemTab/z16.html
    "oxygen": (0.2585, 0.2132, 0.1907, 0.1678, 0.1551),  # ElemTab/z08.html
    "blood": (0.2715, 0.2278, 0.2057, 0.1827, 0.1695),  # tab4, ICRU-44 whole blood
    "adipose": (0.2396, 0.2123, 0.1974, 0.1800, 0.1688),  # tab4, ICRU-44 adipose tissue
    "muscle": (0.2685, 0.2262, 0.2048, 0.1823, 0.1693),  # tab4, ICRU-44 skeletal muscle
    "air": (0.2485, 0.2080, 0.1875, 0.1662, 0.1541),  # tab4, dry air (near sea level)
    "k2hpo4": (0.9327, 0.5573, 0.3890, 0.2508, 0.1972),  # XCOM, via Bonelab/Ogo
}

#: Densities in g/cm^3 (sources in the module docstring).
DENSITY_G_CM3: dict[str, float] = {
    "water": 1.000,
    "bone_cortical": 1.920,
    "pmma": 1.190,
    "iron": 7.874,
    "blood": 1.06,
    "adipose": 0.95,
    "muscle": 1.05,
    "air": 1.205e-3,
    "k2hpo4": 2.44,
}

#: Effective energy at which a CT's HU are interpreted (keV), for the renderer and the density
#: calibration alike; see the module docstring.
CT_EFFECTIVE_ENERGY_KEV = 70.0


def check_energy(energy_kev: float) -> float:
    """``energy_kev`` as a float inside the tabulated range (else a clear error)."""
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
    e = check_energy(energy_kev)
    table = np.log(np.asarray(MASS_ATTENUATION_CM2_G[name]))
    return float(np.exp(np.interp(np.log(e), np.log(ENERGY_GRID_KEV), table)))
