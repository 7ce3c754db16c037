"""Whole phantoms: grid, tissue classes and HU, density classes, determinism, truth and saving."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kypho.core.levels import LEVEL_IDS
from kypho.errors import InvalidParameterError
from kypho.phantom import FractureSpec, PhantomSpec, PhantomTruth, Tissue, make_phantom
from kypho.phantom.anatomy import CANCELLOUS_HU_BY_DENSITY, TISSUE_HU


def _small(progress=None, **kw):
    kw.setdefault("first_level", "L1")
    kw.setdefault("last_level", "L1")
    kw.setdefault("voxel_mm", 1.5)
    kw.setdefault("soft_tissue", False)
    return make_phantom(PhantomSpec(**kw), progress=progress)


def test_case_layout(normal_t12_l2):
    case = normal_t12_l2
    assert case.volume.data.dtype == np.int16
    assert case.labels.shape == case.volume.shape == case.tissue.shape
    assert case.volume.axcodes == ("R", "A", "S")
    assert case.volume.spacing_mm == pytest.approx((1.0, 1.0, 1.0))
    assert case.levels == ("T12", "L1", "L2")
    assert set(np.unique(case.labels.data)) == {
        0,
        LEVEL_IDS["T12"],
        LEVEL_IDS["L1"],
        LEVEL_IDS["L2"],
    }
    assert case.metadata["spec"]["first_level"] == "T12"
    # x = 0 (the mid-sagittal plane) is a voxel plane.
    assert case.volume.ras_to_ijk([0.0, 0.0, 0.0])[0] == pytest.approx(
        round(case.volume.ras_to_ijk([0.0, 0.0, 0.0])[0]), abs=1e-9
    )
    present = set(np.unique(case.tissue.data))
    assert {
        Tissue.AIR,
        Tissue.CORTICAL,
        Tissue.TRABECULAR,
        Tissue.POSTERIOR_TRABECULAR,
        Tissue.DISC,
        Tissue.CANAL,
    } <= present
    # Discs lie between consecutive bodies, unlabelled.
    t12, l1 = case.truth.vertebra("T12"), case.truth.vertebra("L1")
    between = (np.asarray(t12.landmarks_ras_mm["im"]) + np.asarray(l1.landmarks_ras_mm["sm"])) / 2
    ijk = np.rint(case.tissue.ras_to_ijk(between)).astype(int)
    assert case.tissue.data[tuple(ijk)] == Tissue.DISC
    assert case.labels.data[tuple(ijk)] == 0


def test_hu_of_tissues_without_noise():
    case = _small(noise_hu=0, first_level="T12", last_level="L2", voxel_mm=1.0)
    hu, tis = case.volume.data, case.tissue.data
    # Deep inside the cancellous body the mean is the density class's HU (texture averages out).
    trab = hu[tis == Tissue.TRABECULAR]
    assert trab.mean() == pytest.approx(CANCELLOUS_HU_BY_DENSITY["normal"], rel=0.1)
    # Cortical voxels are bright but blurred below compact bone's 1800 HU by partial volume.
    cort = hu[tis == Tissue.CORTICAL]
    assert 350 < np.median(cort) < 1800
    disc = hu[tis == Tissue.DISC]
    assert np.median(disc) == pytest.approx(TISSUE_HU[Tissue.DISC], abs=5)
    assert np.median(hu[tis == Tissue.CANAL]) == pytest.approx(TISSUE_HU[Tissue.CANAL], abs=5)
    assert np.median(hu[tis == Tissue.AIR]) == -1000


def test_density_classes_order_the_trabecular_hu():
    means = {}
    for density in ("normal", "osteopenic", "osteoporotic"):
        case = _small(bone_density=density, seed=3)
        trab = case.volume.data[case.tissue.data == Tissue.TRABECULAR].astype(float)
        means[density] = trab.mean()
        assert means[density] == pytest.approx(CANCELLOUS_HU_BY_DENSITY[density], abs=20)
        assert case.truth.vertebra("L1").trabecular_hu == pytest.approx(
            CANCELLOUS_HU_BY_DENSITY[density], rel=0.05
        )
        assert case.truth.tissue_hu["TRABECULAR"] == CANCELLOUS_HU_BY_DENSITY[density]
    assert means["normal"] > means["osteopenic"] > means["osteoporotic"]


def test_same_seed_same_arrays_other_seed_other_noise():
    spec = PhantomSpec(
        first_level="L1",
        last_level="L2",
        voxel_mm=1.5,
        seed=11,
        fractures=(FractureSpec("L1", "wedge", grade=1),),
        soft_tissue=False,
    )
    a, b = make_phantom(spec), make_phantom(spec)
    assert np.array_equal(a.volume.data, b.volume.data)
    assert np.array_equal(a.labels.data, b.labels.data)
    assert np.array_equal(a.tissue.data, b.tissue.data)
    assert a.truth == b.truth
    c = make_phantom(spec.with_(seed=12))
    assert not np.array_equal(a.volume.data, c.volume.data)
    assert np.array_equal(a.labels.data, c.labels.data)  # geometry does not depend on the seed


def test_truth_json_round_trip(crush_l1, tmp_path):
    truth = crush_l1.truth
    back = PhantomTruth.from_dict(json.loads(truth.to_json()))
    assert back == truth
    path = tmp_path / "truth.json"
    path.write_text(truth.to_json(), encoding="utf-8")
    assert PhantomTruth.read(path) == truth
    v = back.vertebra("L1")
    assert set(v.landmarks_ras_mm) == {"sa", "sm", "sp", "ia", "im", "ip"}
    assert v.fracture_type == "crush"


def test_saved_case_loads_back(wedge_l1, tmp_path):
    from kypho.io import load_case, save_case

    folder = save_case(wedge_l1, tmp_path / "case")
    back = load_case(folder)
    assert np.array_equal(back.volume.data, wedge_l1.volume.data)
    assert np.array_equal(back.labels.data, wedge_l1.labels.data)
    assert np.array_equal(back.tissue.data, wedge_l1.tissue.data)
    assert np.allclose(back.volume.affine, wedge_l1.volume.affine)
    assert back.truth == wedge_l1.truth


def test_progress_is_reported_in_order():
    seen = []
    _small(voxel_mm=2.0, progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert all(isinstance(m, str) and m for _, m in seen)


def test_trunk_outline_and_soft_tissue():
    case = make_phantom(PhantomSpec(first_level="L1", last_level="L2", voxel_mm=2.0, noise_hu=0))
    tis, hu = case.tissue.data, case.volume.data
    mid = tis.shape[2] // 2
    ij = np.argwhere(tis[:, :, mid] != Tissue.AIR)
    ras = case.volume.ijk_to_ras(np.column_stack([ij, np.full(len(ij), mid)]))
    assert np.ptp(ras[:, 0]) == pytest.approx(300, abs=6)  # trunk about 300 mm wide
    assert np.ptp(ras[:, 1]) == pytest.approx(220, abs=6)  # and 220 mm deep
    for t in (Tissue.SKIN, Tissue.FAT, Tissue.MUSCLE, Tissue.SOFT_TISSUE):
        assert np.any(tis == t), t.name
    assert np.median(hu[tis == Tissue.FAT]) == pytest.approx(TISSUE_HU[Tissue.FAT], abs=5)
    assert 30 <= np.median(hu[tis == Tissue.MUSCLE]) <= 45
    # The spine lies in the back half of the trunk, with muscle behind it.
    v = case.truth.vertebra("L1")
    assert v.centroid_ras_mm[1] < (ras[:, 1].min() + ras[:, 1].max()) / 2
    c = np.rint(case.volume.ras_to_ijk(v.centroid_ras_mm)).astype(int)
    behind = tis[c[0] + 17, : c[1], c[2]]  # 34 mm to the right of the midline, behind the body
    assert np.count_nonzero(behind == Tissue.MUSCLE) * 2.0 > 40


def test_too_fine_a_grid_is_refused():
    with pytest.raises(InvalidParameterError, match="voxels"):
        make_phantom(PhantomSpec(first_level="T10", last_level="L5", voxel_mm=0.25))
