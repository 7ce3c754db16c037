"""resample_case: known answers on a linear ramp and labels, cut levels stay cut."""

from __future__ import annotations

import numpy as np
import pytest

from kypho.core import Case, LabelMap, Volume
from kypho.core.levels import LEVEL_IDS
from kypho.core.resample import resample_case
from kypho.errors import InvalidParameterError


def _case():
    aff = np.array([[-0.7, 0, 0, 50.0], [0, 0.7, 0, -30.0], [0, 0, 2.5, 10.0], [0, 0, 0, 1]])
    ijk = np.indices((60, 50, 30)).astype(np.float32)
    ras = np.einsum("ab,bijk->aijk", aff[:3, :3], ijk) + aff[:3, 3, None, None, None]
    hu = 3.0 * ras[0] - 2.0 * ras[1] + 0.5 * ras[2]  # a linear ramp in RAS mm
    lab = np.zeros((60, 50, 30), np.int16)
    lab[20:40, 10:30, 5:15] = LEVEL_IDS["L1"]
    lab[20:40, 10:30, 15:30] = LEVEL_IDS["T12"]  # reaches the last slice: cut by the scan
    return Case(Volume(hu, aff), LabelMap(lab, aff), name="ramp"), (3.0, -2.0, 0.5)


def test_trilinear_ct_is_exact_on_a_ramp_and_labels_keep_their_ids():
    case, g = _case()
    iso = resample_case(case, 1.0, margin_mm=5.0)
    assert iso.volume.spacing_mm == (1.0, 1.0, 1.0)
    assert np.allclose(iso.volume.affine[:3, :3], np.eye(3))
    ras = iso.volume.ijk_to_ras(np.argwhere(np.ones(iso.volume.shape, bool)))
    inside = np.all((case.volume.ras_to_ijk(ras) >= 0)
                    & (case.volume.ras_to_ijk(ras) <= np.array(case.volume.shape) - 1), axis=1)
    expect = ras @ np.array(g)
    got = np.asarray(iso.volume.data).reshape(-1)
    np.testing.assert_allclose(got[inside], expect[inside], atol=1e-2)
    assert set(np.unique(iso.labels.data)) == {0, LEVEL_IDS["L1"], LEVEL_IDS["T12"]}
    # volumes of the labels are kept (nearest neighbour)
    for lv in ("L1", "T12"):
        old = (case.labels.data == LEVEL_IDS[lv]).sum() * 0.7 * 0.7 * 2.5
        new = (iso.labels.data == LEVEL_IDS[lv]).sum() * 1.0
        assert new == pytest.approx(old, rel=0.08)


def test_a_level_cut_by_the_scan_stays_cut():
    case, _ = _case()
    assert case.labels.levels_at_edge == ("T12",)
    iso = resample_case(case, 1.0)
    assert iso.labels.levels_at_edge == ("T12",)


def test_bad_spacing_and_budget(monkeypatch):
    import kypho.core.resample as rs

    case, _ = _case()
    with pytest.raises(InvalidParameterError, match=r"0\.2-5 mm"):
        resample_case(case, 0.0)
    monkeypatch.setattr(rs, "MAX_RESAMPLED_VOXELS", 1000)
    with pytest.raises(InvalidParameterError, match="over the budget of 1,000"):
        resample_case(case, 1.0)
