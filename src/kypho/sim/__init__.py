"""Balloon inflation and cement injection on one vertebral body (research and education only).

>>> from kypho.sim import simulate, synthetic_body
>>> r = simulate(synthetic_body(), technique="vertebroplasty", volume_ml=2.0)  # doctest: +SKIP

Modules: :mod:`~kypho.sim.bone` (porous model, calibration, exits), :mod:`~kypho.sim.cement`
(viscosity curves, cannula), :mod:`~kypho.sim.flow` (two-phase Darcy injection),
:mod:`~kypho.sim.balloon` (inflatable bone tamp), :mod:`~kypho.sim.simulate` (the procedure),
:mod:`~kypho.sim.from_case` (phantom cases and real CTs, default approach), :mod:`~kypho.sim.pipeline`
(a case: simulation, frames, dose), :mod:`~kypho.sim.frames` (fluoroscopy frames, contact sheet,
animation, dose) and :mod:`~kypho.sim.report` (figures and the report section).  The last three
import :mod:`kypho.fluoro` and load lazily.
"""

from kypho.sim.balloon import BALLOONS, Balloon, BalloonResult, inflate, wedge_angle_deg
from kypho.sim.bone import (
    DEFAULT_CALIBRATION,
    BodyGeometry,
    BoneModel,
    BreakMask,
    DensityCalibration,
    Opening,
    build_bone_model,
)
from kypho.sim.cement import CEMENTS, Cannula, Cement, get_cement
from kypho.sim.flow import InjectionResult, InjectionSettings, LeakRecord, inject
from kypho.sim.from_case import (
    body_from_case,
    body_from_ct,
    calibration_from_case,
    default_approach,
)
from kypho.sim.simulate import SimulationResult, default_trocar_tips, simulate
from kypho.sim.synthetic import BreakSpec, CleftSpec, synthetic_body

__all__ = [
    "BALLOONS",
    "CEMENTS",
    "DEFAULT_CALIBRATION",
    "Balloon",
    "BalloonResult",
    "BodyGeometry",
    "BoneModel",
    "BreakMask",
    "BreakSpec",
    "Cannula",
    "CaseApproach",
    "CaseSimulation",
    "Cement",
    "CleftSpec",
    "DensityCalibration",
    "InjectionResult",
    "InjectionSettings",
    "LeakRecord",
    "Opening",
    "ProcedureFrame",
    "SimulationResult",
    "animation_gif",
    "body_from_case",
    "body_from_ct",
    "build_bone_model",
    "calibration_from_case",
    "case_approach",
    "contact_sheet_png",
    "default_approach",
    "default_trocar_tips",
    "get_cement",
    "inflate",
    "inject",
    "procedure_dose",
    "procedure_frames",
    "sim_section",
    "simulate",
    "simulate_case",
    "synthetic_body",
    "wedge_angle_deg",
]

_LAZY = {
    "CaseApproach": "kypho.sim.pipeline",
    "CaseSimulation": "kypho.sim.pipeline",
    "case_approach": "kypho.sim.pipeline",
    "simulate_case": "kypho.sim.pipeline",
    "ProcedureFrame": "kypho.sim.frames",
    "animation_gif": "kypho.sim.frames",
    "contact_sheet_png": "kypho.sim.frames",
    "procedure_dose": "kypho.sim.frames",
    "procedure_frames": "kypho.sim.frames",
    "sim_section": "kypho.sim.report",
}


def __getattr__(name: str) -> object:
    """Load the fluoroscopy-dependent parts on first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kypho.sim' has no attribute {name!r}")
