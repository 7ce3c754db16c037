"""C-arm geometry: DICOM angle conventions for a prone patient, projection matrix, named views."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kypho.errors import InvalidParameterError
from kypho.fluoro import (
    CArm,
    Detector,
    FrameTooLargeError,
    angles_from_direction,
    ap_view,
    lateral_view,
    named_view,
    oblique_view,
    project_points,
)

R, A, S = np.eye(3)


def test_prone_ap_puts_detector_over_the_back():
    carm = ap_view()
    assert carm.primary_deg == pytest.approx(180.0) or carm.primary_deg == pytest.approx(-180.0)
    assert carm.secondary_deg == pytest.approx(0.0)
    np.testing.assert_allclose(carm.direction_ras, -A, atol=1e-12)  # detector posterior
    np.testing.assert_allclose(carm.source_ras_mm, 600 * A, atol=1e-9)  # tube under the table
    # Seen from behind the patient: patient's right on the image's right, head up.
    np.testing.assert_allclose(carm.right_ras, R, atol=1e-12)
    np.testing.assert_allclose(carm.up_ras, S, atol=1e-12)


def test_lao_moves_detector_to_patient_left_rao_to_right():
    ap = CArm(primary_deg=180.0)
    lao = ap.rotated(primary_deg=-20.0)  # 180 -> 160: towards +90 (LAO)
    rao = ap.rotated(primary_deg=+20.0)  # 180 -> -160: towards -90 (RAO)
    assert lao.primary_deg == pytest.approx(160.0) and rao.primary_deg == pytest.approx(-160.0)
    assert lao.direction_ras @ R < -0.3  # detector towards the patient's left
    assert rao.direction_ras @ R > 0.3
    assert lao.direction_ras @ A < 0 and rao.direction_ras @ A < 0  # still posterior
    # DICOM definitions: LAO 90 = detector at patient's left, RAO 90 at the right, 0 = anterior.
    np.testing.assert_allclose(CArm(primary_deg=90).direction_ras, -R, atol=1e-12)
    np.testing.assert_allclose(CArm(primary_deg=-90).direction_ras, R, atol=1e-12)
    np.testing.assert_allclose(CArm(primary_deg=0).direction_ras, A, atol=1e-12)


def test_cran_tilts_detector_towards_head_caud_towards_feet():
    cran = CArm(primary_deg=180, secondary_deg=15)
    caud = CArm(primary_deg=180, secondary_deg=-15)
    assert cran.direction_ras @ S == pytest.approx(np.sin(np.radians(15)))
    assert caud.direction_ras @ S == pytest.approx(-np.sin(np.radians(15)))
    np.testing.assert_allclose(CArm(secondary_deg=90).direction_ras, S, atol=1e-12)
    assert cran.describe() == "LAO 180.0, CRAN 15.0" and caud.describe().endswith("CAUD 15.0")


def test_rotating_ap_by_90_degrees_gives_lateral():
    ap = ap_view()
    lat = ap.rotated(primary_deg=-90.0)
    ref = lateral_view()
    assert lat.primary_deg == pytest.approx(90.0) and ref.primary_deg == pytest.approx(90.0)
    np.testing.assert_allclose(lat.direction_ras, ref.direction_ras, atol=1e-12)
    np.testing.assert_allclose(lat.direction_ras, -R, atol=1e-12)  # left lateral
    assert float(ap.direction_ras @ lat.direction_ras) == pytest.approx(0.0, abs=1e-12)
    # Left lateral seen from the detector: posterior on the image's right.
    np.testing.assert_allclose(lat.right_ras, -A, atol=1e-12)
    np.testing.assert_allclose(lateral_view(side="right").direction_ras, R, atol=1e-12)


def test_oblique_view_rotates_from_ap_towards_side():
    left = oblique_view(side="left", angle_deg=25)
    right = oblique_view(side="right", angle_deg=25)
    assert left.primary_deg == pytest.approx(155.0) and right.primary_deg == pytest.approx(-155.0)
    assert np.degrees(np.arccos(left.direction_ras @ -A)) == pytest.approx(25.0)
    assert named_view("oblique-left", oblique_deg=25).primary_deg == pytest.approx(155.0)
    assert named_view("PA").direction_ras @ A == pytest.approx(1.0)


def test_true_ap_follows_a_tilted_vertebra():
    tilt = np.radians(12)
    sup = np.array([0, -np.sin(tilt), np.cos(tilt)])  # spine leaning back going up
    ant = np.array([0, np.cos(tilt), np.sin(tilt)])
    carm = ap_view(superior_axis_ras=sup, anterior_axis_ras=ant)
    assert carm.direction_ras @ sup == pytest.approx(0.0, abs=1e-12)  # beam parallel to endplates
    assert carm.secondary_deg == pytest.approx(-12.0)  # CAUD tilt
    lat = lateral_view(superior_axis_ras=sup, anterior_axis_ras=ant)
    assert lat.direction_ras @ sup == pytest.approx(0.0, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    st.floats(-179.9, 180.0),
    st.floats(-89.0, 89.0),
)
def test_angles_round_trip(primary, secondary):
    carm = CArm(primary_deg=primary, secondary_deg=secondary)
    p, s = angles_from_direction(carm.direction_ras)
    assert s == pytest.approx(secondary, abs=1e-9)
    assert (p - primary + 180) % 360 - 180 == pytest.approx(0.0, abs=1e-7)
    # Orthonormal image frame, up has no negative superior component.
    frame = np.stack([carm.right_ras, carm.up_ras, carm.direction_ras])
    np.testing.assert_allclose(frame @ frame.T, np.eye(3), atol=1e-12)
    assert carm.up_ras @ S >= -1e-12


@settings(max_examples=40, deadline=None)
@given(
    st.floats(-180.0, 180.0),
    st.floats(-60.0, 60.0),
    st.tuples(*[st.floats(-50, 50)] * 3),
    st.integers(8, 64),
)
def test_projection_matrix_maps_pixel_centres_to_their_indices(primary, secondary, iso, size):
    carm = CArm(primary_deg=primary, secondary_deg=secondary, isocentre_ras_mm=iso).with_size(size)
    pix = carm.pixel_centres_ras_mm()
    uv = project_points(carm, pix)
    cols, rows = np.meshgrid(np.arange(size), np.arange(size))
    np.testing.assert_allclose(uv[..., 0], cols, atol=1e-6)
    np.testing.assert_allclose(uv[..., 1], rows, atol=1e-6)
    # The isocentre projects to the image centre; the source has no image.
    np.testing.assert_allclose(carm.project(carm.isocentre_ras_mm), [(size - 1) / 2] * 2, atol=1e-6)
    assert np.all(np.isnan(carm.project(carm.source_ras_mm)))
    # Points along a ray project to the same pixel.
    p = carm.source_ras_mm + 0.37 * (pix[3 % size, 5 % size] - carm.source_ras_mm)
    np.testing.assert_allclose(carm.project(p), [5 % size, 3 % size], atol=1e-6)


def test_magnification_and_pitch():
    carm = CArm(source_to_detector_mm=1000, source_to_isocentre_mm=500).with_size(300)
    assert carm.magnification == pytest.approx(2.0)
    assert carm.detector.pixel_pitch_mm == (1.0, 1.0)
    # 10 mm at the isocentre spans 20 detector pixels.
    uv = carm.project([[0, 0, 0], [10, 0, 0]])
    assert abs(uv[1, 0] - uv[0, 0]) == pytest.approx(20.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"primary_deg": 181},
        {"secondary_deg": -91},
        {"primary_deg": float("nan")},
        {"source_to_detector_mm": 0},
        {"source_to_detector_mm": -5},
        {"source_to_isocentre_mm": 0},
        {"source_to_isocentre_mm": 1200},  # beyond the detector
        {"isocentre_ras_mm": (0, 0)},
    ],
)
def test_bad_geometry_is_refused(kwargs):
    with pytest.raises(InvalidParameterError):
        CArm(**kwargs)


@pytest.mark.parametrize("kwargs", [{"rows": 0}, {"cols": -3}, {"width_mm": 0}, {"height_mm": -1}, {"rows": 2.5}])
def test_bad_detector_is_refused(kwargs):
    with pytest.raises(InvalidParameterError):
        Detector(**kwargs)


def test_huge_frames_are_refused_with_the_memory_they_need():
    with pytest.raises(FrameTooLargeError, match=r"20000x20000 frame would need about 20\.9 GiB"):
        CArm().with_size(20000)
    with pytest.raises(InvalidParameterError):
        CArm().with_size(0)


def test_unknown_view_is_refused():
    with pytest.raises(InvalidParameterError, match="unknown view 'sideways'"):
        named_view("sideways")
    with pytest.raises(InvalidParameterError):
        oblique_view(angle_deg=120)
