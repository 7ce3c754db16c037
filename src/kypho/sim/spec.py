"""What to simulate: :class:`SimulationSpec`, every option of a procedure with its default once.

>>> from kypho.sim import SimulationSpec
>>> spec = SimulationSpec(technique="vertebroplasty", volume_ml=3.0)
>>> spec.with_(cement="high_viscosity").cement
'high_viscosity'

:func:`kypho.sim.simulate` (one body) and :func:`kypho.sim.simulate_case` (a level of a case)
take a spec; ``kypho simulate``'s options map onto its fields.  A spec is validated once, when
it is made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal

from kypho.errors import InvalidParameterError
from kypho.sim.balloon import WORKING_PRESSURE_CAP_MPA, Balloon, get_balloon
from kypho.sim.bone import DEFAULT_CALIBRATION, DensityCalibration
from kypho.sim.cement import (
    DEFAULT_CANNULA,
    DEFAULT_INJECTION_RATE_ML_PER_MIN,
    DEFAULT_START_TIME_MIN,
    MARROW_VISCOSITY_PA_S,
    Cannula,
    Cement,
    get_cement,
)
from kypho.sim.flow import VISIBLE_LEAK_ML

__all__ = ["TECHNIQUES", "SimulationSpec", "Technique"]

TECHNIQUES = ("kyphoplasty", "vertebroplasty")
Technique = Literal["kyphoplasty", "vertebroplasty"]


def _positive(name: str, value: float, unit: str, *, zero_ok: bool = False) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not zero_ok):
        what = "at least 0" if zero_ok else "positive"
        raise InvalidParameterError(f"{name} must be {what}, got {value!r} {unit}".rstrip())


@dataclass(frozen=True)
class SimulationSpec:
    """A simulated procedure: technique, cement, balloon, model and approach options.

    Parameters
    ----------
    technique : {'kyphoplasty', 'vertebroplasty'}
    cement : str or Cement
        ``"low_viscosity"``, ``"standard"`` or ``"high_viscosity"`` (:data:`kypho.sim.CEMENTS`).
    volume_ml : float or None
        Planned cement volume; default 4.0 mL (VP) or the cavity volume + 10 % (KP).
    rate_ml_per_min : float
        Total injection rate (split between needles).
    start_time_min : float
        Minutes after mixing when injection starts.
    balloon : str or Balloon
        Balloon size (kyphoplasty): 10/2, 10/3, 15/2, 15/3, 20/3.
    balloon_volume_ml : float or None
        Inflation volume per balloon (default the device maximum).
    preload_n : float
        Axial load on the body during inflation (N).
    pressure_cap_mpa : float
        Highest balloon pressure.
    visible_leak_ml : float or None
        Stop the injection once this much cement has leaked (None: never).
    seed : int
        Seed of the unresolved permeability heterogeneity.
    mode : {'full', 'preview'}
        Time-stepped Darcy injection, or shortest-path filling order.
    spacing_mm, heterogeneity_sigma, venous_exits, calibration
        The bone model (:func:`kypho.sim.build_bone_model`).
    marrow_viscosity_pa_s : float
        Viscosity of the marrow the cement displaces.
    cannula : Cannula
        The injection cannula.
    bipedicular : bool or None
        On a case: one trocar per pedicle (default: kyphoplasty yes, vertebroplasty no).
    use_plan : bool
        On a case: trocar tips from :func:`kypho.plan.plan_level` (else the default targets).
    gauge : int
        On a case: the trocar gauge planned.
    frames : bool
        On a case: render the AP and lateral frames of the procedure.
    frame_size : int
        Their size in pixels (32-1024).
    """

    technique: Technique = "kyphoplasty"
    cement: str | Cement = "standard"
    volume_ml: float | None = None
    rate_ml_per_min: float = DEFAULT_INJECTION_RATE_ML_PER_MIN
    start_time_min: float = DEFAULT_START_TIME_MIN
    balloon: str | Balloon = "15/3"
    balloon_volume_ml: float | None = None
    preload_n: float = 0.0
    pressure_cap_mpa: float = WORKING_PRESSURE_CAP_MPA
    visible_leak_ml: float | None = VISIBLE_LEAK_ML
    seed: int = 0
    mode: Literal["full", "preview"] = "full"
    spacing_mm: float = 1.0
    heterogeneity_sigma: float = 0.3
    venous_exits: bool = True
    calibration: DensityCalibration = DEFAULT_CALIBRATION
    marrow_viscosity_pa_s: float = MARROW_VISCOSITY_PA_S
    cannula: Cannula = DEFAULT_CANNULA
    bipedicular: bool | None = None
    use_plan: bool = True
    gauge: int = 11
    frames: bool = True
    frame_size: int = 192

    def __post_init__(self) -> None:
        if self.technique not in TECHNIQUES:
            raise InvalidParameterError(
                f"unknown technique {self.technique!r}: expected kyphoplasty or vertebroplasty"
            )
        if self.mode not in ("full", "preview"):
            raise InvalidParameterError(f"unknown mode {self.mode!r}: expected full or preview")
        get_cement(self.cement)
        get_balloon(self.balloon)
        if self.volume_ml is not None:
            _positive("cement volume", self.volume_ml, "mL")
        _positive("injection rate", self.rate_ml_per_min, "mL/min")
        _positive("start time after mixing", self.start_time_min, "min", zero_ok=True)
        if self.balloon_volume_ml is not None:
            _positive("balloon volume", self.balloon_volume_ml, "mL")
        _positive("preload", self.preload_n, "N", zero_ok=True)
        _positive("pressure cap", self.pressure_cap_mpa, "MPa")
        if self.visible_leak_ml is not None:
            _positive("visible leak", self.visible_leak_ml, "mL")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise InvalidParameterError(f"seed must be a non-negative integer, got {self.seed!r}")
        _positive("heterogeneity sigma", self.heterogeneity_sigma, "", zero_ok=True)
        if not (isinstance(self.spacing_mm, int | float) and 0.2 <= self.spacing_mm <= 3.0):
            raise InvalidParameterError(
                f"working grid spacing must be 0.2-3 mm, got {self.spacing_mm!r}"
            )
        _positive("marrow viscosity", self.marrow_viscosity_pa_s, "Pa s")
        if self.bipedicular not in (None, True, False):
            raise InvalidParameterError(f"bipedicular must be True, False or None, got "
                                        f"{self.bipedicular!r}")
        if isinstance(self.frame_size, bool) or not isinstance(self.frame_size, int) or not (
            32 <= self.frame_size <= 1024
        ):
            raise InvalidParameterError(
                f"frame size must be 32-1024 pixels, got {self.frame_size!r}"
            )
        from kypho.plan.paths import gauge_outer_diameter_mm

        gauge_outer_diameter_mm(self.gauge)

    def with_(self, **changes: Any) -> SimulationSpec:
        """A copy with some options changed (validated again)."""
        return replace(self, **changes) if changes else self

    @property
    def two_trocars(self) -> bool:
        """Whether the default approach uses both pedicles."""
        if self.bipedicular is None:
            return self.technique == "kyphoplasty"
        return bool(self.bipedicular)
