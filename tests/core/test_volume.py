import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kypho.core import Case, LabelMap, Volume, affine_from_spacing
from kypho.errors import EmptyLabelMapError, GeometryMismatchError, InvalidParameterError


def _rotation(angles):
    a, b, c = angles
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rx @ ry @ rz


@settings(max_examples=50, deadline=None)
@given(
    spacing=st.tuples(*[st.floats(0.2, 5.0)] * 3),
    angles=st.tuples(*[st.floats(-np.pi, np.pi)] * 3),
    origin=st.tuples(*[st.floats(-500, 500)] * 3),
    ijk=st.tuples(*[st.floats(-50, 600)] * 3),
)
def test_ijk_ras_round_trip(spacing, angles, origin, ijk):
    affine = np.eye(4)
    affine[:3, :3] = _rotation(angles) @ np.diag(spacing)
    affine[:3, 3] = origin
    vol = Volume(np.zeros((2, 2, 2), np.int16), affine)
    assert np.allclose(vol.ras_to_ijk(vol.ijk_to_ras(ijk)), ijk, atol=1e-6)
    assert np.allclose(vol.spacing_mm, spacing)


def test_volume_is_read_only_and_units():
    vol = Volume(np.zeros((4, 5, 6)), affine_from_spacing((0.5, 0.5, 2.0)))
    assert vol.data.dtype == np.float32
    assert vol.voxel_volume_ml == pytest.approx(0.5 * 0.5 * 2.0 / 1000)
    assert vol.axcodes == ("R", "A", "S")
    with pytest.raises(ValueError):
        vol.data[0, 0, 0] = 1


@pytest.mark.parametrize("spacing", [(0.0, 1, 1), (1, -1, 1)])
def test_non_positive_voxel_size_rejected(spacing):
    with pytest.raises(InvalidParameterError, match="voxel size"):
        affine_from_spacing(spacing)


def test_zero_voxel_size_in_affine_rejected():
    # A negative column is an axis flip (LPS voxel order), a zero column has no size at all.
    with pytest.raises(InvalidParameterError, match="voxel size"):
        Volume(np.zeros((2, 2, 2)), np.diag([1.0, 0.0, 1.0, 1.0]))
    assert Volume(np.zeros((2, 2, 2)), np.diag([-1.0, 1.0, 1.0, 1.0])).axcodes == ("L", "A", "S")


def test_case_rejects_mismatched_labels():
    vol = Volume(np.zeros((4, 4, 4)), affine_from_spacing((1, 1, 1)))
    with pytest.raises(GeometryMismatchError, match="shape"):
        Case(vol, LabelMap(np.zeros((4, 4, 5), np.int16), affine_from_spacing((1, 1, 1))))
    with pytest.raises(GeometryMismatchError, match="affine"):
        Case(
            vol, LabelMap(np.zeros((4, 4, 4), np.int16), affine_from_spacing((1, 1, 1), (0, 0, 3)))
        )


def test_labelmap_levels_and_foreign_mapping():
    data = np.zeros((3, 3, 3), np.int16)
    data[0] = 31  # TotalSegmentator L1
    data[1] = 32  # T12
    data[2] = 5  # a lung lobe id: dropped
    lab = LabelMap.from_mapping(data, np.eye(4), {31: "L1", 32: "T12"})
    assert lab.levels == ("T12", "L1")
    assert lab.mask("L1").sum() == 9
    empty = LabelMap(np.zeros((2, 2, 2), np.int16), np.eye(4))
    with pytest.raises(EmptyLabelMapError):
        empty.require_vertebrae()
    with pytest.raises(InvalidParameterError, match="integer"):
        LabelMap(np.full((2, 2, 2), 0.5), np.eye(4))


def test_levels_found_without_sorting_and_ignoring_foreign_ids():
    from kypho.core.levels import LEVEL_IDS
    from kypho.core.volume import LabelMap, affine_from_spacing

    data = np.zeros((6, 6, 6), dtype=np.int16)
    data[0, 0, 0] = LEVEL_IDS["L1"]
    data[1, 1, 1] = LEVEL_IDS["T12"]
    data[2, 2, 2] = 99  # not a vertebra id
    labels = LabelMap(data, affine_from_spacing((1.0, 1.0, 1.0)))
    assert labels.levels == ("T12", "L1")
    assert labels.levels is labels.levels  # computed once
