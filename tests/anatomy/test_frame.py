"""The one VertebraFrame and the one spine-tangent rule: known answers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kypho.anatomy.frame import VertebraFrame, spine_tangents, step_along_mm


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1, 1), min_size=6, max_size=6),
       st.lists(st.floats(-100, 100), min_size=3, max_size=3))
def test_frame_is_right_handed_orthonormal_and_round_trips(v, origin):
    sup, hint = np.array(v[:3]), np.array(v[3:])
    if np.linalg.norm(sup) < 0.1 or np.linalg.norm(np.cross(sup, hint)) < 0.1:
        return
    f = VertebraFrame.from_axes(origin, sup, hint)
    m = f.matrix
    np.testing.assert_allclose(m @ m.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(m) == pytest.approx(1.0)  # right-handed like RAS+
    np.testing.assert_allclose(np.cross(f.anterior, f.superior), f.right, atol=1e-12)
    assert np.dot(f.anterior, hint) > 0  # the hint's side is anterior
    p = np.array([[3.0, -2.0, 7.5], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(f.to_ras(f.to_local(p)), p, atol=1e-9)
    d = np.array([0.2, -0.5, 0.8])
    np.testing.assert_allclose(f.direction_to_ras(f.direction_to_local(d)), d, atol=1e-12)


def test_patient_axes_give_the_identity_frame():
    f = VertebraFrame.from_axes((1, 2, 3), (0, 0, 1), (0, 1, 0))
    assert f.right == (1.0, 0.0, 0.0) and f.anterior == (0.0, 1.0, 0.0)
    np.testing.assert_allclose(f.to_local([[1, 5, 3]]), [[0, 3, 0]])
    # a hint along the superior axis falls back to the patient's anterior
    g = VertebraFrame.from_axes((0, 0, 0), (0, 0, 1), (0, 0, 5))
    assert g.anterior == (0.0, 1.0, 0.0)


def test_spine_tangent_rule():
    # a straight spine along +S: +S everywhere, also where only one neighbour exists
    c = {"T11": (0, 0, 60), "T12": (0, 0, 30), "L1": (0, 0, 0)}
    t = spine_tangents(c)
    for lv in c:
        np.testing.assert_allclose(t[lv], (0, 0, 1))
    # the tangent joins the neighbours (not the level itself) and points to the head
    c = {"T12": (0, 10, 30), "L1": (0, 50, 0), "L2": (0, 0, -30)}
    np.testing.assert_allclose(t2 := spine_tangents(c)["L1"], np.array([0, 10, 60]) / np.hypot(10, 60))
    assert t2[2] > 0
    # a missing level is bridged (two levels away); an unreliable neighbour is skipped when a
    # reliable one is within reach, and used when it is the only one
    c = {"T11": (0, 0, 60), "T12": (0, 30, 30), "L1": (0, 0, 0), "L2": (0, 0, -30)}
    np.testing.assert_allclose(spine_tangents(c, unreliable=["T12"])["L1"], (0, 0, 1))
    np.testing.assert_allclose(spine_tangents({"L1": (0, 0, 0), "L2": (0, 3, -30)},
                                              unreliable=["L2"])["L1"],
                               np.array([0, -3, 30]) / np.hypot(3, 30))
    # alone: +S
    np.testing.assert_allclose(spine_tangents({"L1": (5, 5, 5)})["L1"], (0, 0, 1))


def test_step_along_a_direction():
    aff = np.diag([0.7, 0.7, 2.5, 1.0])
    assert step_along_mm(aff, (0, 0, 1)) == pytest.approx(2.5)
    assert step_along_mm(aff, (1, 0, 0)) == pytest.approx(0.7)
