"""A :class:`~kypho.sim.bone.BodyGeometry` from a case's measured anatomy, and default approaches.

Every case, a phantom as well as a real CT, goes the same way: what the simulator needs is
taken from the case's anatomy (:class:`kypho.anatomy.SpineAnatomy`, measured once from the CT
and the labels and shared with the other stages):

* the body and its own axes (:attr:`~kypho.anatomy.VertebraAnatomy.geometry`: the body is what
  lies in front of the spinal canal; the frame from its walls and endplates), the heights and
  endplate lines (:attr:`~kypho.anatomy.VertebraAnatomy.morphometry`, kypho's one height
  definition) and, from the assessment, the expected heights before the fracture;
* the cortical shell and endplates as walls: the label's boundary (the working grid's one-voxel
  shell) plus the dense rim (:attr:`~kypho.anatomy.VertebraAnatomy.cortex`);
* trabecular density from HU with the stated calibration
  (:data:`~kypho.sim.bone.DEFAULT_CALIBRATION`);
* a fracture cleft only where detectable: gas (intravertebral vacuum cleft) inside the body;
  fluid-filled clefts read like marrow and are not detected;
* no cortical breaks (they are not inferred from CT yet): the exits are the natural venous
  foramina at their usual sites, **model assumptions**, and every result says so.

A phantom's ground truth (its cortical breaks, its true axes and heights) is never read here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from kypho.anatomy.pedicle import PedicleAnatomy
from kypho.anatomy.spine import SpineAnatomy
from kypho.anatomy.tissue import DENSE_RIM_MM, DENSE_RIM_SD, GAS_HU, rim_threshold_hu
from kypho.core.case import Case
from kypho.core.levels import parse_level
from kypho.errors import NotMeasurableError
from kypho.sim.bone import BodyGeometry, BoneModel

if TYPE_CHECKING:
    from kypho.assess.model import Assessment

__all__ = [
    "CT_EXIT_ASSUMPTIONS",
    "body_from_case",
    "default_approach",
    "trocar_axes",
]

#: What a simulation on a CT assumes about the exits (shown in results and reports).
CT_EXIT_ASSUMPTIONS = (
    "cortical breaks are not inferred from the CT, so none are modelled; the exits are model "
    "assumptions at their usual anatomical sites: basivertebral vein at the centre of the "
    "posterior wall, segmental veins on the anterolateral walls; were a break present, an "
    "endplate break would open into the disc, a posterior-wall break into the canal, a lateral "
    "break into the paravertebral space"
)


def body_from_case(
    case: Case,
    level: str,
    *,
    anatomy: SpineAnatomy | None = None,
    assessment: Assessment | None = None,
    margin_mm: float = 3.0,
) -> BodyGeometry:
    """The vertebral body of ``level`` as masks on a crop of the case's CT grid.

    Parameters
    ----------
    case : Case
        CT and vertebra labels.
    level : str
        The level to model.
    anatomy : SpineAnatomy, optional
        The case's anatomy (default :meth:`SpineAnatomy.of`).
    assessment : Assessment, optional
        The case's assessment (default: assessed now, on the same anatomy); its expected
        heights of a fractured level are the heights the balloon may restore.
    margin_mm : float
        Margin of the crop around the body.

    Raises
    ------
    NotMeasurableError
        No label for the level, the body cannot be found or measured, or no trabecular region.
    """
    level = parse_level(level)
    if case.labels is None or level not in case.labels.levels:
        raise NotMeasurableError(f"{case.name}: no label for {level}")
    spine = anatomy if anatomy is not None else SpineAnatomy.of(case)
    vertebra = spine.vertebra(level)
    try:
        geom, morph, trab = vertebra.geometry, vertebra.morphometry, vertebra.trabecular
        cortex, cleft = vertebra.cortex, vertebra.cleft
    except NotMeasurableError as exc:
        raise NotMeasurableError(f"{case.name} {level}: {exc}") from None
    if trab.mean_hu is None or trab.sd_hu is None:
        raise NotMeasurableError(f"{case.name} {level}: no trabecular region to measure")
    spacing = np.asarray(geom.spacing_mm)
    shape = np.asarray(case.volume.shape)
    # crop around the body with a margin, on the CT grid
    m = np.ceil(margin_mm / spacing).astype(int)
    lo_c = np.array([c.start for c in geom.crop])
    bidx = np.argwhere(geom.body_mask)
    lo = np.maximum(bidx.min(0) + lo_c - m, 0)
    hi = np.minimum(bidx.max(0) + lo_c + m + 1, shape)
    sl = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))

    def moved(mask_on_crop: np.ndarray) -> np.ndarray:
        out = np.zeros(tuple(hi - lo), bool)
        idx = np.argwhere(mask_on_crop) + lo_c - lo
        out[tuple(idx.T)] = True
        return out

    affine = np.asarray(case.volume.affine, float).copy()
    affine[:3, 3] = affine[:3, :3] @ lo + affine[:3, 3]
    if assessment is None:
        from kypho.assess import assess

        assessment = assess(case, anatomy=spine)
    va = next((v for v in assessment.vertebrae if v.level == level), None)
    normal = None
    grade_note = "not assessed"
    if va is not None and va.measured:
        if va.genant_grade:
            normal = tuple(float(x) for x in va.expected_heights_mm)  # type: ignore[union-attr]
        grade_note = (f"Genant grade {va.genant_grade}" if va.genant_grade is not None
                      else "grade unknown")
    notes = [
        f"body of {level} separated from the posterior elements ({geom.separation}); "
        f"trabecular {trab.mean_hu:.0f} +/- {trab.sd_hu:.0f} HU; {grade_note}",
        "walls = the label's boundary plus the dense rim (outer "
        f"{DENSE_RIM_MM:g} mm above {rim_threshold_hu(trab):.0f} HU, trabecular mean + "
        f"{DENSE_RIM_SD:g} SD); density from HU with the default phantomless calibration "
        "(ideal scanner: air and blood not measured)",
        (f"gas cleft detected ({int(cleft.sum())} voxels below {GAS_HU:g} HU)"
         if cleft.any() else
         "no cleft detected (only a gas-filled vacuum cleft is detectable)"),
        CT_EXIT_ASSUMPTIONS,
    ]
    if normal is None:
        notes.append("no height loss graded, so no pre-fracture heights: the balloon cannot "
                     "lift an endplate and height restoration is not reported")
    frame = morph.frame
    return BodyGeometry(
        hu=np.asarray(case.volume.data[sl], np.float32),
        body=moved(geom.body_mask),
        cortical=moved(cortex),
        cleft=moved(cleft),
        affine=affine,
        superior_axis_ras=frame.superior,
        anterior_axis_ras=frame.anterior,
        breaks=(),
        level=level,
        profile=morph.profile,
        normal_heights_mm=normal,  # type: ignore[arg-type]
        notes=tuple(notes),
    )


def trocar_axes(
    model: BoneModel,
    tips_ras_mm: Sequence[ArrayLike],
    pedicles: Mapping[str, PedicleAnatomy] | None = None,
) -> tuple[tuple[float, float, float], ...]:
    """Trocar directions (unit vectors pointing into the body) for given tips.

    Transpedicular: from the measured isthmus of the pedicle on the tip's side (the left one for
    a tip on the midline) to the tip.  Without measured pedicles the direction is the body's
    anterior axis (an assumption; a plan from :mod:`kypho.plan` gives better ones).
    """
    ant = tuple(float(x) for x in model.anterior_axis_ras)
    right = np.cross(model.anterior_axis_ras, model.superior_axis_ras)
    axes = []
    for tip in tips_ras_mm:
        t = np.asarray(tip, float).reshape(-1)
        if not pedicles:
            axes.append(ant)
            continue
        lat = float((t - np.asarray(model.centroid_ras_mm)) @ right)
        side = "right" if lat > 0.5 * model.spacing_mm else "left"
        ped = pedicles.get(side) or next(iter(pedicles.values()))
        d = t - np.asarray(ped.isthmus_ras_mm, float)
        n = float(np.linalg.norm(d))
        axes.append(tuple(float(x) for x in d / n) if n > 1e-6 else ant)
    return tuple(axes)  # type: ignore[return-value]


def default_approach(
    model: BoneModel,
    *,
    technique: str = "kyphoplasty",
    bipedicular: bool = True,
    pedicles: Mapping[str, PedicleAnatomy] | None = None,
) -> tuple[tuple[tuple[float, float, float], ...], tuple[tuple[float, float, float], ...]]:
    """Trocar tips and directions when no plan is given (RAS mm, unit vectors).

    Tips: :func:`kypho.sim.simulate.default_trocar_tips` (vertebroplasty: the anterior third,
    at the midline or 1/5 of the width either side; kyphoplasty: just in front of the centre,
    1/5 of the width either side when bipedicular); directions: :func:`trocar_axes` through the
    measured pedicles when given.  :mod:`kypho.plan` gives planned tips and directions instead.
    """
    from kypho.sim.simulate import default_trocar_tips

    tips = default_trocar_tips(model, technique=technique, bipedicular=bipedicular)  # type: ignore[arg-type]
    return tips, trocar_axes(model, tips, pedicles)
