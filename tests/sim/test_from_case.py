"""Integration with the phantom: body from a case, both techniques, and the report section."""

from __future__ import annotations

import numpy as np
import pytest

from kypho.core.case import Case
from kypho.errors import NotMeasurableError
from kypho.phantom import FractureSpec, PhantomSpec, make_phantom
from kypho.report import Section
from kypho.sim.bone import build_bone_model
from kypho.sim.from_case import body_from_case, calibration_from_case
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
    with pytest.raises(NotMeasurableError, match="cannot infer"):
        body_from_case(real, "L1")
