"""Trabecular HU and the Pickhardt screen; the posterior-wall (retropulsion) flag; candidates."""

from __future__ import annotations

import pytest

from kypho.assess import MEASURED, VertebraAssessment, assess
from kypho.assess.density import (
    PICKHARDT_SENSITIVE_HU,
    PICKHARDT_SPECIFIC_HU,
    density_screen,
)
from kypho.assess.flags import RETROPULSION_FLAG_MM
from kypho.phantom import FractureSpec


@pytest.fixture(scope="module")
def density_cohort():
    """The same L1 phantom at the three bone densities (one level: fast)."""
    from kypho.phantom import PhantomSpec, make_phantom

    out = {}
    for density in ("normal", "osteopenic", "osteoporotic"):
        spec = PhantomSpec(
            first_level="L1",
            last_level="L1",
            voxel_mm=1.0,
            soft_tissue=False,
            bone_density=density,
            seed=4,
        )
        case = make_phantom(spec)
        out[density] = (case, assess(case))
    return out


def test_trabecular_hu_matches_truth_and_orders_densities(density_cohort):
    hu = {}
    for density, (case, a) in density_cohort.items():
        v = a.vertebra("L1")
        assert v.status == MEASURED
        truth = case.truth.vertebra("L1").trabecular_hu
        # cortex and endplates excluded: the mean lies within 10 HU of the generated value
        assert v.trabecular_hu == pytest.approx(truth, abs=10.0)
        assert v.trabecular_voxels > 1000
        hu[density] = v.trabecular_hu
    assert hu["normal"] > hu["osteopenic"] > hu["osteoporotic"]
    screens = {d: a.density_screen for d, (_, a) in density_cohort.items()}
    assert screens["normal"].category == "osteoporosis unlikely"  # 178 HU > 160
    assert screens["osteopenic"].category == "indeterminate"  # 143 HU
    assert screens["osteoporotic"].category == "indeterminate"  # 118 HU: above 110
    assert "Pickhardt 2013" in screens["normal"].text


def _l1(hu: float | None, **kw) -> dict[str, VertebraAssessment]:
    return {"L1": VertebraAssessment(level="L1", status=MEASURED, trabecular_hu=hu, **kw)}


@pytest.mark.parametrize(
    ("hu", "category"),
    [
        (PICKHARDT_SPECIFIC_HU - 0.1, "osteoporosis likely"),
        (PICKHARDT_SPECIFIC_HU, "osteoporosis likely"),  # "110 HU or less"
        (PICKHARDT_SPECIFIC_HU + 0.1, "indeterminate"),
        (PICKHARDT_SENSITIVE_HU, "indeterminate"),  # "160 HU or less"
        (PICKHARDT_SENSITIVE_HU + 0.1, "osteoporosis unlikely"),
    ],
)
def test_pickhardt_thresholds(hu, category):
    assert (PICKHARDT_SPECIFIC_HU, PICKHARDT_SENSITIVE_HU) == (110.0, 160.0)
    s = density_screen(_l1(hu))
    assert (s.level, s.hu, s.category) == ("L1", hu, category)


def test_screen_not_available_without_l1():
    assert density_screen({}).category == "not available"
    assert "not in the label map" in density_screen({}).text
    s = density_screen({"L1": VertebraAssessment("L1", "not measurable: cut by scan edge")})
    assert s.category == "not available" and "cut by scan edge" in s.text
    assert "impacted" in density_screen(_l1(90.0, genant_grade=2)).text


def test_retropulsed_fragment_flagged(phantom_factory):
    case = phantom_factory(
        first_level="T12",
        last_level="L2",
        fractures=(FractureSpec("L1", "crush", grade=2, retropulsion_mm=4.0),),
        seed=3,
    )
    a = assess(case)
    l1 = a.vertebra("L1")
    assert l1.posterior_wall_protrusion_mm == pytest.approx(4.0, abs=1.5)
    assert any("posterior wall" in f and "canal" in f for f in l1.flags)
    for lv in ("T12", "L2"):  # intact walls: no flag
        v = a.vertebra(lv)
        assert v.posterior_wall_protrusion_mm < RETROPULSION_FLAG_MM
        assert not any("posterior wall" in f for f in v.flags)
    (cand,) = a.candidates
    assert cand.level == "L1"
    assert any("retropulsed" in c for c in cand.cautions)
    assert any("MRI" in c for c in cand.cautions)


def test_intact_walls_not_flagged(wedge_l1):
    _, a = wedge_l1
    for v in a.measured:
        assert v.posterior_wall_protrusion_mm < RETROPULSION_FLAG_MM, v.level
