"""Balloon inflation and cement injection on one vertebral body (research and education only).

>>> from kypho.sim import SimulationSpec, simulate, synthetic_body
>>> r = simulate(synthetic_body(), SimulationSpec(technique="vertebroplasty", volume_ml=2.0))  # doctest: +SKIP

Modules: :mod:`~kypho.sim.spec` (the procedure's options), :mod:`~kypho.sim.bone` (porous
model, calibration, exits), :mod:`~kypho.sim.cement` (viscosity curves, cannula),
:mod:`~kypho.sim.flow` (two-phase Darcy injection), :mod:`~kypho.sim.balloon` (inflatable bone
tamp), :mod:`~kypho.sim.simulate` (the procedure), :mod:`~kypho.sim.from_case` (a case's
measured anatomy as a body, default approach), :mod:`~kypho.sim.pipeline` (a case: simulation,
frames, dose), :mod:`~kypho.sim.frames` (fluoroscopy frames, contact sheet, animation, dose),
:mod:`~kypho.sim.report` (figures and the report section) and :mod:`~kypho.sim.outputs` (the
files ``kypho simulate`` writes).  Every name loads its module on first use.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "balloon": ["BALLOONS", "Balloon", "BalloonResult", "inflate"],
        "bone": [
            "DEFAULT_CALIBRATION",
            "BodyGeometry",
            "BoneModel",
            "BreakMask",
            "DensityCalibration",
            "Opening",
            "build_bone_model",
        ],
        "cement": ["CEMENTS", "Cannula", "Cement", "get_cement"],
        "flow": ["InjectionResult", "InjectionSettings", "LeakRecord", "inject"],
        "frames": [
            "ProcedureFrame",
            "animation_gif",
            "contact_sheet_png",
            "procedure_dose",
            "procedure_frames",
        ],
        "from_case": ["body_from_case", "default_approach", "trocar_axes"],
        "outputs": ["simulation_to_dict", "write_outputs"],
        "pipeline": [
            "CaseApproach",
            "CaseSimulation",
            "build_case_model",
            "case_approach",
            "simulate_case",
        ],
        "report": ["sim_section"],
        "simulate": ["SimulationResult", "default_trocar_tips", "simulate"],
        "spec": ["TECHNIQUES", "SimulationSpec"],
        "synthetic": ["BreakSpec", "CleftSpec", "synthetic_body"],
    },
)
