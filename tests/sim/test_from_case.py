"""Integration with the phantom: body from a case, both techniques, and the report section."""

from __future__ import annotations

import numpy as np
import pytest

from kypho.core.case import Case
from kypho.core.volume import Volume
from kypho.errors import NotMeasurableError
from kypho.phantom import FractureSpec, PhantomSpec, make_phantom
from kypho.report import Section
from kypho.sim.bone import build_bone_model
from kypho.sim.from_case import body_from_case
from kypho.sim.report import sim_section
from kypho.sim.simulate import default_trocar_tips, simulate
from kypho.sim.spec import SimulationSpec


@pytest.fixture(scope="module")
def case() -> Case:
    return make_phantom(PhantomSpec(
        first_level="T12", last_level="L2", voxel_mm=1.0, bone_density="osteoporotic",
        soft_tissue=False,
        fractures=(FractureSpec("L1", "wedge", grade=2, cortical_breaks=("posterior_wall",)),),
    ))


def test_body_is_measured_from_the_ct_and_agrees_with_the_phantoms_truth(case):
    """The body comes from the CT and labels alone; the phantom's truth only judges it."""
    g = body_from_case(case, "L1")
    m = build_bone_model(g)
    v = case.truth.vertebra("L1")
    truth_h = (v.height_anterior_mm, v.height_middle_mm, v.height_posterior_mm)
    assert m.heights_mm == pytest.approx(truth_h, abs=1.0)  # 1 mm voxels
    assert m.heights_mm != pytest.approx(truth_h, abs=1e-6)  # measured, not copied
    assert m.profile.wedge_angle_deg == pytest.approx(v.wedge_angle_deg, abs=3.0)
    assert m.depth_mm == pytest.approx(v.body_depth_mm, abs=3.0)
    assert m.width_mm == pytest.approx(v.body_width_mm, abs=3.0)
    assert np.dot(m.superior_axis_ras, v.superior_axis_ras) > np.cos(np.radians(3.0))
    assert np.dot(m.anterior_axis_ras, v.anterior_axis_ras) > np.cos(np.radians(3.0))
    # the graded wedge gives expected heights, so a balloon can lift
    assert g.normal_heights_mm is not None
    assert g.normal_heights_mm[0] == pytest.approx(v.normal_height_anterior_mm, abs=2.5)
    # the truth's posterior-wall break is not seen on the CT: only the natural (assumed)
    # venous exits, said in the notes
    assert m.openings and all(op.natural for op in m.openings)
    assert {op.kind for op in m.openings} <= {"basivertebral", "segmental"}
    assert any("model assumptions" in n for n in m.notes)
    # the body is the body: no posterior elements (all voxels in front of the pedicle isthmi)
    ras = m.ijk_to_ras(np.argwhere(m.body))
    isthmus = np.mean([p.isthmus_ras_mm for p in v.pedicles], axis=0)
    assert ((ras - isthmus) @ np.asarray(v.anterior_axis_ras)).min() > -3.0
    # osteoporotic phantom (118 HU): trabecular density near the QCT osteoporosis threshold
    assert 60.0 < float(np.median(m.bmd_mg_cc[m.fluid])) < 130.0


def test_simulation_heights_are_the_assessments_heights(case):
    """One height definition: before the procedure the simulation reports the assessment's
    six-point heights and wedge angle, to the digit."""
    from kypho.assess import assess

    va = next(x for x in assess(case).vertebrae if x.level == "L1")
    m = build_bone_model(body_from_case(case, "L1"))
    r = simulate(m, technique="vertebroplasty", volume_ml=2.0)
    assert r.heights_before_mm == pytest.approx(va.heights_mm, abs=1e-9)
    assert r.wedge_angle_before_deg == pytest.approx(va.wedge_angle_deg, abs=1e-9)


def test_both_techniques_run_on_the_phantom(case):
    m = build_bone_model(body_from_case(case, "L1"))
    kp = simulate(m, technique="kyphoplasty",
                  trocar_tips_ras_mm=default_trocar_tips(m, technique="kyphoplasty",
                                                         bipedicular=True))
    vp = simulate(m, technique="vertebroplasty", volume_ml=3.0)
    for r in (kp, vp):
        assert r.injected_volume_ml > 0.5
        assert r.injected_volume_ml == pytest.approx(
            r.cement_inside_ml + r.leaked_volume_ml, rel=1e-6)
    assert kp.balloon is not None
    assert 0.5 < kp.balloon.max_pressure_mpa < 2.8
    sec = sim_section([kp, vp])
    assert isinstance(sec, Section) and sec.key == "simulate"
    assert len(sec.figures) >= 3
    assert all(f.png.startswith(b"\x89PNG") for f in sec.figures)
    assert "kyphoplasty" in sec.html and "vertebroplasty" in sec.html
    assert "model assumptions" in sim_section([vp], slices=False).html


def test_unlabelled_level_is_refused(case):
    with pytest.raises(NotMeasurableError, match="no label for L4"):
        body_from_case(case, "L4")


def test_gas_cleft_is_detected(case):
    """A vacuum cleft (gas) painted into the body is found, at its volume; none without it."""
    assert not body_from_case(case, "L1").cleft.any()
    hu = np.array(case.volume.data, dtype=np.float32)
    c = np.asarray(case.truth.vertebra("L1").centroid_ras_mm)
    aff = np.asarray(case.volume.affine)
    ijk = np.indices(hu.shape).reshape(3, -1).T
    ras = ijk @ aff[:3, :3].T + aff[:3, 3]
    d = (ras - c) / np.array([6.0, 4.0, 2.0])
    gas = (np.einsum("ij,ij->i", d, d) <= 1.0).reshape(hu.shape)
    hu[gas] = -900.0
    painted_mm3 = float(gas.sum()) * abs(np.linalg.det(aff[:3, :3]))
    gassy = Case(volume=Volume(hu, aff), labels=case.labels, name="ct-gas")
    g = body_from_case(gassy, "L1")
    found_mm3 = float(g.cleft.sum()) * abs(np.linalg.det(g.affine[:3, :3]))
    assert found_mm3 == pytest.approx(painted_mm3, rel=0.05)
    assert any("gas cleft detected" in n for n in g.notes)


def test_simulate_case_uses_the_upstream_results_it_is_given(case, monkeypatch):
    """Results flow forward: with the assessment and the plan given, neither is made again."""
    from kypho.assess import assess
    from kypho.plan import plan_level
    from kypho.sim.pipeline import simulate_case

    assessment = assess(case)
    plan = plan_level(case, "L1")

    def must_not_run(*args, **kwargs):
        raise AssertionError("an upstream stage was run again")

    monkeypatch.setattr("kypho.assess.assess", must_not_run)
    monkeypatch.setattr("kypho.plan.plan_level", must_not_run)
    run = simulate_case(case, "L1", technique="vertebroplasty", volume_ml=1.5, frames=False,
                        mode="preview", assessment=assessment, plan=plan)
    assert "kypho.plan" in run.approach
    assert run.result.heights_before_mm == pytest.approx(
        next(v for v in assessment.vertebrae if v.level == "L1").heights_mm)


def test_default_tips_come_from_the_trocar_plan_or_fall_back_with_a_note(case, monkeypatch):
    from kypho.errors import KyphoError
    from kypho.plan import plan_level
    from kypho.sim import pipeline

    m = build_bone_model(body_from_case(case, "L1"))
    plan = plan_level(case, "L1", gauge=11)
    a = pipeline.case_approach(case, "L1", m, SimulationSpec(technique="vertebroplasty"))
    assert "kypho.plan" in a.description and len(a.tips_ras_mm) == len(plan.paths) == 2
    for tip, ax, path in zip(a.tips_ras_mm, a.axes_ras, plan.paths, strict=True):
        # the tip is the planned target (or moved at most a few mm into cancellous bone) and
        # the trocar runs from the planned entry through it
        assert np.linalg.norm(np.subtract(tip, path.target_ras_mm)) <= 6.0
        u = np.subtract(tip, path.entry_ras_mm)
        assert np.allclose(ax, u / np.linalg.norm(u))
        assert m.fluid[tuple(np.rint(m.ras_to_ijk(tip)).astype(int))]

    def broken(*args, **kwargs):
        raise KyphoError("no pedicles")

    monkeypatch.setattr("kypho.plan.plan_level", broken)
    b = pipeline.case_approach(case, "L1", m, SimulationSpec(technique="vertebroplasty"))
    assert "default target" in b.description and len(b.tips_ras_mm) == 1
    assert any("planning failed (no pedicles)" in n for n in b.notes)


def test_kyphoplasty_balloons_sit_half_a_balloon_behind_the_planned_targets(case):
    from kypho.plan import plan_level
    from kypho.sim import pipeline
    from kypho.sim.balloon import get_balloon

    m = build_bone_model(body_from_case(case, "L1"))
    plan = plan_level(case, "L1", gauge=11)
    a = pipeline.case_approach(case, "L1", m, plan=plan)
    assert a.tips_are_targets
    centres, note = pipeline._balloons_behind_targets(m, a.tips_ras_mm, a.axes_ras, "15/3")
    half = get_balloon("15/3").length_mm / 2
    for centre, tip, ax in zip(centres, a.tips_ras_mm, a.axes_ras, strict=True):
        back = np.subtract(tip, centre)
        # moved back along the trocar by about half the balloon (snapped to a cancellous voxel)
        assert float(back @ np.asarray(ax)) == pytest.approx(half, abs=1.5)
        assert m.fluid[tuple(np.rint(m.ras_to_ijk(centre)).astype(int))]
    assert "behind the planned targets" in note


def test_a_balloon_stopped_early_at_the_cortex_is_explained(case):
    from scipy import ndimage

    from kypho.sim.pipeline import simulate_case

    m = build_bone_model(body_from_case(case, "L1"))
    to_wall = ndimage.distance_transform_edt(~m.wall, sampling=m.spacing_mm)
    # a cancellous voxel 2-3 mm from the cortex: the balloon meets it at once
    ijk = np.argwhere(m.fluid & (to_wall >= 2.0) & (to_wall <= 3.0))[0]
    tip = m.ijk_to_ras(ijk[None])[0]
    run = simulate_case(case, "L1", technique="kyphoplasty", model=m, tips_ras_mm=[tip],
                        frames=False)
    bal = run.result.balloon
    assert bal is not None and bal.cavity_volume_ml < 1.0
    note = [n for n in run.result.notes if "stopped at the cortex" in n]
    assert note and f"{float(to_wall[tuple(ijk)]):.1f} mm from the nearest cortex" in note[0]


def test_a_real_ct_level_is_modelled_and_simulated(real_ct):
    """The example CT's T12 on both grids: the same measured body, a plausible porous model and
    a conserving vertebroplasty preview."""
    from kypho.anatomy import SpineAnatomy

    g = body_from_case(real_ct, "T12")
    m = build_bone_model(g)
    v = SpineAnatomy.of(real_ct).vertebra("T12")
    assert m.heights_mm == pytest.approx(v.heights_mm, abs=1e-9)
    assert np.dot(m.superior_axis_ras, v.frame.superior) == pytest.approx(1.0, abs=1e-9)
    assert 15.0 < m.body_volume_ml < 60.0  # an adult T12 body is about 20-40 mL
    assert g.normal_heights_mm is None  # not fractured: nothing to restore
    assert all(op.natural for op in m.openings)
    r = simulate(m, technique="vertebroplasty", volume_ml=2.0, mode="preview")
    assert r.injected_volume_ml == pytest.approx(2.0, rel=1e-6)
    assert any("model assumptions" in n for n in r.notes)
