"""Property tests of the column geometry (no rasterisation, so hypothesis can try many cases)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kypho.phantom import SUPPORTED_LEVELS, FractureSpec
from kypho.phantom.geometry import build_column

fracture_cases = st.tuples(
    st.integers(min_value=0, max_value=len(SUPPORTED_LEVELS) - 1),
    st.sampled_from(["wedge", "biconcave", "crush"]),
    st.floats(min_value=1.0, max_value=80.0, allow_nan=False),
)


@settings(max_examples=60, deadline=None)
@given(fracture_cases)
def test_requested_loss_is_the_largest_height_loss(case):
    idx, kind, pct = case
    level = SUPPORTED_LEVELS[idx]
    normal, broken = build_column(
        SUPPORTED_LEVELS, [FractureSpec(level, kind, height_loss_pct=pct)]
    )
    n = np.array(normal.vertebra(level).heights_mm())
    f = np.array(broken.vertebra(level).heights_mm())
    losses = 1 - f / n
    assert losses.max() * 100 == pytest.approx(pct, abs=1e-6)
    expected_max = {"wedge": 0, "biconcave": 1, "crush": None}[kind]
    if expected_max is None:
        assert np.allclose(losses, pct / 100)
    else:
        assert int(np.argmax(losses)) == expected_max
    # Other levels keep their shape.
    for v_n, v_f in zip(normal.vertebrae, broken.vertebrae, strict=True):
        if v_n.level != level:
            assert v_n.heights_mm() == pytest.approx(v_f.heights_mm())


@settings(max_examples=60, deadline=None)
@given(fracture_cases)
def test_fracture_shortens_the_column_and_moves_only_the_levels_above(case):
    idx, kind, pct = case
    level = SUPPORTED_LEVELS[idx]
    normal, broken = build_column(
        SUPPORTED_LEVELS, [FractureSpec(level, kind, height_loss_pct=pct)]
    )
    assert broken.length_mm() < normal.length_mm() - 1e-6
    for i, (v_n, v_f) in enumerate(zip(normal.vertebrae, broken.vertebrae, strict=True)):
        if i > idx:  # the levels below keep their pose
            assert np.allclose(v_n.frame.origin, v_f.frame.origin)
            assert v_n.frame.phi == v_f.frame.phi
        elif i == idx:  # the fractured body still sits on the same disc
            assert np.allclose(
                v_n.frame.to_world([0.0, 0.0, v_n.bot0]), v_f.frame.to_world([0.0, 0.0, v_f.bot0])
            )
        else:  # those above move
            assert not np.allclose(v_n.frame.origin, v_f.frame.origin)
    if kind == "wedge" and idx > 0:
        # The levels above tilt forward by exactly the added wedge angle.
        added = (
            broken.vertebra(level).endplate_wedge_deg - normal.vertebra(level).endplate_wedge_deg
        )
        tilt = math.degrees(broken.vertebrae[0].frame.phi - normal.vertebrae[0].frame.phi)
        assert tilt == pytest.approx(added, abs=1e-9) and added > 0


def test_normal_column_chord_is_vertical():
    normal, _ = build_column(SUPPORTED_LEVELS)
    chord = normal.vertebrae[0].frame.origin - normal.vertebrae[-1].frame.origin
    assert abs(chord[1]) < 1e-9 and chord[2] > 0 and chord[0] == 0
