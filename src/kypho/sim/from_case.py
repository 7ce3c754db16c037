"""Build a :class:`~kypho.sim.bone.BodyGeometry` from a :class:`~kypho.core.Case`.

For a phantom the tissue map tells cortical shell, trabecular bone of the body (as opposed to the
posterior elements) and fracture cleft apart, and the ground truth gives the cortical breaks,
the body's axes and heights.

A real CT has no tissue map; :func:`body_from_ct` infers what it can:

* the body and its own axes from the vertebra's label with :mod:`kypho.assess`
  (:func:`~kypho.assess.frame.extract_vertebra`: the body is what lies in front of the spinal
  canal), heights and expected (pre-fracture) heights from :func:`kypho.assess.assess`;
* the cortical shell and endplates as walls: the label's boundary (the working grid's one-voxel
  shell) plus the dense rim, voxels within :data:`DENSE_RIM_MM` (2 mm) of the surface reading
  more than the trabecular mean + 2 SD;
* trabecular density from HU with the stated calibration
  (:data:`~kypho.sim.bone.DEFAULT_CALIBRATION`);
* a fracture cleft only where detectable: gas (intravertebral vacuum cleft) inside the body,
  HU below :data:`GAS_HU`; fluid-filled clefts read like marrow and are not detected;
* no cortical breaks (not detectable on CT with confidence): the exits are the natural
  venous foramina at their usual sites, **model assumptions**, and every result says so.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

from kypho.core.case import Case
from kypho.core.levels import LEVEL_IDS, LEVELS, parse_level
from kypho.core.truth import Tissue
from kypho.errors import KyphoError, NotMeasurableError
from kypho.sim.bone import BodyGeometry, BoneModel, DensityCalibration

__all__ = [
    "CT_EXIT_ASSUMPTIONS",
    "DENSE_RIM_MM",
    "DENSE_RIM_SD",
    "GAS_HU",
    "MIN_CLEFT_MM3",
    "body_from_case",
    "body_from_ct",
    "calibration_from_case",
    "default_approach",
    "trocar_axes",
]

#: How far (mm) cortical voxels may lie from the body's cancellous bone to count as its shell.
_SHELL_REACH_MM = 1.6


#: A voxel of the body's outer :data:`DENSE_RIM_MM` counts as cortex (wall) when it reads more
#: than the trabecular mean plus this many standard deviations: model choice (denser than about
#: 98 % of the trabecular voxels if they were normal).
DENSE_RIM_SD = 2.0
#: Depth of that rim (mm): a clinical cortical shell is under 1 mm (Silva 1994, via
#: kypho.phantom.anatomy) and the CT's partial-volume blur about 1 mm (the reasoning of
#: kypho.assess.density.TRABECULAR_EROSION_MM, which keeps a 1 mm safety margin on top).
DENSE_RIM_MM = 2.0
#: Gas inside the body (intravertebral vacuum cleft) reads below this (HU): model choice, below
#: fat (about -100 HU) and above air (-1000 HU), leaving room for partial volume in thick slices.
GAS_HU = -300.0
#: Smallest gas pocket taken as a cleft (mm^3): model choice (noise rejection).
MIN_CLEFT_MM3 = 10.0
#: What a simulation on a real CT assumes about the exits (shown in results and reports).
CT_EXIT_ASSUMPTIONS = (
    "real CT: cortical breaks cannot be seen with confidence, so none are modelled; the exits "
    "are model assumptions at their usual anatomical sites: basivertebral vein at the centre "
    "of the posterior wall, segmental veins on the anterolateral walls; were a break present, "
    "an endplate break would open into the disc, a posterior-wall break into the canal, a "
    "lateral break into the paravertebral space"
)


def body_from_case(case: Case, level: str, *, margin_mm: float = 3.0) -> BodyGeometry:
    """The vertebral body of ``level`` as masks on a crop of the case's CT grid.

    A phantom (with a tissue map) uses its tissue map and ground truth; a real CT goes through
    :func:`body_from_ct`.

    Raises
    ------
    NotMeasurableError
        Without labels, without the level, or when the body cannot be found.
    """
    level = parse_level(level)
    if case.labels is None or level not in case.labels.levels:
        raise NotMeasurableError(f"{case.name}: no label for {level}")
    if case.tissue is None:
        return body_from_ct(case, level, margin_mm=margin_mm)
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


def body_from_ct(case: Case, level: str, *, margin_mm: float = 3.0) -> BodyGeometry:
    """The vertebral body of ``level`` inferred from a real CT and its vertebra labels.

    See the module docstring for what is inferred and what is assumed; the assumptions are in
    the geometry's ``notes`` and travel into every result.

    Raises
    ------
    NotMeasurableError
        No label for the level, the body cannot be separated from the posterior elements, or no
        trabecular region to measure.
    """
    from kypho.assess import assess
    from kypho.assess.density import trabecular_hu
    from kypho.assess.frame import extract_vertebra, spine_tangents

    level = parse_level(level)
    if case.labels is None or level not in case.labels.levels:
        raise NotMeasurableError(f"{case.name}: no label for {level}")
    lab = np.asarray(case.labels.data)
    affine_full = np.asarray(case.labels.affine, float)
    hu_full = np.asarray(case.volume.data)
    if hu_full.shape != lab.shape:
        raise NotMeasurableError(
            f"{case.name}: CT {hu_full.shape} and labels {lab.shape} are on different grids"
        )
    # the spine's tangent at the level from the neighbouring labelled levels (as kypho.assess)
    i = LEVELS.index(level)
    near = [lv for lv in LEVELS[max(i - 2, 0): i + 3] if lv in case.labels.levels]
    boxes = {}
    centroids = {}
    for lv in near:
        lid_lv = LEVEL_IDS[lv]
        box = ndimage.find_objects((lab == lid_lv).astype(np.uint8))
        if not box or box[0] is None:
            continue
        boxes[lv] = box[0]
        idx = np.argwhere(lab[box[0]] == lid_lv) + np.array([b.start for b in box[0]])
        centroids[lv] = affine_full[:3, :3] @ idx.mean(0) + affine_full[:3, 3]
    if level not in boxes:
        raise NotMeasurableError(f"{case.name}: no label for {level}")
    tangents = spine_tangents(centroids)
    try:
        geom = extract_vertebra(lab, affine_full, level, LEVEL_IDS[level], boxes[level],
                                tangents[level])
    except NotMeasurableError as exc:
        raise NotMeasurableError(f"{case.name} {level}: {exc}") from None
    t_mean, t_sd, _n = trabecular_hu(hu_full, geom)
    if t_mean is None or t_sd is None:
        raise NotMeasurableError(f"{case.name} {level}: no trabecular region to measure")
    spacing = np.asarray(geom.spacing_mm)
    # crop around the body with a margin, on the CT grid
    m = np.ceil(margin_mm / spacing).astype(int)
    lo_c = np.array([c.start for c in geom.crop])
    bidx = np.argwhere(geom.body_mask) + lo_c
    lo = np.maximum(bidx.min(0) - m, 0)
    hi = np.minimum(bidx.max(0) + m + 1, np.array(lab.shape))
    sl = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    body = np.zeros(hi - lo, bool)
    body[tuple((bidx - lo).T)] = True
    hu = np.asarray(hu_full[sl], np.float32)
    depth = ndimage.distance_transform_edt(np.pad(body, 1), sampling=spacing)[1:-1, 1:-1, 1:-1]
    depth = depth - 0.5 * float(spacing.min())
    dense = hu >= t_mean + DENSE_RIM_SD * t_sd
    cortical = body & (depth <= DENSE_RIM_MM) & dense
    gas = body & (depth >= float(spacing.max())) & (hu <= GAS_HU)
    cleft = np.zeros_like(body)
    if gas.any():
        cc, _n = ndimage.label(gas, structure=np.ones((3, 3, 3), bool))
        sizes = np.bincount(cc.ravel())[1:] * float(np.prod(spacing))
        keep = np.flatnonzero(sizes >= MIN_CLEFT_MM3) + 1
        cleft = np.isin(cc, keep)
    affine = affine_full.copy()
    affine[:3, 3] = affine_full[:3, :3] @ lo + affine_full[:3, 3]
    # heights now and expected (before the fracture) from the assessment of the whole case
    heights = normal = None
    axes = (geom.frame.superior, geom.frame.anterior)
    grade_note = "not assessed"
    try:
        va = next(v for v in assess(case).vertebrae if v.level == level)
    except (StopIteration, KyphoError):
        va = None
    if va is not None and va.measured:
        heights = va.heights_mm
        if va.superior_axis_ras is not None and va.anterior_axis_ras is not None:
            axes = (va.superior_axis_ras, va.anterior_axis_ras)
        if va.genant_grade:
            normal = va.expected_heights_mm
        grade_note = (f"Genant grade {va.genant_grade}" if va.genant_grade is not None
                      else "grade unknown")
    notes = [
        f"real CT: body of {level} separated from the posterior elements by kypho.assess "
        f"({geom.separation}); trabecular {t_mean:.0f} +/- {t_sd:.0f} HU; {grade_note}",
        "real CT: walls = the label's boundary plus the dense rim (outer "
        f"{DENSE_RIM_MM:g} mm above {t_mean + DENSE_RIM_SD * t_sd:.0f} HU); density "
        "from HU with the default phantomless calibration (ideal scanner: air and blood not "
        "measured)",
        (f"real CT: gas cleft detected ({int(cleft.sum())} voxels below {GAS_HU:g} HU)"
         if cleft.any() else
         "real CT: no cleft detected (only a gas-filled vacuum cleft is detectable)"),
        CT_EXIT_ASSUMPTIONS,
    ]
    if normal is None:
        notes.append("real CT: no height loss graded, so no pre-fracture heights: the balloon "
                     "cannot lift an endplate and height restoration is not reported")
    return BodyGeometry(
        hu=hu,
        body=body,
        cortical=cortical,
        cleft=cleft,
        affine=affine,
        superior_axis_ras=tuple(float(x) for x in axes[0]),  # type: ignore[arg-type]
        anterior_axis_ras=tuple(float(x) for x in axes[1]),  # type: ignore[arg-type]
        breaks=(),
        level=level,
        heights_mm=heights,
        normal_heights_mm=None if normal is None else tuple(float(x) for x in normal),  # type: ignore[arg-type]
        notes=tuple(notes),
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
