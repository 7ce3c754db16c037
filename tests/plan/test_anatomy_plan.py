"""Pedicles found from the label against the phantom's ground truth; planned paths are safe."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kypho.anatomy import SpineAnatomy
from kypho.errors import NotMeasurableError
from kypho.plan import evaluate_path, plan_level
from kypho.plan.paths import TrocarPath
from kypho.plan.search import angle_between_deg


def _truth_ped(case, level, side):
    return next(p for p in case.truth.vertebra(level).pedicles if p.side == side)


@pytest.mark.parametrize("level", ["T11", "T12"])
def test_pedicles_match_truth(phantom_normal, level):
    vertebra = SpineAnatomy.of(phantom_normal).vertebra(level)
    model, peds = vertebra.grid, vertebra.pedicles
    for side, ped in peds.items():
        tr = _truth_ped(phantom_normal, level, side)
        assert angle_between_deg(np.array(ped.axis_ras), np.array(tr.axis_ras)) < 6.0
        assert abs(ped.width_mm - tr.width_mm) <= 1.25  # one voxel plus sampling
        assert abs(ped.height_mm - tr.height_mm) <= 1.5
        assert np.linalg.norm(np.subtract(ped.isthmus_ras_mm, tr.isthmus_ras_mm)) < 4.0
        # The medial wall is on the midline's side of the isthmus centre.
        fr = model.frame
        assert abs(fr.to_local(ped.medial_wall_ras_mm)[0]) < abs(fr.to_local(ped.isthmus_ras_mm)[0])


def test_bipedicular_plan_safe_and_along_axis(plan_l1, phantom_fractured):
    assert plan_l1.mode == "bipedicular" and len(plan_l1.paths) == 2
    assert {p.side for p in plan_l1.paths} == {"left", "right"}
    for p in plan_l1.paths:
        assert p.verdict == "safe", p.reasons
        tr = _truth_ped(phantom_fractured, "L1", p.side)
        assert angle_between_deg(p.direction_ras, np.array(tr.axis_ras)) < 6.0
        m = p.margins
        assert m.medial_wall_mm >= 1.0 and m.canal_mm >= 1.0 and m.inferior_wall_mm >= 1.0
        # Target in the anterior part of the body and on the pedicle's own side.
        loc = plan_l1.grid.frame.to_local(p.target_ras_mm)
        assert loc[1] > plan_l1.grid.body_posterior_a_mm + 0.6 * plan_l1.grid.body_depth_mm
        assert (loc[0] > 0) == (p.side == "right")
        assert p.skin_length_mm is not None and p.skin_length_mm > p.bone_length_mm


def test_unipedicular_reaches_across_midline(phantom_fractured):
    plan = plan_level(phantom_fractured, "L2", unipedicular=True, n_options=1)
    (p,) = plan.paths
    loc = plan.grid.frame.to_local(p.target_ras_mm)
    sgn = 1.0 if p.side == "right" else -1.0
    assert sgn * loc[0] <= 0.01  # target on the midline or past it, on the other side
    assert p.transverse_angle_deg > 12.0  # more convergent than the pedicle's ~10 deg
    assert p.verdict in ("safe", "caution")


def test_medialised_and_lateral_paths_flagged(plan_l1):
    model = plan_l1.grid
    fr = model.frame
    good = next(p for p in plan_l1.paths if p.side == "left")
    entry = np.asarray(good.entry_ras_mm)
    loc = fr.direction_to_local(good.direction_ras)
    ang = math.radians(25.0)  # towards +u (medial for the left pedicle)
    rot = np.array([[math.cos(ang), math.sin(ang), 0], [-math.sin(ang), math.cos(ang), 0], [0, 0, 1]])
    bad_dir = fr.direction_to_ras(rot @ loc)
    bad = TrocarPath(level="L1", side="left", approach="user", entry_ras_mm=tuple(entry),
                     target_ras_mm=tuple(entry + 40.0 * bad_dir))
    ev = evaluate_path(model, bad, pedicle=plan_l1.pedicles["left"])
    assert ev.verdict == "unsafe"
    assert ev.breaches and ev.breaches[0].wall in ("canal", "medial wall")
    # Lateral miss: the planned line shifted 9 mm laterally.
    lat = np.asarray(plan_l1.pedicles["left"].lateral_dir_ras) * 9.0
    miss = TrocarPath(level="L1", side="left", approach="user",
                      entry_ras_mm=tuple(entry + lat), target_ras_mm=tuple(np.asarray(good.target_ras_mm) + lat))
    ev2 = evaluate_path(model, miss, pedicle=plan_l1.pedicles["left"])
    assert ev2.verdict != "safe"
    assert any(b.wall in ("lateral wall", "lateral body wall") for b in ev2.breaches)


def test_level_cut_by_edge_refused(phantom_normal):
    from dataclasses import replace

    from kypho.core import LabelMap, Volume

    c = phantom_normal
    k = c.volume.shape[2] // 2
    cut = replace(
        c, volume=Volume(c.volume.data[:, :, k:], c.volume.affine), labels=None, tissue=None,
    ).with_labels(LabelMap(c.labels.data[:, :, k:], c.labels.affine))

    edge = cut.labels.levels_at_edge
    assert edge
    with pytest.raises(NotMeasurableError, match="edge of the scan"):
        plan_level(cut, edge[0])
