"""Simulate a procedure on one level of a case: body, approach, simulation, frames and dose.

:func:`simulate_case` is what ``kypho simulate`` runs, and the API entry point for a case:

>>> from kypho.sim.pipeline import simulate_case
>>> out = simulate_case(case, "L1", technique="kyphoplasty")  # doctest: +SKIP

Trocar tips and directions come from ``tips_ras_mm`` / ``axes_ras`` when given (a plan from
:mod:`kypho.plan` plugs in there), else from :func:`kypho.sim.from_case.default_approach`.

Research and education software, not a medical device.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from kypho.core.case import Case
from kypho.core.levels import parse_level
from kypho.errors import InvalidParameterError
from kypho.fluoro import DoseSession, DoseSummary
from kypho.sim.bone import BoneModel, build_bone_model
from kypho.sim.cement import DEFAULT_INJECTION_RATE_ML_PER_MIN, DEFAULT_START_TIME_MIN
from kypho.sim.frames import ProcedureFrame, procedure_dose, procedure_frames
from kypho.sim.from_case import body_from_case, default_approach, trocar_axes
from kypho.sim.simulate import TECHNIQUES, SimulationResult, simulate

__all__ = ["CaseSimulation", "build_case_model", "simulate_case"]

Progress = Callable[[float, str], None]


@dataclass(frozen=True, eq=False)
class CaseSimulation:
    """A simulated procedure on a case, with its fluoroscopy frames and dose."""

    result: SimulationResult
    frames: tuple[ProcedureFrame, ...]
    dose: DoseSummary
    approach: str

    def summary(self) -> dict[str, object]:
        """JSON-able key figures (simulation, approach, fluoroscopy time and dose)."""
        d = self.result.summary()
        d["approach"] = self.approach
        d["trocar_tips_ras_mm"] = [[round(x, 2) for x in t]
                                   for t in self.result.trocar_tips_ras_mm]
        d["trocar_axes_ras"] = [[round(x, 4) for x in a] for a in self.result.trocar_axes_ras]
        d["height_restoration_pct"] = (None if self.result.height_restoration_pct is None
                                       else round(self.result.height_restoration_pct, 1))
        d["leaked_ml"] = round(self.result.leaked_volume_ml, 4)
        if self.result.balloon is not None:
            b = self.result.balloon
            d["balloon"] = {
                "max_pressure_mpa": round(b.max_pressure_mpa, 3),
                "stop_reason": b.stop_reason,
                "lift_ml": round(b.lift_volume_ml, 3),
                "pv_curve_ml_mpa": [[round(float(v), 3), round(float(p), 3)]
                                    for v, p in b.pv_curve],
            }
        d["fluoroscopy"] = {
            "time_s": round(self.dose.fluoroscopy_time_s, 1),
            "frames": self.dose.frames,
            "reference_air_kerma_mgy": round(self.dose.reference_air_kerma_mgy, 3),
            "dap_gy_cm2": round(self.dose.dap_gy_cm2, 4),
            "note": "lateral fluoroscopy during injection plus spot frames; trocar placement "
                    "not counted",
        }
        d["notes"] = list(self.result.notes)
        d["disclaimer"] = "research and education software, not a medical device"
        return d


def build_case_model(case: Case, level: str, *, seed: int = 0, spacing_mm: float = 1.0
                     ) -> BoneModel:
    """The porous model of ``level`` of ``case`` (see :func:`body_from_case`)."""
    return build_bone_model(body_from_case(case, parse_level(level)), seed=seed,
                            spacing_mm=spacing_mm)


def simulate_case(
    case: Case,
    level: str,
    *,
    technique: Literal["kyphoplasty", "vertebroplasty"] = "kyphoplasty",
    model: BoneModel | None = None,
    tips_ras_mm: Sequence[ArrayLike] | None = None,
    axes_ras: Sequence[ArrayLike] | None = None,
    bipedicular: bool | None = None,
    cement: str = "standard",
    volume_ml: float | None = None,
    rate_ml_per_min: float = DEFAULT_INJECTION_RATE_ML_PER_MIN,
    start_time_min: float = DEFAULT_START_TIME_MIN,
    balloon: str = "15/3",
    seed: int = 0,
    mode: Literal["full", "preview"] = "full",
    frames: bool = True,
    frame_size: int = 192,
    progress: Progress | None = None,
) -> CaseSimulation:
    """Simulate ``technique`` on ``level`` of ``case``, render the frames and count the dose.

    Parameters
    ----------
    tips_ras_mm, axes_ras : optional
        Trocar tips (RAS mm) and directions (pointing into the body); default
        :func:`default_approach`.  Tips must lie in the body's cancellous bone.
    bipedicular : bool, optional
        Approach for the default tips: default bipedicular for kyphoplasty, unipedicular for
        vertebroplasty (model choice).
    frames : bool
        Render the AP/lateral frames (needs the case's CT).

    Raises
    ------
    InvalidParameterError
        Bad parameters (see :func:`kypho.sim.simulate.simulate`), or axes without tips.
    NotMeasurableError
        The level cannot be modelled (no label, no tissue map).
    """
    if technique not in TECHNIQUES:
        raise InvalidParameterError(
            f"unknown technique {technique!r}: expected kyphoplasty or vertebroplasty"
        )
    level = parse_level(level)
    if model is None:
        model = build_case_model(case, level, seed=seed)
    if tips_ras_mm is None:
        if axes_ras is not None:
            raise InvalidParameterError("trocar axes given without trocar tips")
        bip = (technique == "kyphoplasty") if bipedicular is None else bool(bipedicular)
        tips, axes = default_approach(case, level, model, technique=technique, bipedicular=bip)
        approach = ("bipedicular" if bip else "unipedicular") + " (default target)"
    else:
        tips = tuple(tuple(float(x) for x in np.asarray(t, float).reshape(-1)) for t in tips_ras_mm)
        if axes_ras is None:
            axes = trocar_axes(case, level, model, tips)
        else:
            axes = tuple(tuple(float(x) for x in np.asarray(a, float).reshape(-1))
                         for a in axes_ras)
        approach = f"{len(tips)} given tip(s)"
    result = simulate(
        model, technique=technique, trocar_tips_ras_mm=tips, trocar_axes_ras=axes,
        cement=cement, volume_ml=volume_ml, rate_ml_per_min=rate_ml_per_min,
        start_time_min=start_time_min, balloon=balloon, seed=seed, mode=mode,
        progress=None if progress is None else (lambda f, m: progress(0.8 * f, m)),
    )
    shown: tuple[ProcedureFrame, ...] = ()
    if frames:
        if progress is not None:
            progress(0.8, "rendering fluoroscopy frames")
        shown = procedure_frames(case, result, size=frame_size, dose=DoseSession())
    dose = procedure_dose(result, case, rendered_frames=len(shown))
    if progress is not None:
        progress(1.0, "done")
    return CaseSimulation(result=result, frames=shown, dose=dose, approach=approach)
