"""Fractures: height loss measured on the voxels, column shortening, local kyphosis, features."""

from __future__ import annotations

import numpy as np
import pytest
from measure import labels_at, run_length_mm

from kypho.phantom import LEVEL_ANATOMY, FractureSpec, PhantomSpec, Tissue, make_phantom


def _heights(case, level):
    v = case.truth.vertebra(level)
    lm = {k: np.asarray(p) for k, p in v.landmarks_ras_mm.items()}
    return tuple(run_length_mm(case.labels, lm["i" + t], lm["s" + t], v.label_id) for t in "amp")


def _tol(case):
    return case.labels.spacing_mm[0] * (1 + 1 / 8) + 1e-9


def test_genant_grade_2_wedge_at_l1_has_the_requested_anterior_loss(wedge_l1, normal_t12_l2):
    an = LEVEL_ANATOMY["L1"]
    ha, _hm, hp = _heights(wedge_l1, "L1")
    # Grade 2 without a percentage: the middle of the 25-40 % band.
    assert ha == pytest.approx(an.height_anterior_mm * (1 - 0.325), abs=_tol(wedge_l1))
    assert hp == pytest.approx(an.height_posterior_mm, abs=_tol(wedge_l1))
    loss_a = 1 - ha / an.height_anterior_mm
    assert 0.25 <= loss_a <= 0.40
    t = wedge_l1.truth.vertebra("L1")
    assert t.fracture_type == "wedge" and t.genant_grade == 2
    assert t.height_loss_pct == pytest.approx(32.5, abs=1e-6)
    assert t.height_anterior_mm == pytest.approx(ha, abs=_tol(wedge_l1))
    # The wedge angle grows by atan(loss * Ha / landmark span) over the normal one.
    n = normal_t12_l2.truth.vertebra("L1")
    span = np.linalg.norm(np.subtract(t.landmarks_ras_mm["ia"], t.landmarks_ras_mm["ip"]))
    extra = np.degrees(np.arctan(0.325 * an.height_anterior_mm / span))
    assert t.wedge_angle_deg - n.wedge_angle_deg == pytest.approx(extra, abs=0.3)
    assert n.fracture_type == "none" and n.genant_grade == 0


def test_biconcave_reduces_the_middle_height_most(biconcave_l1):
    an = LEVEL_ANATOMY["L1"]
    ha, hm, hp = _heights(biconcave_l1, "L1")
    normal_m = (an.height_anterior_mm + an.height_posterior_mm) / 2 - 2.2
    loss = {
        "a": 1 - ha / an.height_anterior_mm,
        "m": 1 - hm / normal_m,
        "p": 1 - hp / an.height_posterior_mm,
    }
    assert max(loss, key=loss.get) == "m"
    assert hm == pytest.approx(normal_m * 0.65, abs=_tol(biconcave_l1))
    assert loss["a"] < 0.2 and loss["p"] < 0.2
    assert biconcave_l1.truth.vertebra("L1").genant_grade == 2


def test_crush_reduces_all_heights(crush_l1):
    an = LEVEL_ANATOMY["L1"]
    ha, _hm, hp = _heights(crush_l1, "L1")
    tol = _tol(crush_l1)
    assert ha == pytest.approx(an.height_anterior_mm * 0.5, abs=tol)
    assert hp == pytest.approx(an.height_posterior_mm * 0.5, abs=tol)
    assert crush_l1.truth.vertebra("L1").genant_grade == 3


def test_fracture_shortens_the_column_and_adds_local_kyphosis(wedge_l1, normal_t12_l2):
    def centroid(case, level):
        # Cancellous core of the vertebral body (posterior elements have their own class).
        body = (case.labels.data == case.truth.vertebra(level).label_id) & (
            case.tissue.data == Tissue.TRABECULAR
        )
        ijk = np.argwhere(body)
        return case.labels.ijk_to_ras(ijk.mean(axis=0))

    # The base (L2) stays put; the body above the fracture drops and moves forward.
    assert np.allclose(centroid(wedge_l1, "L2"), centroid(normal_t12_l2, "L2"), atol=0.5)
    t12_n, t12_f = centroid(normal_t12_l2, "T12"), centroid(wedge_l1, "T12")
    assert t12_f[2] < t12_n[2] - 2.0
    assert t12_f[1] > t12_n[1] + 2.0
    assert np.allclose(t12_f, wedge_l1.truth.vertebra("T12").centroid_ras_mm, atol=1.5)
    assert wedge_l1.truth.column_height_loss_mm > 3.0
    assert normal_t12_l2.truth.column_height_loss_mm == pytest.approx(0.0, abs=1e-9)

    def cobb(case):  # T12 superior endplate vs L2 inferior endplate, + = kyphosis
        t12, l2 = (
            case.truth.vertebra("T12").landmarks_ras_mm,
            case.truth.vertebra("L2").landmarks_ras_mm,
        )
        a = np.subtract(t12["sa"], t12["sp"])
        b = np.subtract(l2["ia"], l2["ip"])
        return np.degrees(np.arctan2(-a[2], a[1]) - np.arctan2(-b[2], b[1]))

    added = cobb(wedge_l1) - cobb(normal_t12_l2)
    extra_wedge = (
        wedge_l1.truth.vertebra("L1").wedge_angle_deg
        - normal_t12_l2.truth.vertebra("L1").wedge_angle_deg
    )
    assert added == pytest.approx(extra_wedge, abs=1e-6)
    assert added > 10


def test_crush_features_cleft_retropulsion_and_breaks(crush_l1):
    t = crush_l1.truth.vertebra("L1")
    tissue = crush_l1.tissue.data
    lab = crush_l1.labels.data == t.label_id
    assert np.any(lab & (tissue == Tissue.CLEFT))
    assert np.any(lab & (tissue == Tissue.RETROPULSED))
    assert t.retropulsion_mm == 4.0
    locations = {b.location for b in t.cortical_breaks}
    assert {"superior_endplate", "inferior_endplate", "posterior_wall"} <= locations
    # The fragment reaches into the canal: behind the posterior wall, near the superior endplate.
    lm = {k: np.asarray(p) for k, p in t.landmarks_ras_mm.items()}
    ant = np.asarray(t.anterior_axis_ras)
    sup = np.asarray(t.superior_axis_ras)
    probe = lm["sp"] - 2.0 * ant - 1.0 * sup - 2.5 * ant  # 2 mm inset + 2.5 mm behind the wall
    assert labels_at(crush_l1.labels, probe) == t.label_id
    # No cortical shell where the superior endplate broke.
    brk = next(b for b in t.cortical_breaks if b.location == "superior_endplate")
    ijk = np.rint(crush_l1.tissue.ras_to_ijk(np.asarray(brk.centre_ras_mm))).astype(int)
    r = int(np.ceil(brk.radius_mm / 2))
    around = tissue[
        ijk[0] - r : ijk[0] + r + 1, ijk[1] - r : ijk[1] + r + 1, ijk[2] - r : ijk[2] + r + 1
    ]
    assert not np.any(around == Tissue.CORTICAL)


def test_compacted_band_is_denser_than_the_rest_of_the_body():
    case = make_phantom(
        PhantomSpec(
            first_level="L1",
            last_level="L1",
            voxel_mm=1.0,
            soft_tissue=False,
            noise_hu=0,
            fractures=(FractureSpec("L1", "wedge", grade=1),),
        )
    )
    t = case.truth.vertebra("L1")
    lm = {k: np.asarray(p) for k, p in t.landmarks_ras_mm.items()}
    sup = np.asarray(t.superior_axis_ras)
    under_endplate = (lm["sm"] + lm["sp"]) / 2 - 2.5 * sup
    centre = (lm["sm"] + lm["im"]) / 2
    hu = case.volume.data

    def mean_hu(p):
        i, j, k = np.rint(case.volume.ras_to_ijk(p)).astype(int)
        return float(hu[i - 1 : i + 2, j - 1 : j + 2, k - 1 : k + 2].mean())

    assert mean_hu(under_endplate) > 1.4 * mean_hu(centre)
