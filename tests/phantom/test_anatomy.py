"""The phantom against its own anatomy tables, measured on the label map."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from measure import run_length_mm, section_extent_mm

from kypho.phantom import LEVEL_ANATOMY


def _tol(case) -> float:
    # One voxel, plus the measurement's own sampling step.
    return case.labels.spacing_mm[0] * (1 + 1 / 8) + 1e-9


def _lm(v):
    return {k: np.asarray(p) for k, p in v.landmarks_ras_mm.items()}


def test_every_supported_level_is_built(all_levels_case):
    assert all_levels_case.levels == tuple(LEVEL_ANATOMY)
    assert [v.level for v in all_levels_case.truth.vertebrae] == list(LEVEL_ANATOMY)


@pytest.mark.parametrize("level", list(LEVEL_ANATOMY))
def test_body_heights_match_the_table(all_levels_case, level):
    case = all_levels_case
    v = case.truth.vertebra(level)
    an = LEVEL_ANATOMY[level]
    lm = _lm(v)
    measured_a = run_length_mm(case.labels, lm["ia"], lm["sa"], v.label_id)
    measured_p = run_length_mm(case.labels, lm["ip"], lm["sp"], v.label_id)
    measured_m = run_length_mm(case.labels, lm["im"], lm["sm"], v.label_id)
    tol = _tol(case)
    assert measured_p == pytest.approx(an.height_posterior_mm, abs=tol)
    assert measured_a == pytest.approx(an.height_anterior_mm, abs=tol)
    # The middle height is smaller by the two endplate concavities (0.7 + 1.5 mm).
    centre = (an.height_anterior_mm + an.height_posterior_mm) / 2
    assert measured_m == pytest.approx(centre - 2.2, abs=tol)
    assert measured_m < min(measured_a, measured_p)


@pytest.mark.parametrize("level", list(LEVEL_ANATOMY))
def test_pedicle_isthmus_matches_the_table(all_levels_case, level):
    case = all_levels_case
    v = case.truth.vertebra(level)
    an = LEVEL_ANATOMY[level]
    sup = np.asarray(v.superior_axis_ras)
    assert {p.side for p in v.pedicles} == {"left", "right"}
    for p in v.pedicles:
        axis = np.asarray(p.axis_ras)
        w = np.cross(sup, axis)
        w /= np.linalg.norm(w)
        h = np.cross(axis, w)
        width, height = section_extent_mm(
            case.labels,
            p.isthmus_ras_mm,
            w,
            h,
            v.label_id,
            an.pedicle_width_mm / 2 + 4,
            an.pedicle_height_mm / 2 + 4,
        )
        assert width == pytest.approx(an.pedicle_width_mm, abs=_tol(case)), p.side
        assert height == pytest.approx(an.pedicle_height_mm, abs=_tol(case)), p.side
        # The axis points into the body and converges towards the midline.
        centroid = np.asarray(v.centroid_ras_mm)
        assert np.dot(axis, centroid - np.asarray(p.isthmus_ras_mm)) > 0
        lateral = np.sign(p.isthmus_ras_mm[0] - centroid[0])
        assert lateral == (1 if p.side == "right" else -1)
        assert np.sign(axis[0]) == -lateral


@pytest.mark.parametrize("level", ["T10", "L1", "L3"])
def test_body_width_and_depth_match(all_levels_case, level):
    case = all_levels_case
    v = case.truth.vertebra(level)
    lm = _lm(v)
    # Just below the superior rim plane, where the concave waist of the walls is < 0.3 mm.
    sup, ant = np.asarray(v.superior_axis_ras), np.asarray(v.anterior_axis_ras)
    centre = (lm["sa"] + lm["sp"]) / 2 - 1.2 * sup
    right = np.cross(ant, sup)
    width = run_length_mm(
        case.labels, centre - 30 * right, centre + 30 * right, v.label_id, margin_mm=0
    )
    depth = run_length_mm(
        case.labels, centre - 30 * ant, centre + 30 * ant, v.label_id, margin_mm=0
    )
    assert width == pytest.approx(v.body_width_mm, abs=_tol(case) + 0.3)
    assert depth == pytest.approx(v.body_depth_mm, abs=_tol(case) + 0.3)
    an = LEVEL_ANATOMY[level]
    assert v.body_width_mm == pytest.approx(an.endplate_width_mm)


def test_canal_is_open_between_body_and_lamina(all_levels_case):
    case = all_levels_case
    for v in case.truth.vertebrae:
        an = LEVEL_ANATOMY[v.level]
        lm = _lm(v)
        post_wall = (lm["sp"] + lm["ip"]) / 2 - 2.0 * np.asarray(v.anterior_axis_ras)
        behind = (
            post_wall
            - np.asarray(v.anterior_axis_ras) * np.arange(1, an.canal_depth_mm - 1)[:, None]
        )
        from measure import labels_at

        assert np.all(labels_at(case.labels, behind) == 0), v.level
        assert np.all(labels_at(case.tissue, behind) == 8), v.level  # Tissue.CANAL


def test_normal_alignment_follows_the_segment_angles(all_levels_case):
    from kypho.phantom.anatomy import SEGMENT_ANGLE_DEG

    verts = all_levels_case.truth.vertebrae

    def sup_endplate_angle(v):
        d = np.asarray(v.landmarks_ras_mm["sa"]) - np.asarray(v.landmarks_ras_mm["sp"])
        return np.degrees(np.arctan2(-d[2], d[1]))  # + when the endplate dips anteriorly

    for up, low in itertools.pairwise(verts):
        seg = sup_endplate_angle(up) - sup_endplate_angle(low)
        assert seg == pytest.approx(SEGMENT_ANGLE_DEG[up.level], abs=1e-6)
