"""Balloon inflation: plateau pressure, compaction, lift, device and surgeon stops."""

from __future__ import annotations

import numpy as np
import pytest

from kypho.anatomy.morphometry import EndplateProfile
from kypho.errors import InvalidParameterError
from kypho.sim.balloon import (
    BALLOONS,
    DEVICE_MAX_PRESSURE_MPA,
    WORKING_PRESSURE_CAP_MPA,
    inflate,
)
from kypho.sim.bone import build_bone_model, yield_stress_mpa
from kypho.sim.synthetic import BreakSpec, synthetic_body


def _model(**kw):
    base = dict(width_mm=40, depth_mm=30, height_mm=24, bmd_mg_cc=65)
    base.update(kw)
    return build_bone_model(synthetic_body(**base), heterogeneity_sigma=0.0)


def test_device_figures():
    assert set(BALLOONS) == {"10/2", "10/3", "15/2", "15/3", "20/3"}
    assert BALLOONS["15/3"].length_mm == 15 and BALLOONS["15/3"].max_volume_ml == 3
    assert DEVICE_MAX_PRESSURE_MPA == pytest.approx(400 * 0.006894757, rel=1e-9)
    assert WORKING_PRESSURE_CAP_MPA == pytest.approx(249 * 0.006894757, rel=1e-9)


def test_three_ml_at_the_yield_stress_plateau_as_in_cadavers():
    # Nan Fang 2006: 2.95 mL at 0.85 MPa; Kopperdahl at 65 mg/cm^3 gives 0.84 MPa
    m = _model()
    r = inflate(m, [(0.0, 0.0, -2.0)], balloon="15/3")
    assert r.stop_reason == "balloon volume reached"
    assert r.cavity_volume_ml == pytest.approx(3.0, abs=0.01)
    plateau = float(yield_stress_mpa(65.0))
    assert r.pv_curve[-1, 0] == pytest.approx(3.0, abs=0.01)
    assert r.pv_curve[-1, 1] == pytest.approx(plateau, rel=1e-6)
    assert r.max_pressure_mpa == pytest.approx(0.85, abs=0.05)


def test_compaction_conserves_mineral_and_tightens_the_shell():
    m = _model()
    r = inflate(m, [(0.0, 0.0, -2.0)])
    before = float(m.bmd_mg_cc[m.fluid].sum())
    after = float(r.model.bmd_mg_cc[m.fluid].sum())
    assert after == pytest.approx(before, rel=1e-5)
    assert np.all(r.model.bmd_mg_cc[r.cavity] == 0.0)
    shell = r.model.bmd_mg_cc > m.bmd_mg_cc + 1.0
    assert shell.any()
    assert np.all(r.model.k_axial_mm2[shell] < m.k_axial_mm2[shell])
    assert np.all(r.model.porosity[r.cavity] == 1.0)


def test_dense_bone_stops_the_balloon_at_the_pressure_cap():
    m = _model(bmd_mg_cc=200.0)  # Kopperdahl 4.2 MPa, above any cap
    r = inflate(m, [(0.0, 0.0, -2.0)])
    assert r.stop_reason.startswith("pressure cap")
    assert r.cavity_volume_ml < 0.3  # only the drilled channel opens


def test_the_balloon_lifts_a_collapsed_endplate_once_it_spans_the_body():
    m = _model(height_mm=17.0, normal_height_mm=24.0)
    r = inflate(m, [(0.0, 0.0, 0.0)])
    assert r.endplate_contact == (True, True)
    assert r.lift_volume_ml > 0.3
    ha0, ha1 = r.heights_before_mm[0], r.heights_after_mm[0]
    assert 17.0 < ha1 <= 24.0
    # the lift volume equals projected area x height gained (within a voxel row)
    assert r.lift_volume_ml * 1000 / (ha1 - ha0) > 100.0


def test_a_wedge_is_reduced_and_preload_prevents_the_lift():
    m = _model(height_mm=24.0, anterior_height_mm=14.0, normal_height_mm=24.0)
    free = inflate(m, [(0.0, 4.0, -3.5)])
    assert free.wedge_angle_after_deg < free.wedge_angle_before_deg - 5.0
    # hinge at the posterior wall: the posterior height stays as measured
    assert free.heights_after_mm[2] == pytest.approx(free.heights_before_mm[2])
    assert free.heights_after_mm[0] > free.heights_before_mm[0] + 2.0
    loaded = inflate(m, [(0.0, 4.0, -3.5)], preload_n=2000.0)
    assert loaded.lift_volume_ml == 0.0
    assert loaded.wedge_angle_after_deg == pytest.approx(loaded.wedge_angle_before_deg)


def test_the_balloon_stops_at_the_cortex_and_at_a_breach():
    m = _model()
    near_wall = inflate(m, [(0.0, 8.0, -2.0)])
    assert near_wall.stop_reason == "balloon touched the cortex"
    assert near_wall.cavity_volume_ml < 3.0
    broken = build_bone_model(
        synthetic_body(width_mm=40, depth_mm=30, height_mm=24, bmd_mg_cc=65,
                       breaks=[BreakSpec("posterior_wall", 4.0)]),
        heterogeneity_sigma=0.0, venous_exits=False)
    breach = inflate(broken, [(0.0, -6.0, 0.0)])
    assert breach.stop_reason.startswith("cortical breach")


def test_wedge_angle_sign_and_bad_inputs():
    # one wedge definition (kypho.anatomy): the angle between the endplate lines
    p = EndplateProfile((14.0, 19.0, 24.0), -10.0 / 30.0, 0.0, 30.0)
    assert p.wedge_angle_deg == pytest.approx(np.degrees(np.arctan(1 / 3)))
    assert p.with_heights((24.0, 24.0, 24.0)).wedge_angle_deg == pytest.approx(0.0, abs=1e-12)
    m = _model()
    with pytest.raises(InvalidParameterError, match="unknown balloon"):
        inflate(m, [(0.0, 0.0, 0.0)], balloon="25/5")
    with pytest.raises(InvalidParameterError, match="balloon volume"):
        inflate(m, [(0.0, 0.0, 0.0)], volume_ml=4.0)
    with pytest.raises(InvalidParameterError, match="outside the cancellous bone"):
        inflate(m, [(0.0, 60.0, 0.0)])


def test_each_balloon_stops_at_the_cortex_on_its_own():
    # bipedicular: the balloon placed 4 mm from the right wall stops there, while the one in
    # the left half, with room, keeps growing to the device volume
    m = _model()
    near, free = (15.0, 0.0, -2.0), (-8.0, 0.0, -2.0)
    alone = inflate(m, [near])
    assert alone.stop_reason == "balloon touched the cortex"
    pair = inflate(m, [near, free])
    assert "1 of 2 balloons stopped earlier at the cortex" in pair.stop_reason
    right = pair.cavity & (m.ijk_to_ras(np.indices(m.shape).reshape(3, -1).T)[:, 0] > 3.5
                           ).reshape(m.shape)
    left = pair.cavity & ~right
    vvox = m.voxel_volume_mm3 / 1000.0
    assert right.sum() * vvox == pytest.approx(alone.cavity_volume_ml, abs=0.15)
    assert left.sum() * vvox == pytest.approx(3.0, abs=0.05)
