"""The whole procedure: kyphoplasty vs vertebroplasty, preview, metrics and bad parameters."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from kypho.errors import InvalidParameterError
from kypho.sim.bone import build_bone_model
from kypho.sim.simulate import default_trocar_tips, simulate
from kypho.sim.synthetic import BreakSpec, synthetic_body


@pytest.fixture(scope="module")
def fractured():
    g = synthetic_body(width_mm=40, depth_mm=30, height_mm=18, normal_height_mm=24,
                       bmd_mg_cc=70, breaks=[BreakSpec("posterior_wall", 2.5, (5.0, 0.0))])
    return build_bone_model(g, seed=2)


def test_kyphoplasty_fills_the_cavity_first(fractured):
    r = simulate(fractured, technique="kyphoplasty", cement="standard")
    assert r.balloon is not None and r.cavity_volume_ml > 1.0
    cav = r.model.cavity
    fill_in_cavity = r.cement_fraction[cav].mean()
    assert fill_in_cavity > 0.98
    # default volume: cavity + 10 %; most of the cement sits in the cavity
    assert r.injected_volume_ml == pytest.approx(round(1.1 * r.cavity_volume_ml, 2), abs=0.01)
    in_cavity_ml = float(r.cement_fraction[cav].sum()) * r.model.voxel_volume_mm3 / 1000.0
    assert in_cavity_ml + r.model.extra_capacity_mm3 / 1000.0 > 0.85 * r.cement_inside_ml
    assert r.pv_curve is not None and r.pv_curve.shape[1] == 2
    # the collapsed body is lifted (both endplates reached)
    assert r.heights_after_mm[1] > r.heights_before_mm[1]
    assert r.height_restoration_pct is not None


def test_vertebroplasty_metrics_and_no_height_change(fractured):
    r = simulate(fractured, technique="vertebroplasty", cement="standard", volume_ml=3.0)
    assert r.balloon is None and r.pv_curve is None
    assert r.injected_volume_ml == pytest.approx(3.0)
    assert r.fill_fraction == pytest.approx(r.cement_inside_ml / fractured.body_volume_ml)
    assert r.crosses_midline  # midline tip
    assert r.heights_after_mm == r.heights_before_mm
    json.dumps(r.summary())


def test_midline_crossing_and_endplate_contact_depend_on_the_tip(fractured):
    side = (-12.0, 3.0, 0.0)
    r = simulate(fractured, technique="vertebroplasty", trocar_tips_ras_mm=[side], volume_ml=0.5)
    assert not r.crosses_midline
    assert r.endplate_contact == {"superior": False, "inferior": False}
    r2 = simulate(fractured, technique="vertebroplasty", trocar_tips_ras_mm=[side],
                  volume_ml=3.5)
    assert r2.endplate_contact["superior"] or r2.endplate_contact["inferior"]
    centre = simulate(fractured, technique="vertebroplasty", trocar_tips_ras_mm=[(0, 3, 0)],
                      volume_ml=5.0)
    assert centre.endplate_contact == {"superior": True, "inferior": True}


def test_preview_agrees_roughly_with_the_full_run(fractured):
    full = simulate(fractured, technique="vertebroplasty", volume_ml=2.5)
    prev = simulate(fractured, technique="vertebroplasty", volume_ml=2.5, mode="preview")
    a = full.cement_fraction > 0.3
    b = prev.cement_fraction > 0.3
    dice = 2 * (a & b).sum() / (a.sum() + b.sum())
    assert dice > 0.6
    assert prev.injected_volume_ml == pytest.approx(2.5)
    assert prev.notes and prev.injection_history == {}


def test_simulation_is_deterministic_for_a_seed():
    g = synthetic_body(width_mm=34, depth_mm=26, height_mm=18)
    a = simulate(g, technique="vertebroplasty", volume_ml=1.5, seed=11)
    b = simulate(g, technique="vertebroplasty", volume_ml=1.5, seed=11)
    c = simulate(g, technique="vertebroplasty", volume_ml=1.5, seed=12)
    assert np.array_equal(a.cement_fraction, b.cement_fraction)
    assert not np.array_equal(a.cement_fraction, c.cement_fraction)


def test_progress_is_reported(fractured):
    seen: list[float] = []
    simulate(fractured, technique="vertebroplasty", volume_ml=1.0,
             progress=lambda f, _msg: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert all(b >= a for a, b in itertools.pairwise(seen))


def test_default_tips_lie_in_the_anterior_third_or_centre(fractured):
    (vp,) = default_trocar_tips(fractured, technique="vertebroplasty")
    assert vp[1] - fractured.centroid_ras_mm[1] == pytest.approx(fractured.depth_mm / 3, abs=1.0)
    left, right = default_trocar_tips(fractured, technique="kyphoplasty", bipedicular=True)
    assert left[0] < 0 < right[0]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"volume_ml": 80.0}, "exceeds the volume of the L1 body"),
        ({"volume_ml": -1.0}, "volume must be positive"),
        ({"rate_ml_per_min": -3.0}, "rate must be positive"),
        ({"cement": "superglue"}, "unknown cement 'superglue'"),
        ({"trocar_tips_ras_mm": [(0.0, 0.0, 40.0)]}, "trocar tip 1 .* outside the cancellous"),
        ({"technique": "sacroplasty"}, "unknown technique"),
        ({"technique": "kyphoplasty", "balloon": "30/6"}, "unknown balloon"),
        ({"mode": "fast"}, "unknown mode"),
        ({"start_time_min": -1.0}, "start time"),
    ],
)
def test_bad_parameters_are_refused_clearly(fractured, kwargs, match):
    kw = {"technique": "vertebroplasty"}
    kw.update(kwargs)
    with pytest.raises(InvalidParameterError, match=match):
        simulate(fractured, **kw)
