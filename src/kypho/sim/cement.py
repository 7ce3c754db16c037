"""PMMA bone cement, bone marrow and the injection cannula.

The cement's viscosity rises with the time since mixing.  **No published curve of viscosity in
Pa*s against minutes for a vertebroplasty cement was found** (searched: Lewis 2011 review,
Trivedi 2023 arXiv:2312.11426, Nicholas 2007, Baroud/Habib 2010, Zderic 2016; numbers were
not in what could be read).  The curves below are therefore a **model choice**, written as
tables of (minutes after mixing, Pa*s) and interpolated log-linearly, anchored on what was
found:

* end of cure at 7.5e4 Pa*s (maximum viscosity reached by three high-viscosity cements,
  Nicholas MKD et al., J Mater Sci Mater Med 2007, doi:10.1007/s10856-007-0125-2);
* cure in 8.7-13 min at 25 degC (same source) and hardening about 11 min at 37 degC for a
  medium-viscosity vertebroplasty cement (ISRN 2011, article 571728);
* a low-viscosity cement about one-half as viscous as a conventional one during the working
  time, 2-5 min (Ferracane JL, Greener EH, Biomater Med Devices Artif Organs 1981;(3):213-24);
* working-phase magnitude: the mobility k/mu = 6.09e-11 m^2/(Pa*s) measured with real cement in
  osteoporotic cores (Baroud et al., "How to determine the permeability for cement infiltration
  of osteoporotic cancellous bone") divided into the cores' permeability 3.4-4.5e-8 m^2 (Baroud
  2004) gives an effective viscosity of about 560-730 Pa*s (arithmetic); a Hagen-Poiseuille
  cannula with the mean in-vivo injection pressure of about 1.7 MPa (PubMed 15738774) gives an
  apparent viscosity of order 100 Pa*s (arithmetic, see :class:`Cannula`).
* Habib 2010 injected a low-viscosity cement at 3.5, 6.5 and 9.5 min and a high-viscosity one
  at 3.5 and 6.5 min, so both must still flow at those times.

Bone marrow: 0.1 Pa*s, inside the 0.044-0.142 Pa*s measured for human yellow marrow
(Biorheology 2011;48(2):89-97) and above the 0.04 Pa*s lower limit of bovine marrow (Bryant
1989).  Vertebral (red) marrow viscosity was NOT FOUND.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from kypho.errors import InvalidParameterError

__all__ = [
    "CEMENTS",
    "DEFAULT_CANNULA",
    "DEFAULT_INJECTION_RATE_ML_PER_MIN",
    "DEFAULT_START_TIME_MIN",
    "MARROW_VISCOSITY_PA_S",
    "Cannula",
    "Cement",
    "get_cement",
]

#: Marrow viscosity (Pa*s), model value inside 0.044-0.142 Pa*s (human yellow marrow,
#: Biorheology 2011;48(2):89-97); vertebral red marrow NOT FOUND.
MARROW_VISCOSITY_PA_S = 0.1

#: Injection rate (mL/min): 3 mL/min = 0.05 mL/s used in an in-vitro injection-force study
#: ("long-distance bone cement injection", discovery.researcher.life); Baroud & Steffen 2005 used
#: 4 cc/min.
DEFAULT_INJECTION_RATE_ML_PER_MIN = 3.0

#: Start of injection after mixing (min), model choice inside the 3.5-9.5 min window of Habib
#: 2010 and the 300-500 s "early" injections of PubMed 15738774.
DEFAULT_START_TIME_MIN = 5.0

#: Viscosity at which the cement counts as set (Pa*s): Nicholas 2007 maximum viscosity.
SET_VISCOSITY_PA_S = 7.5e4


@dataclass(frozen=True)
class Cement:
    """A PMMA cement: viscosity against time after mixing.

    Parameters
    ----------
    name : str
        Registry key.
    times_min : tuple of float
        Minutes after the start of mixing, increasing.
    viscosity_pa_s : tuple of float
        Apparent viscosity at those times (Pa*s); interpolated log-linearly, held constant
        before the first point; the last point is the set viscosity.
    description : str
        What the curve represents and where its anchors come from.
    """

    name: str
    times_min: tuple[float, ...]
    viscosity_pa_s: tuple[float, ...]
    description: str = ""

    def __post_init__(self) -> None:
        t = np.asarray(self.times_min, float)
        mu = np.asarray(self.viscosity_pa_s, float)
        if t.ndim != 1 or t.size < 2 or t.size != mu.size:
            raise InvalidParameterError(f"cement {self.name!r}: need >= 2 (time, viscosity) pairs")
        if np.any(np.diff(t) <= 0) or np.any(mu <= 0):
            raise InvalidParameterError(
                f"cement {self.name!r}: times must increase and viscosities be positive"
            )

    @property
    def set_time_min(self) -> float:
        """Minutes after mixing when the cement has set (last table point)."""
        return float(self.times_min[-1])

    def viscosity_at(self, t_min: float) -> float:
        """Viscosity (Pa*s) ``t_min`` minutes after mixing (log-linear interpolation)."""
        return float(np.exp(np.interp(t_min, self.times_min, np.log(self.viscosity_pa_s))))

    def has_set(self, t_min: float) -> bool:
        """True once ``t_min`` reaches the set time."""
        return t_min >= self.set_time_min


#: Registry of cements.  All three are MODEL CHOICES (see the module docstring for anchors).
CEMENTS: MappingProxyType[str, Cement] = MappingProxyType(
    {
        "low_viscosity": Cement(
            "low_viscosity",
            (2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 13.0),
            (30.0, 60.0, 120.0, 300.0, 1000.0, 5000.0, SET_VISCOSITY_PA_S),
            "Runny vertebroplasty cement: ~60-120 Pa*s in the working phase (order of the "
            "cannula-derived apparent viscosity), set at 13 min (Nicholas 2007 range).",
        ),
        "standard": Cement(
            "standard",
            (2.0, 4.0, 6.0, 8.0, 10.0, 12.0),
            (60.0, 120.0, 240.0, 600.0, 3000.0, SET_VISCOSITY_PA_S),
            "Conventional cement: twice the low-viscosity one in the working phase "
            "(Ferracane 1981), set at 12 min.",
        ),
        "high_viscosity": Cement(
            "high_viscosity",
            (2.0, 4.0, 6.0, 8.0, 10.0, 11.0),
            (300.0, 500.0, 900.0, 2000.0, 8000.0, SET_VISCOSITY_PA_S),
            "Dough-like high-viscosity cement: ~500-900 Pa*s in the working phase (order of "
            "the Baroud mobility-derived 560-730 Pa*s), set at 11 min (ISRN 2011 ~11 min).",
        ),
    }
)


def get_cement(cement: str | Cement) -> Cement:
    """Return a :class:`Cement` from a registry name or pass one through.

    Raises
    ------
    InvalidParameterError
        For an unknown name.
    """
    if isinstance(cement, Cement):
        return cement
    key = str(cement).strip().lower().replace("-", "_").replace(" ", "_")
    if key not in CEMENTS:
        raise InvalidParameterError(
            f"unknown cement {cement!r}: expected one of {', '.join(sorted(CEMENTS))}"
        )
    return CEMENTS[key]


@dataclass(frozen=True)
class Cannula:
    """The injection cannula as a lumped Hagen-Poiseuille resistance.

    Baroud & Steffen (Eur Spine J 2005;14:474-9, PMC3454663) found about 95 % of the injection
    pressure spent in the cannula; the pressure drop is ``128 mu L Q / (pi d^4)``.  The bore and
    length are a **model choice**: an 11 G needle (Provenzano 2004: 11-13 G for VP) taken as
    2.0 mm inner diameter and 120 mm long (KP cannula gauge NOT FOUND).  With these, 100 Pa*s
    at 3 mL/min gives about 1.5 MPa, the order of the ~1.7 MPa mean in-vivo injection pressures
    (PubMed 15738774) (arithmetic).
    """

    inner_diameter_mm: float = 2.0
    length_mm: float = 120.0

    def __post_init__(self) -> None:
        if self.inner_diameter_mm <= 0 or self.length_mm <= 0:
            raise InvalidParameterError(
                f"cannula: diameter and length must be positive, got "
                f"{self.inner_diameter_mm} mm, {self.length_mm} mm"
            )

    def pressure_drop_pa(self, viscosity_pa_s: float, rate_mm3_per_s: float) -> float:
        """Hagen-Poiseuille pressure drop (Pa) for a flow in mm^3/s."""
        d_m = self.inner_diameter_mm * 1e-3
        q_m3 = rate_mm3_per_s * 1e-9
        return 128.0 * viscosity_pa_s * (self.length_mm * 1e-3) * q_m3 / (math.pi * d_m**4)


DEFAULT_CANNULA = Cannula()
