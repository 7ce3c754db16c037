"""Paths planned on the real example CT (network: skipped unless the example is cached)."""

from __future__ import annotations

import numpy as np
import pytest

#: Plausible transverse (convergence) angle of a bipedicular path, degrees.  **Model choice**
#: anchored on the published pedicle angles: T12 3 deg (Demiroz, CT of 1512 pedicles) and
#: -9.8 +- 2.4 deg (Kaur 2016, sign as printed); the lumbar angle rises from L1 to L5 (Lien
#: 2007) and the needle runs at about 0 deg at L3 (openradiology.org).  No per-level L1 number
#: was read, so its range is the thoracolumbar one widened to 20 deg.
PLAUSIBLE_CONVERGENCE_DEG = {"T12": (-15.0, 15.0), "L1": (0.0, 20.0)}


@pytest.fixture(scope="module")
def example_case():
    from kypho.io import example as ex

    if not ex._cached_ok(ex.example_cache_dir()):
        pytest.skip("the example CT is not cached (run `kypho fetch-example` online first)")
    return ex.fetch_example()


def _check_transpedicular(plan) -> None:
    lo, hi = PLAUSIBLE_CONVERGENCE_DEG[plan.level]
    assert len(plan.paths) == 2
    for p in plan.paths:
        assert p.approach == "transpedicular"
        assert p.verdict in ("safe", "caution"), p.reasons
        ped = plan.pedicles[p.side]
        # The line passes through the pedicle's isthmus section (within its half-width).
        e, d = np.asarray(p.entry_ras_mm), p.direction_ras
        c = np.asarray(ped.isthmus_ras_mm)
        off = (c - e) - ((c - e) @ d) * d
        assert np.linalg.norm(off) < ped.width_mm / 2
        assert lo <= p.transverse_angle_deg <= hi, (p.side, p.transverse_angle_deg)


@pytest.mark.network
def test_example_t12_paths_transpedicular(example_case):
    from kypho.plan import plan_level

    _check_transpedicular(plan_level(example_case, "T12", n_options=1))


@pytest.mark.network
@pytest.mark.xfail(
    strict=True,
    reason="known gap: on the example's 2.5 mm slices the L1 pedicle axis refit is rejected and "
    "the paths converge 25-30 deg (see docs/references/plan.md)",
)
def test_example_l1_paths_transpedicular(example_case):
    from kypho.plan import plan_level

    _check_transpedicular(plan_level(example_case, "L1", n_options=1))


@pytest.mark.network
def test_example_l2_cut_by_scan_edge_refused(example_case):
    from kypho.errors import NotMeasurableError
    from kypho.plan import plan_level

    with pytest.raises(NotMeasurableError, match="edge of the scan"):
        plan_level(example_case, "L2")


@pytest.mark.network
@pytest.mark.parametrize("level", [
    "T11",
    pytest.param("T12", marks=pytest.mark.xfail(strict=True, reason=(
        "known gap (pedicle axes on real CT): the T12 right pedicle axis is measured "
        "diverging 22 deg on the 2.5 mm slices, the axis penalty pulls the path to 0.7 mm of "
        "the lateral wall (caution)"))),
    "L1",
])
def test_example_paths_go_through_the_pedicle_and_are_judged_safe(example_case, level):
    """Whatever their angle, the chosen paths pass the isthmus and keep every clearance."""
    from kypho.plan import plan_level

    plan = plan_level(example_case, level)
    for p in plan.paths:
        assert p.approach == "transpedicular" and p.verdict == "safe", (p.side, p.reasons)
        ped = plan.pedicles[p.side]
        e, d = np.asarray(p.entry_ras_mm), p.direction_ras
        c = np.asarray(ped.isthmus_ras_mm)
        off = (c - e) - ((c - e) @ d) * d
        assert np.linalg.norm(off) < ped.width_mm / 2
