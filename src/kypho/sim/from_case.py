"""Build a :class:`~kypho.sim.bone.BodyGeometry` from a :class:`~kypho.core.Case`.

For a phantom the tissue map tells cortical shell, trabecular bone of the body (as opposed to the
posterior elements) and fracture cleft apart, and the ground truth gives the cortical breaks,
the body's axes and heights.  A real CT has no tissue map: inferring the shell, the cleft and
the breaks from the image is not implemented yet, and :func:`body_from_case` says so.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

from kypho.core.case import Case
from kypho.core.levels import LEVEL_IDS, parse_level
from kypho.errors import NotMeasurableError
from kypho.phantom.truth import Tissue
from kypho.sim.bone import BodyGeometry, BoneModel, DensityCalibration

__all__ = ["body_from_case", "calibration_from_case", "default_approach", "trocar_axes"]

#: How far (mm) cortical voxels may lie from the body's cancellous bone to count as its shell.
_SHELL_REACH_MM = 1.6


def body_from_case(case: Case, level: str, *, margin_mm: float = 3.0) -> BodyGeometry:
    """The vertebral body of ``level`` as masks on a crop of the case's CT grid.

    Raises
    ------
    NotMeasurableError
        Without labels, without the level, or without a tissue map (real CT: not supported yet).
    """
    level = parse_level(level)
    if case.labels is None or level not in case.labels.levels:
        raise NotMeasurableError(f"{case.name}: no label for {level}")
    if case.tissue is None:
        raise NotMeasurableError(
            f"{case.name}: simulating on a real CT needs the body's cortical shell, cleft and "
            "breaks, which kypho cannot infer from the image yet (phantoms carry a tissue map)"
        )
    lab = np.asarray(case.labels.data)
    lid = LEVEL_IDS[level]
    nz = np.nonzero(lab == lid)
    spacing = np.asarray(case.volume.spacing_mm)
    m = np.ceil(margin_mm / spacing).astype(int)
    lo = np.maximum(np.array([a.min() for a in nz]) - m, 0)
    hi = np.minimum(np.array([a.max() for a in nz]) + m + 1, np.array(lab.shape))
    sl = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    lab_c = lab[sl] == lid
    tis = np.asarray(case.tissue.data)[sl]
    hu = np.asarray(case.volume.data, np.float32)[sl]
    core = lab_c & np.isin(tis, (int(Tissue.TRABECULAR), int(Tissue.CLEFT)))
    if not core.any():
        raise NotMeasurableError(f"{case.name}: {level} has no cancellous body in the tissue map")
    post = lab_c & (tis == int(Tissue.POSTERIOR_TRABECULAR))
    d_core = ndimage.distance_transform_edt(~core, sampling=spacing)
    d_post = (ndimage.distance_transform_edt(~post, sampling=spacing) if post.any()
              else np.full(core.shape, np.inf))
    shell = lab_c & (tis == int(Tissue.CORTICAL)) & (d_core <= _SHELL_REACH_MM) & (d_core < d_post)
    body = core | shell
    # keep the largest connected piece (drops stray shell voxels of the pedicles)
    cc, n = ndimage.label(body)
    if n > 1:
        sizes = np.bincount(cc.ravel())
        sizes[0] = 0
        body = cc == int(np.argmax(sizes))
    affine = np.array(case.volume.affine, float)
    affine[:3, 3] = affine[:3, :3] @ lo + affine[:3, 3]
    breaks: tuple = ()
    axes = ((0.0, 0.0, 1.0), (0.0, 1.0, 0.0))
    heights = normal = None
    if case.truth is not None:
        try:
            v = case.truth.vertebra(level)
        except KeyError:
            v = None
        if v is not None:
            breaks = tuple(v.cortical_breaks)
            axes = (v.superior_axis_ras, v.anterior_axis_ras)
            heights = (v.height_anterior_mm, v.height_middle_mm, v.height_posterior_mm)
            normal = (v.normal_height_anterior_mm, v.normal_height_middle_mm,
                      v.normal_height_posterior_mm)
    return BodyGeometry(
        hu=hu,
        body=body,
        cortical=body & (tis == int(Tissue.CORTICAL)),
        cleft=body & (tis == int(Tissue.CLEFT)),
        affine=affine,
        superior_axis_ras=axes[0],
        anterior_axis_ras=axes[1],
        breaks=breaks,
        level=level,
        heights_mm=heights,
        normal_heights_mm=normal,
    )


def calibration_from_case(case: Case) -> DensityCalibration:
    """Phantomless calibration from the case's own air and soft tissue.

    Uses the tissue map's AIR voxels and its SOFT_TISSUE (viscera, painted at blood HU in the
    phantom) as the blood reference; a real CT would sample air and the aorta instead.

    Raises
    ------
    NotMeasurableError
        Without a tissue map or without air and soft-tissue voxels.
    """
    if case.tissue is None:
        raise NotMeasurableError(f"{case.name}: no tissue map to sample air and blood from")
    tis = np.asarray(case.tissue.data)
    hu = np.asarray(case.volume.data)
    air = tis == int(Tissue.AIR)
    soft = tis == int(getattr(Tissue, "SOFT_TISSUE", -1))
    if air.sum() < 100 or soft.sum() < 100:
        raise NotMeasurableError(f"{case.name}: too few air or soft-tissue voxels to calibrate")
    return DensityCalibration.phantomless(
        air_hu=float(np.median(hu[air])), reference_hu=float(np.median(hu[soft])),
        reference="blood",
    )



def trocar_axes(
    case: Case | None, level: str, model: BoneModel, tips_ras_mm: Sequence[ArrayLike]
) -> tuple[tuple[float, float, float], ...]:
    """Trocar directions (unit vectors pointing into the body) for given tips.

    Transpedicular: from the isthmus of the pedicle on the tip's side (the left one for a single
    tip at the midline) to the tip, when the case carries the phantom's pedicle truth.  On a
    real CT (no pedicle truth) the direction is the body's anterior axis (assumption; a plan
    from :mod:`kypho.plan` should give it).
    """
    ant = tuple(float(x) for x in model.anterior_axis_ras)
    pedicles: tuple = ()
    if case is not None and case.truth is not None:
        try:
            pedicles = case.truth.vertebra(parse_level(level)).pedicles
        except KeyError:
            pedicles = ()
    right = np.cross(model.anterior_axis_ras, model.superior_axis_ras)
    axes = []
    for tip in tips_ras_mm:
        t = np.asarray(tip, float).reshape(-1)
        if not pedicles:
            axes.append(ant)
            continue
        lat = float((t - np.asarray(model.centroid_ras_mm)) @ right)
        side = "right" if lat > 0.5 * model.spacing_mm else "left"
        ped = next((p for p in pedicles if p.side == side), pedicles[0])
        d = t - np.asarray(ped.isthmus_ras_mm, float)
        n = float(np.linalg.norm(d))
        axes.append(tuple(float(x) for x in d / n) if n > 1e-6 else ant)
    return tuple(axes)  # type: ignore[return-value]


def default_approach(
    case: Case | None,
    level: str,
    model: BoneModel,
    *,
    technique: str = "kyphoplasty",
    bipedicular: bool = True,
) -> tuple[tuple[tuple[float, float, float], ...], tuple[tuple[float, float, float], ...]]:
    """Trocar tips and directions when no plan is given (RAS mm, unit vectors).

    Tips: :func:`kypho.sim.simulate.default_trocar_tips` (vertebroplasty: the anterior third,
    at the midline or 1/5 of the width either side; kyphoplasty: just in front of the centre,
    1/5 of the width either side when bipedicular); directions: :func:`trocar_axes`.  This is
    where :mod:`kypho.plan` plugs in: a plan gives the tips and directions instead.
    """
    from kypho.sim.simulate import default_trocar_tips

    tips = default_trocar_tips(model, technique=technique, bipedicular=bipedicular)  # type: ignore[arg-type]
    return tips, trocar_axes(case, level, model, tips)
