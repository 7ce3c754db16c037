"""Paths planned on the real example CT, on its own 2.5 mm grid and on a 1 mm isotropic copy."""

from __future__ import annotations

import numpy as np
import pytest

#: Plausible transverse (convergence) angle of a bipedicular path, degrees.  **Model choice**
#: anchored on the published pedicle angles: T12 3 deg (Demiroz, CT of 1512 pedicles) and
#: -9.8 +- 2.4 deg (Kaur 2016, sign as printed); the lumbar angle rises from L1 to L5 (Lien
#: 2007) and the needle runs at about 0 deg at L3 (openradiology.org).  No per-level L1 number
#: was read, so its range is the thoracolumbar one widened to 20 deg.
PLAUSIBLE_CONVERGENCE_DEG = {"T12": (-15.0, 15.0), "L1": (0.0, 20.0)}

#: Known gaps of pedicle measurement on this CT (the open planning issue), per grid and level.
KNOWN_GAP = {
    ("example-2.5mm", "L1", "angle"): "on the 2.5 mm slices the L1 pedicle axes are measured "
    "converging 24-33 deg (published about 10 deg), so the paths converge 24-29 deg",
    ("example-iso1mm", "L1", "angle"): "on the 1 mm copy too the L1 pedicle axes converge "
    "25-31 deg, so the paths converge 26-28 deg",
    ("example-iso1mm", "T12", "angle"): "on the 1 mm copy the T12 right path converges 16 deg "
    "(pedicle axis measured from the axial planes)",
    ("example-2.5mm", "T12", "safe"): "on the 2.5 mm slices the T12 right pedicle axis is "
    "measured diverging 22 deg; the axis penalty pulls the path to 0.7 mm of the lateral wall",
    ("example-iso1mm", "T12", "safe"): "on the 1 mm copy the T12 right path passes 5.6 mm from "
    "the measured isthmus centre (more than the pedicle's half-width)",
}


def _grid(request) -> str:
    return request.node.callspec.params["real_ct"]


def _known_gap(request, level: str, what: str) -> None:
    reason = KNOWN_GAP.get((_grid(request), level, what))
    if reason:
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"known gap: {reason}"))


@pytest.mark.parametrize("level", ["T12", "L1"])
def test_example_paths_transpedicular_with_plausible_convergence(real_ct, level, request):
    from kypho.plan import plan_level

    _known_gap(request, level, "angle")
    plan = plan_level(real_ct, level, n_options=1)
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


@pytest.mark.parametrize("level", ["T11", "T12", "L1"])
def test_example_paths_go_through_the_pedicle_and_are_judged_safe(real_ct, level, request):
    """Whatever their angle, the chosen paths pass the isthmus and keep every clearance."""
    from kypho.plan import plan_level

    _known_gap(request, level, "safe")
    plan = plan_level(real_ct, level)
    for p in plan.paths:
        assert p.approach == "transpedicular" and p.verdict == "safe", (p.side, p.reasons)
        ped = plan.pedicles[p.side]
        e, d = np.asarray(p.entry_ras_mm), p.direction_ras
        c = np.asarray(ped.isthmus_ras_mm)
        off = (c - e) - ((c - e) @ d) * d
        assert np.linalg.norm(off) < ped.width_mm / 2


def test_example_level_cut_by_scan_edge_refused(real_ct):
    from kypho.errors import NotMeasurableError
    from kypho.plan import plan_level

    with pytest.raises(NotMeasurableError, match="edge of the scan"):
        plan_level(real_ct, "L2")
