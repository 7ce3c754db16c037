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
from kypho.sim.from_case import body_from_case, body_from_ct, calibration_from_case
from kypho.sim.report import sim_section
from kypho.sim.simulate import default_trocar_tips, simulate


@pytest.fixture(scope="module")
def case() -> Case:
    return make_phantom(PhantomSpec(
        first_level="T12", last_level="L2", voxel_mm=1.0, bone_density="osteoporotic",
        soft_tissue=False,
        fractures=(FractureSpec("L1", "wedge", grade=2, cortical_breaks=("posterior_wall",)),),
    ))


def test_body_from_phantom_matches_its_truth(case):
    g = body_from_case(case, "L1")
    v = case.truth.vertebra("L1")
    m = build_bone_model(g)
    assert m.heights_mm == pytest.approx(
        (v.height_anterior_mm, v.height_middle_mm, v.height_posterior_mm))
    assert m.depth_mm == pytest.approx(v.body_depth_mm, abs=2.5)
    assert m.width_mm == pytest.approx(v.body_width_mm, abs=2.5)
    kinds = {op.name: op.kind for op in m.openings}
    assert kinds["superior_endplate"] == "disc"  # the wedge's fractured endplate
    assert kinds["posterior_wall"] == "canal"
    # the body is the body: no posterior elements (all voxels in front of the pedicle isthmi)
    ras = m.ijk_to_ras(np.argwhere(m.body))
    a = np.asarray(v.anterior_axis_ras)
    isthmus = np.mean([p.isthmus_ras_mm for p in v.pedicles], axis=0)
    assert ((ras - isthmus) @ a).min() > -3.0
    # osteoporotic phantom (118 HU): trabecular density near the QCT osteoporosis threshold
    assert 60.0 < float(np.median(m.bmd_mg_cc[m.fluid])) < 110.0


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


def test_phantom_calibration_and_real_ct_limits(case):
    # without soft tissue there is no blood reference in the phantom
    with pytest.raises(NotMeasurableError, match="calibrate"):
        calibration_from_case(case)
    with pytest.raises(NotMeasurableError, match="no label for L4"):
        body_from_case(case, "L4")
    real = Case(volume=case.volume, labels=case.labels, name="ct")
    with pytest.raises(NotMeasurableError, match="no label for L4"):
        body_from_ct(real, "L4")


def test_real_ct_body_inferred_without_tissue_map_matches_the_phantom(case):
    """The phantom's CT and labels alone (a real CT): same body, walls, no invented breaks."""
    truth_model = build_bone_model(body_from_case(case, "L1"))
    real = Case(volume=case.volume, labels=case.labels, name="ct")
    g = body_from_case(real, "L1")
    m = build_bone_model(g)
    # the body separated by kypho.assess has the phantom body's cancellous volume and extent
    # (its body keeps the roots of the pedicles in front of the canal: a larger shell)
    assert m.fluid.sum() == pytest.approx(truth_model.fluid.sum(), rel=0.10)
    assert m.body_volume_ml == pytest.approx(truth_model.body_volume_ml, rel=0.20)
    assert m.depth_mm == pytest.approx(truth_model.depth_mm, abs=3.0)
    assert m.width_mm == pytest.approx(truth_model.width_mm, abs=3.0)
    v = case.truth.vertebra("L1")
    assert np.dot(m.superior_axis_ras, v.superior_axis_ras) > np.cos(np.radians(5.0))
    # no breaks are seen on a CT: only the natural (assumed) venous exits, said in the notes
    assert m.openings and all(op.natural for op in m.openings)
    assert {op.kind for op in m.openings} <= {"basivertebral", "segmental"}
    assert any("model assumptions" in n for n in m.notes)
    # the posterior elements are not in the body
    ras = m.ijk_to_ras(np.argwhere(m.body))
    isthmus = np.mean([p.isthmus_ras_mm for p in v.pedicles], axis=0)
    assert ((ras - isthmus) @ np.asarray(v.anterior_axis_ras)).min() > -3.0
    assert 60.0 < float(np.median(m.bmd_mg_cc[m.fluid])) < 110.0
    # the heights come from kypho.assess and the wedge is graded, so a balloon can lift
    assert g.heights_mm is not None and g.normal_heights_mm is not None
    assert g.heights_mm[0] == pytest.approx(v.height_anterior_mm, abs=2.0)
    r = simulate(m, technique="vertebroplasty", volume_ml=2.0)
    assert r.injected_volume_ml == pytest.approx(r.cement_inside_ml + r.leaked_volume_ml,
                                                 rel=1e-6)
    assert any("model assumptions" in n for n in r.notes)
    assert "model assumptions" in sim_section([r], slices=False).html


def test_gas_cleft_is_detected_on_a_real_ct(case):
    """A vacuum cleft (gas) painted into the body is found, at its volume; none without it."""
    real = Case(volume=case.volume, labels=case.labels, name="ct")
    assert not body_from_ct(real, "L1").cleft.any()
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
    g = body_from_ct(gassy, "L1")
    found_mm3 = float(g.cleft.sum()) * abs(np.linalg.det(g.affine[:3, :3]))
    assert found_mm3 == pytest.approx(painted_mm3, rel=0.05)
    assert any("gas cleft detected" in n for n in g.notes)


def test_default_tips_come_from_the_trocar_plan_or_fall_back_with_a_note(case, monkeypatch):
    from kypho.errors import KyphoError
    from kypho.plan import plan_level
    from kypho.sim import pipeline

    m = build_bone_model(body_from_case(case, "L1"))
    plan = plan_level(case, "L1", gauge=11)
    a = pipeline.case_approach(case, "L1", m, technique="vertebroplasty")
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
    b = pipeline.case_approach(case, "L1", m, technique="vertebroplasty")
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
