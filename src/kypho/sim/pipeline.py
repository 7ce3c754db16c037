"""Simulate a procedure on one level of a case: body, approach, simulation, frames and dose.

:func:`simulate_case` is what ``kypho simulate`` runs, and the API entry point for a case:

>>> from kypho.sim.pipeline import simulate_case
>>> out = simulate_case(case, "L1", technique="kyphoplasty")  # doctest: +SKIP

Everything upstream comes from the case's measured anatomy (:class:`kypho.anatomy.SpineAnatomy`)
and, when given, the case's assessment and trocar plan, so nothing is measured twice.  Trocar
tips and directions come from ``tips_ras_mm`` / ``axes_ras`` when given, else from the trocar
plan (:func:`case_approach`: the planned targets are the tips, the entry-to-target lines the
axes; bipedicular for kyphoplasty and the same tips for vertebroplasty), falling back to
:func:`kypho.sim.from_case.default_approach` with a note when planning fails.

Research and education software, not a medical device.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

from kypho.anatomy.spine import SpineAnatomy
from kypho.core.case import Case
from kypho.core.levels import parse_level
from kypho.errors import InvalidParameterError, KyphoError
from kypho.fluoro.dose import DoseSession, DoseSummary
from kypho.sim.balloon import Balloon, get_balloon
from kypho.sim.bone import BoneModel, build_bone_model
from kypho.sim.frames import ProcedureFrame, procedure_dose, procedure_frames
from kypho.sim.from_case import body_from_case, default_approach, trocar_axes
from kypho.sim.simulate import SimulationResult, simulate
from kypho.sim.spec import SimulationSpec

if TYPE_CHECKING:
    from kypho.anatomy.pedicle import PedicleAnatomy
    from kypho.assess.model import Assessment
    from kypho.plan.search import LevelPlan

__all__ = ["CaseApproach", "CaseSimulation", "build_case_model", "case_approach", "simulate_case"]

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


@dataclass(frozen=True)
class CaseApproach:
    """Trocar tips (RAS mm), unit directions into the body, how they were chosen, and notes."""

    tips_ras_mm: tuple[tuple[float, float, float], ...]
    axes_ras: tuple[tuple[float, float, float], ...]
    description: str
    notes: tuple[str, ...] = ()
    #: True when the tips are planned trocar targets (the far end of the working channel):
    #: a kyphoplasty balloon then sits behind them, not centred on them.
    tips_are_targets: bool = False


#: How far (mm) a planned target may be moved to reach the cancellous bone of the working grid
#: (the plan's target can sit in the wall or the dense rim counted as wall): model choice.
_PLAN_SNAP_MM = 6.0


def case_approach(
    case: Case,
    level: str,
    model: BoneModel,
    spec: SimulationSpec | None = None,
    *,
    anatomy: SpineAnatomy | None = None,
    plan: LevelPlan | None = None,
) -> CaseApproach:
    """Default trocar tips and directions for ``level`` of ``case``.

    With ``spec.use_plan`` the paths of :func:`kypho.plan.plan_level` (``spec.gauge``; a plan
    already made for this level can be passed as ``plan``) are used: bipedicular unless
    ``spec.bipedicular`` is False, for both techniques (vertebroplasty uses the same tips as
    kyphoplasty).  If planning raises a :class:`~kypho.errors.KyphoError`, or a planned target
    is not in the body's cancellous bone, :func:`default_approach` is used and a note says why.
    Without ``use_plan``: :func:`default_approach` (bipedicular for kyphoplasty, unipedicular for
    vertebroplasty unless ``spec.bipedicular`` says otherwise), aimed through the measured
    pedicles.
    """
    from kypho.plan import PlanSpec, plan_level

    spec = spec or SimulationSpec()
    level = parse_level(level)
    spine = anatomy if anatomy is not None else SpineAnatomy.of(case)
    notes: list[str] = []
    if spec.use_plan:
        try:
            if plan is None or plan.level != level:
                plan = plan_level(case, level, PlanSpec(gauge=spec.gauge,
                                                        unipedicular=spec.bipedicular is False),
                                  anatomy=spine)
            tips, axes = [], []
            for path in plan.paths:
                target = np.asarray(path.target_ras_mm, float)
                tip = model.snap_to_fluid(target, max_mm=_PLAN_SNAP_MM)
                if tip is None:
                    raise InvalidParameterError(
                        f"planned {path.side} target is not in the cancellous bone of {level}")
                if float(np.linalg.norm(tip - target)) > 1e-6:
                    notes.append(f"{path.side} planned target moved "
                                 f"{float(np.linalg.norm(tip - target)):.1f} mm into the "
                                 "cancellous bone")
                # the trocar runs from the planned entry to the tip
                ax = tip - np.asarray(path.entry_ras_mm, float)
                n = float(np.linalg.norm(ax))
                if n < 1e-6:
                    raise InvalidParameterError(f"planned {path.side} path has zero length")
                tips.append(tuple(float(x) for x in tip))
                axes.append(tuple(float(x) for x in ax / n))
            if not tips:
                raise InvalidParameterError("the plan has no path")
            verdicts = ", ".join(f"{p.side} {p.verdict}" for p in plan.paths)
            return CaseApproach(
                tuple(tips), tuple(axes),  # type: ignore[arg-type]
                f"{plan.mode} (kypho.plan, {plan.gauge} G: {verdicts})",
                (f"trocar paths from kypho.plan ({plan.mode}, {verdicts}); the tips are the "
                 "planned targets", *notes),
                tips_are_targets=True,
            )
        except KyphoError as exc:
            notes.append(f"planning failed ({exc}); default targets used instead")
    pedicles, why_not = _pedicles_or_why_not(spine, level)
    if pedicles is None:
        notes.append(f"pedicles not measured ({why_not}): trocars along the body's anterior axis")
    bip = spec.two_trocars
    tips_d, axes_d = default_approach(model, technique=spec.technique, bipedicular=bip,
                                      pedicles=pedicles)
    return CaseApproach(tips_d, axes_d,
                        ("bipedicular" if bip else "unipedicular") + " (default target)",
                        tuple(notes))


def _pedicles_or_why_not(
    spine: SpineAnatomy, level: str
) -> tuple[dict[str, PedicleAnatomy] | None, str]:
    """The level's measured pedicles, or ``None`` and the reason they could not be measured."""
    try:
        return spine.vertebra(level).pedicles, ""
    except KyphoError as exc:
        return None, str(exc)


def _balloons_behind_targets(
    model: BoneModel,
    targets: tuple[tuple[float, float, float], ...],
    axes: tuple[tuple[float, float, float], ...],
    balloon: str | Balloon,
) -> tuple[tuple[tuple[float, float, float], ...], str]:
    """Balloon centres half a balloon length behind the planned targets, in cancellous bone.

    In kyphoplasty the inflatable bone tamp goes through the cannula into the channel drilled
    up to the planned target, so its centre lies about half its length behind the target along
    the trocar (model choice following that technique; balloon lengths from the Kyphon IFUs in
    docs/references/sim.md).  Centred on the target, half the balloon would lie in the anterior
    cortex and it could not open.
    """
    b = get_balloon(balloon)
    half = b.length_mm / 2.0
    centres = []
    for target, axis in zip(targets, axes, strict=True):
        centre = np.asarray(target, float) - half * np.asarray(axis, float)
        snapped = model.snap_to_fluid(centre, max_mm=_PLAN_SNAP_MM)
        centres.append(tuple(float(x) for x in (snapped if snapped is not None else target)))
    note = (f"balloon centres {half:.1f} mm behind the planned targets (distal end of the "
            f"{b.name} balloon at the target)")
    return tuple(centres), note  # type: ignore[return-value]


#: Below this total balloon volume (mL) a stop at the cortex is explained in the notes: a
#: single 15/3 or 10/3 balloon holds 3 mL (Kyphon IFU), so 1 mL is a third of one balloon.
_SMALL_BALLOON_ML = 1.0


def _little_room_note(model: BoneModel, centres: Sequence[ArrayLike], volume_ml: float,
                      planned: bool) -> str:
    """Why the balloon(s) stopped early: each centre's distance to the nearest cortex."""
    to_wall = ndimage.distance_transform_edt(~model.wall, sampling=model.spacing_mm)
    gaps = []
    for c in centres:
        gaps.append(f"{float(to_wall[model.nearest_fluid_voxel(c, what='balloon centre')]):.1f}")
    hint = (" (behind the planned targets; kypho simulate --no-plan uses the central "
            "default targets)"
            if planned else "")
    return (f"the balloon(s) stopped at the cortex at {volume_ml:.2f} mL: centres "
            f"{', '.join(gaps)} mm from the nearest cortex{hint}")


def build_case_model(
    case: Case,
    level: str,
    spec: SimulationSpec | None = None,
    *,
    anatomy: SpineAnatomy | None = None,
    assessment: Assessment | None = None,
) -> BoneModel:
    """The porous model of ``level`` of ``case`` (see :func:`body_from_case`)."""
    spec = spec or SimulationSpec()
    body = body_from_case(case, parse_level(level), anatomy=anatomy, assessment=assessment)
    return build_bone_model(body, calibration=spec.calibration, spacing_mm=spec.spacing_mm,
                            heterogeneity_sigma=spec.heterogeneity_sigma,
                            venous_exits=spec.venous_exits, seed=spec.seed)


def simulate_case(
    case: Case,
    level: str,
    spec: SimulationSpec | None = None,
    *,
    anatomy: SpineAnatomy | None = None,
    assessment: Assessment | None = None,
    plan: LevelPlan | None = None,
    model: BoneModel | None = None,
    approach: CaseApproach | None = None,
    tips_ras_mm: Sequence[ArrayLike] | None = None,
    axes_ras: Sequence[ArrayLike] | None = None,
    progress: Progress | None = None,
    **changes: Any,
) -> CaseSimulation:
    """Simulate a procedure on ``level`` of ``case``, render its frames and count the dose.

    Parameters
    ----------
    case : Case
        CT and vertebra labels (a phantom or a real CT: both go through the measured anatomy).
    level : str
    spec : SimulationSpec, optional
        The procedure (default :class:`SimulationSpec()`); keyword ``changes``
        (``technique="vertebroplasty"``) vary it.
    anatomy, assessment, plan : optional
        Upstream results of this case, used instead of being computed again: the measured
        anatomy (default :meth:`SpineAnatomy.of`), the assessment (expected heights) and the
        trocar plan of this level (tips and directions).
    model : BoneModel, optional
        A porous model of the level already built (e.g. shared by both techniques).
    approach : CaseApproach, optional
        Trocar tips and directions already chosen (e.g. one plan shared by both techniques).
    tips_ras_mm, axes_ras : optional
        Trocar tips (RAS mm, in the body's cancellous bone) and directions given by hand.
    progress : callable, optional
        ``progress(fraction, message)``.

    Raises
    ------
    InvalidParameterError
        Bad parameters, or axes without tips.
    NotMeasurableError
        The level cannot be modelled (no label, body not found).
    """
    spec = (spec or SimulationSpec()).with_(**changes)
    level = parse_level(level)
    spine = anatomy if anatomy is not None else SpineAnatomy.of(case)
    if model is None:
        model = build_case_model(case, level, spec, anatomy=spine, assessment=assessment)
    if tips_ras_mm is None:
        if axes_ras is not None:
            raise InvalidParameterError("trocar axes given without trocar tips")
        if approach is None:
            approach = case_approach(case, level, model, spec, anatomy=spine, plan=plan)
        tips, axes = approach.tips_ras_mm, approach.axes_ras
        how, extra = approach.description, approach.notes
        if spec.technique == "kyphoplasty" and approach.tips_are_targets:
            tips, shift_note = _balloons_behind_targets(model, tips, axes, spec.balloon)
            extra = (*extra, shift_note)
    else:
        tips = tuple(tuple(float(x) for x in np.asarray(t, float).reshape(-1)) for t in tips_ras_mm)
        if axes_ras is None:
            axes = trocar_axes(model, tips, _pedicles_or_why_not(spine, level)[0])
        else:
            axes = tuple(tuple(float(x) for x in np.asarray(a, float).reshape(-1))
                         for a in axes_ras)
        how, extra = f"{len(tips)} given tip(s)", ()
    result = simulate(
        model, spec, trocar_tips_ras_mm=tips, trocar_axes_ras=axes,
        progress=None if progress is None else (lambda f, m: progress(0.8 * f, m)),
    )
    bal = result.balloon
    if bal is not None and bal.stopped_at_wall and bal.cavity_volume_ml < _SMALL_BALLOON_ML:
        planned = tips_ras_mm is None and approach is not None and approach.tips_are_targets
        extra = (*extra, _little_room_note(model, tips, bal.cavity_volume_ml, planned))
    if extra:
        result = replace(result, notes=tuple(result.notes) + tuple(extra))
    shown: tuple[ProcedureFrame, ...] = ()
    if spec.frames:
        if progress is not None:
            progress(0.8, "rendering fluoroscopy frames")
        shown = procedure_frames(case, result, size=spec.frame_size, dose=DoseSession(),
                                 anatomy=spine)
    dose = procedure_dose(result, case, rendered_frames=len(shown), anatomy=spine)
    if progress is not None:
        progress(1.0, "done")
    return CaseSimulation(result=result, frames=shown, dose=dose, approach=how)
