"""The grading rules (Genant grade, type, expected heights) and the alignment angle, as properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kypho.anatomy.norms import LEVEL_NORMS, level_norm
from kypho.assess.alignment import kyphotic_angle_deg
from kypho.assess.grading import (
    CRUSH_POSTERIOR_SHARE,
    GENANT_THRESHOLDS_PCT,
    classify_type,
    genant_grade,
    grade_vertebrae,
)
from kypho.core.levels import LEVELS
from kypho.phantom.spec import genant_grade as phantom_genant_grade

loss = st.floats(min_value=-20.0, max_value=95.0, allow_nan=False)
GRADED_LEVELS = [lv for lv in LEVELS if lv in LEVEL_NORMS]


def test_genant_thresholds():
    assert GENANT_THRESHOLDS_PCT == (20.0, 25.0, 40.0)
    cases = [(19.99, 0), (20.0, 1), (24.99, 1), (25.0, 2), (40.0, 2), (40.01, 3), (80.0, 3)]
    for pct, grade in cases:
        assert genant_grade(pct) == grade, pct


@given(loss, loss)
def test_grade_monotone_and_same_as_phantom(a, b):
    lo, hi = sorted((a, b))
    assert genant_grade(lo) <= genant_grade(hi)
    assert genant_grade(a) == phantom_genant_grade(a)  # the phantom's truth uses the same bands


@given(st.tuples(loss, loss, loss))
def test_type_rules(losses):
    la, lm, lp = losses
    grade = genant_grade(max(losses))
    t = classify_type(losses, grade)
    if grade == 0:
        assert t == "none"
    elif lp >= CRUSH_POSTERIOR_SHARE * max(losses):
        assert t == "crush"
    elif lm > la:
        assert t == "biconcave"
    else:
        assert t == "wedge"


@settings(max_examples=60, deadline=None)
@given(
    level_index=st.integers(min_value=2, max_value=len(GRADED_LEVELS) - 3),
    which=st.sampled_from(["wedge", "biconcave", "crush"]),
    pct=st.floats(min_value=0.0, max_value=70.0),
    scale=st.floats(min_value=0.8, max_value=1.25),
)
def test_loss_recovered_from_normal_neighbours(level_index, which, pct, scale):
    """Neighbours with the norms' proportions (any body size): the loss built in is measured."""
    level = GRADED_LEVELS[level_index]
    levels = GRADED_LEVELS[level_index - 2 : level_index + 3]
    heights = {lv: tuple(scale * h for h in level_norm(lv).heights_mm) for lv in levels}
    ha, hm, hp = heights[level]
    f = 1.0 - pct / 100.0
    if which == "wedge":
        heights[level] = (ha * f, hm * (1 + f) / 2, hp)
    elif which == "biconcave":
        heights[level] = (ha * (1 + f) / 2, hm * f, hp * (3 + f) / 4)
    else:
        heights[level] = (ha * f, hm * f, hp * f)
    g = grade_vertebrae(heights, dict.fromkeys(heights, 0.15))
    assert g[level].max_loss_pct == pytest.approx(pct, abs=1e-6)
    assert g[level].grade == genant_grade(g[level].max_loss_pct)
    # a grade-0 vertebra keeps the name of its pattern only when it is borderline grade 1
    named = g[level].grade > 0 or (g[level].borderline and pct > 10.0)
    assert g[level].fracture_type == (which if named else "none")
    assert all(g[lv].grade == 0 for lv in levels if lv != level)
    assert g[level].expected_mm == pytest.approx(
        tuple(scale * h for h in level_norm(level).heights_mm)
    )


def test_no_neighbour_uses_published_norm_and_is_borderline():
    n = level_norm("L1")
    g = grade_vertebrae(
        {"L1": (0.5 * n.height_anterior_mm, n.height_middle_mm, n.height_posterior_mm)},
        {"L1": 0.15},
    )["L1"]
    assert "published norms" in g.expected_from
    assert (g.grade, g.fracture_type) == (3, "wedge")
    squashed = grade_vertebrae({"L1": tuple(0.7 * h for h in n.heights_mm)}, {"L1": 0.15})["L1"]
    assert squashed.grade == 2 and squashed.borderline  # rests on Hp against the norm only
    assert grade_vertebrae({"C4": (14.0, 14.0, 14.0)}, {"C4": 0.15})["C4"].grade == -1


def test_borderline_near_threshold():
    n = level_norm("L2")
    base = {lv: level_norm(lv).heights_mm for lv in ("T12", "L1", "L3", "L4")}
    for pct, borderline in ((20.2, True), (32.5, False)):
        h = dict(base)
        h["L2"] = (
            n.height_anterior_mm * (1 - pct / 100),
            n.height_middle_mm,
            n.height_posterior_mm,
        )
        g = grade_vertebrae(h, dict.fromkeys(h, 0.15))["L2"]
        assert g.borderline is borderline, pct
        if borderline:
            assert "20 % threshold" in g.borderline_note


angle = st.floats(min_value=-60.0, max_value=60.0)


@given(a=angle, b=angle, yaw=st.floats(min_value=-40.0, max_value=40.0))
def test_kyphotic_angle(a, b, yaw):
    """Normals tilted anteriorly by a (lower) and b (upper): the angle is b - a, any yaw."""

    def normal(deg):  # superior (+z) tilted towards anterior (+y) by deg, in the sagittal plane
        t = np.radians(deg)
        return np.array([0.0, np.sin(t), np.cos(t)])

    c, s = np.cos(np.radians(yaw)), np.sin(np.radians(yaw))
    rz = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    right = rz @ np.array([1.0, 0.0, 0.0])
    got = kyphotic_angle_deg(rz @ normal(a), rz @ normal(b), right)
    assert got == pytest.approx(b - a, abs=1e-6)
