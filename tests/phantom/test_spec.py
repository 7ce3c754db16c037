"""Checking what to build: good specs pass, bad ones raise InvalidParameterError with a clear message."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kypho.errors import InvalidParameterError
from kypho.phantom import FractureSpec, PhantomSpec, genant_grade, parse_fracture


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"first_level": "X9"}, "unknown vertebral level"),
        ({"first_level": "T5"}, "no anatomy table"),
        ({"last_level": "S1"}, "no anatomy table"),
        ({"first_level": "L3", "last_level": "T10"}, "caudal to cranial"),
        ({"voxel_mm": 0}, "positive"),
        ({"voxel_mm": -1.0}, "positive"),
        ({"voxel_mm": float("nan")}, "positive"),
        ({"voxel_mm": 0.1}, "0.25-5"),
        ({"voxel_mm": "abc"}, "number"),
        ({"bone_density": "dense"}, "bone density"),
        ({"noise_hu": -1}, "noise"),
        ({"seed": -3}, "seed"),
        ({"fractures": (FractureSpec("L4", grade=2),)}, "outside the built levels"),
        (
            {"fractures": (FractureSpec("L1", grade=2), FractureSpec("l1", grade=1))},
            "more than one",
        ),
        ({"fractures": (FractureSpec("L1", grade=2, retropulsion_mm=15),)}, "retropulsion"),
        ({"fractures": ("L1:wedge:2",)}, "FractureSpec"),
    ],
)
def test_bad_phantom_spec(kwargs, message):
    with pytest.raises(InvalidParameterError, match=message):
        PhantomSpec(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"level": "Q1", "grade": 1}, "unknown vertebral level"),
        ({"level": "L1", "grade": 4}, "grade must be 1, 2 or 3"),
        ({"level": "L1", "grade": 0}, "grade must be 1, 2 or 3"),
        ({"level": "L1", "height_loss_pct": 100}, "at most 80"),
        ({"level": "L1", "height_loss_pct": 0}, "above 0"),
        ({"level": "L1", "height_loss_pct": -5}, "above 0"),
        ({"level": "L1"}, "give a Genant grade"),
        ({"level": "L1", "grade": 1, "height_loss_pct": 35}, "not Genant grade 1"),
        ({"level": "L1", "type": "burst", "grade": 2}, "wedge, biconcave or crush"),
        ({"level": "L1", "grade": 2, "retropulsion_mm": -1}, "retropulsion"),
        ({"level": "L1", "grade": 2, "cortical_breaks": ("top",)}, "unknown cortical break"),
    ],
)
def test_bad_fracture_spec(kwargs, message):
    with pytest.raises(InvalidParameterError, match=message):
        FractureSpec(**kwargs)


def test_grade_sets_the_band_middle_and_levels_are_canonical():
    assert FractureSpec("l1", grade=1).loss_pct == 22.5
    assert FractureSpec("L1", grade=2).loss_pct == 32.5
    assert FractureSpec("L1", grade=3).loss_pct == 50.0
    assert FractureSpec("t12", height_loss_pct=35).level == "T12"
    spec = PhantomSpec(first_level="t11", last_level="l2")
    assert spec.levels == ("T11", "T12", "L1", "L2")


def test_implied_breaks_and_cleft():
    assert FractureSpec("L1", "wedge", grade=2).breaks == ("superior_endplate",)
    f = FractureSpec("L1", "crush", grade=3, retropulsion_mm=2, cortical_breaks=("left_wall",))
    assert f.breaks == ("superior_endplate", "inferior_endplate", "posterior_wall", "left_wall")
    assert f.has_cleft and not FractureSpec("L1", grade=2).has_cleft
    assert not FractureSpec("L1", grade=3, cleft=False).has_cleft


def test_parse_fracture():
    f = parse_fracture("L1:wedge:2")
    assert (f.level, f.type, f.grade, f.height_loss_pct) == ("L1", "wedge", 2, None)
    f = parse_fracture("t12:biconcave:35%")
    assert (f.level, f.type, f.height_loss_pct) == ("T12", "biconcave", 35.0)
    f = parse_fracture("L2:crush:3:retro=3.5:breaks=left_wall+right_wall:cleft=no")
    assert f.retropulsion_mm == 3.5 and f.cortical_breaks == ("left_wall", "right_wall")
    assert f.cleft is False
    assert parse_fracture("L1").grade == 2
    for bad in (
        "",
        "L1:wedge:x",
        "L1:wedge:2:3",
        "L1:wedge:2:color=red",
        "L1:wedge:5",
        "L1:wedge:100%",
    ):
        with pytest.raises(InvalidParameterError):
            parse_fracture(bad)


def test_spec_dict_round_trip():
    spec = PhantomSpec(
        first_level="T12",
        last_level="L2",
        voxel_mm=1.5,
        bone_density="osteoporotic",
        fractures=(
            FractureSpec(
                "L1", "crush", height_loss_pct=45, retropulsion_mm=2, cortical_breaks=("left_wall",)
            ),
        ),
        seed=7,
    )
    assert PhantomSpec.from_dict(spec.to_dict()) == spec


@given(st.floats(min_value=0.01, max_value=80.0, allow_nan=False))
def test_genant_grade_matches_the_bands(pct):
    g = genant_grade(pct)
    assert g == (0 if pct < 20 else 1 if pct < 25 else 2 if pct <= 40 else 3)
    if g:
        # A fracture given as that grade and percentage is accepted; any other grade is not.
        assert FractureSpec("L1", grade=g, height_loss_pct=pct).loss_pct == pct
        for other in {1, 2, 3} - {g}:
            with pytest.raises(InvalidParameterError):
                FractureSpec("L1", grade=other, height_loss_pct=pct)
