"""Bad input: no labels, empty labels, missing, merged, tiny and edge-cut levels."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from kypho.assess import MEASURED, NoLabelsError, assess
from kypho.core import LEVEL_IDS, Case, LabelMap, Volume
from kypho.errors import EmptyLabelMapError, KyphoError


def _relabel(case: Case, data: np.ndarray) -> Case:
    return case.with_labels(LabelMap(data, case.labels.affine))


def test_no_label_map_says_how_to_make_one(wedge_l1):
    case = dataclasses.replace(wedge_l1[0], labels=None)
    with pytest.raises(NoLabelsError) as exc:
        assess(case)
    msg = str(exc.value)
    assert "no vertebra label map" in msg
    assert "TotalSegmentator -i" in msg and "--ml" in msg
    assert isinstance(exc.value, KyphoError)


def test_empty_label_map(wedge_l1):
    case = wedge_l1[0]
    with pytest.raises(EmptyLabelMapError, match="no vertebra label"):
        assess(_relabel(case, np.zeros(case.labels.shape, np.int16)))
    # ids that are not vertebrae (e.g. organs) count as empty too
    with pytest.raises(EmptyLabelMapError):
        assess(_relabel(case, np.full(case.labels.shape, 99, np.int16)))


def test_missing_level_reported_others_assessed(wedge_l1):
    case = wedge_l1[0]
    data = np.array(case.labels.data)
    data[data == LEVEL_IDS["L1"]] = 0
    a = assess(_relabel(case, data))
    assert [v.level for v in a.vertebrae] == ["T12", "L1", "L2"]
    assert a.vertebra("L1").status == "not measurable: no label for this level"
    assert a.vertebra("L1").heights_mm is None
    assert a.vertebra("T12").status == MEASURED and a.vertebra("L2").status == MEASURED


def test_merged_levels_reported(wedge_l1):
    case = wedge_l1[0]
    data = np.array(case.labels.data)
    data[data == LEVEL_IDS["L1"]] = LEVEL_IDS["T12"]
    a = assess(_relabel(case, data))
    t12 = a.vertebra("T12")
    assert t12.status.startswith("not measurable:")
    assert "merged" in t12.status
    assert a.vertebra("L1").status == "not measurable: no label for this level (merged into T12?)"
    assert a.vertebra("L2").status == MEASURED


def test_label_on_a_few_voxels(wedge_l1):
    case = wedge_l1[0]
    data = np.array(case.labels.data)
    i, j, _ = (n // 2 for n in data.shape)
    data[data == LEVEL_IDS["L2"]] = 0
    data[i : i + 2, j : j + 2, 2:4] = LEVEL_IDS["L3"]  # 8 stray voxels, away from the edges
    a = assess(_relabel(case, data))
    l3 = a.vertebra("L3")
    assert l3.status.startswith("not measurable: only 8 voxels")
    assert a.vertebra("L2").status.startswith("not measurable: no label")
    assert a.vertebra("T12").measured and a.vertebra("L1").measured


def test_level_cut_by_scan_edge(wedge_l1):
    """Crop the scan through the middle of L2's body: L2 is reported, the others measured."""
    case = wedge_l1[0]
    tv = case.truth.vertebra("L2")
    k_cut = int(np.rint(case.volume.ras_to_ijk(tv.centroid_ras_mm)[2]))
    box = (slice(None), slice(None), slice(k_cut, None))
    affine = np.array(case.volume.affine)
    affine[:3, 3] = case.volume.ijk_to_ras([0, 0, k_cut])
    cropped = Case(
        Volume(np.array(case.volume.data[box]), affine),
        LabelMap(np.array(case.labels.data[box]), affine),
        name="cropped",
    )
    a = assess(cropped)
    assert a.vertebra("L2").status.startswith("not measurable: cut by scan edge")
    assert a.vertebra("T12").measured and a.vertebra("L1").measured
    assert a.vertebra("L1").genant_grade == 2
    # a sliver of a few voxels at the edge is also "cut by scan edge"
    data = np.array(case.labels.data)
    data[data == LEVEL_IDS["L2"]] = 0
    data[40:44, 40:44, 0] = LEVEL_IDS["L3"]
    l3 = assess(_relabel(case, data)).vertebra("L3")
    assert l3.status.startswith("not measurable: cut by scan edge (only 16 voxels")


def test_labels_off_grid_rejected(wedge_l1):
    from kypho.errors import GeometryMismatchError

    case = wedge_l1[0]
    with pytest.raises(GeometryMismatchError):
        Case(case.volume, LabelMap(np.array(case.labels.data)[1:], case.labels.affine))
