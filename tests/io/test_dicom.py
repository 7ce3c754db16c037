"""DICOM CT series: geometry from IOP/IPP, rescale, sorting, and every broken series we reject."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, MRImageStorage, generate_uid
from scipy.spatial.transform import Rotation

from kypho.core import Volume
from kypho.errors import FormatError, InputFileError, InvalidParameterError, UnsupportedFormatError
from kypho.io import load_volume, read_dicom_series, write_dicom_series


def _slice(
    folder,
    name,
    pixels,
    *,
    ipp,
    iop=(1, 0, 0, 0, 1, 0),
    spacing=(0.5, 0.75),
    slope=1.0,
    intercept=-1024.0,
    series=None,
    modality="CT",
):
    """Write one CT slice exactly as the standard describes it (no kypho code involved)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage if modality == "CT" else MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID = series or "1.2.3.4"
    ds.StudyInstanceUID = "1.2.3"
    ds.Modality = modality
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "SECRET-ID"
    ds.ImagePositionPatient = [f"{v:g}" for v in ipp]
    ds.ImageOrientationPatient = [f"{v:g}" for v in iop]
    ds.PixelSpacing = [f"{v:g}" for v in spacing]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleSlope = f"{slope:g}"
    ds.RescaleIntercept = f"{intercept:g}"
    ds.PixelData = np.ascontiguousarray(pixels.astype(np.uint16)).tobytes()
    pydicom.dcmwrite(folder / name, ds, enforce_file_format=True)


def _axial_series(folder, n=5, dz=2.5, rows=4, cols=6, bright=None, order=None, **kw):
    """Standard head-first-supine axial slices; ``bright`` = (row, col, slice) set to 3000 HU."""
    folder.mkdir(parents=True, exist_ok=True)
    for k in order if order is not None else range(n):
        px = np.full((rows, cols), 1024 + 40, np.uint16)  # 40 HU after the -1024 intercept
        if bright is not None and bright[2] == k:
            px[bright[0], bright[1]] = 1024 + 3000
        _slice(folder, f"s{k:03d}.dcm", px, ipp=(-100.0, -50.0, -30.0 + k * dz), **kw)
    return folder


def test_axial_series_geometry_is_analytic(tmp_path):
    """Pixel (row 2, col 3) of slice 4 lies at LPS (-100 + 3*0.75, -50 + 2*0.5, -30 + 4*2.5)."""
    folder = _axial_series(tmp_path / "ax", bright=(2, 3, 4))
    series = read_dicom_series(folder)
    vol = series.volume
    assert vol.shape == (6, 4, 5)  # (columns, rows, slices)
    assert vol.axcodes == ("L", "P", "S")
    assert vol.spacing_mm == pytest.approx((0.75, 0.5, 2.5))
    p_lps = np.array([-100 + 3 * 0.75, -50 + 2 * 0.5, -30 + 4 * 2.5])
    ijk = np.unravel_index(int(np.argmax(vol.data)), vol.shape)
    assert ijk == (3, 2, 4)
    assert np.allclose(vol.ijk_to_ras(ijk), p_lps * [-1, -1, 1])
    # Rescale applied: 1064 stored -> 40 HU, 4024 -> 3000 HU; integral result stays int16.
    assert vol.data.dtype == np.int16
    assert vol.data.max() == 3000 and np.median(vol.data) == 40


def test_slices_are_sorted_by_position_not_file_order(tmp_path):
    """Files named in reverse and shuffled order give the same volume."""
    ref = read_dicom_series(_axial_series(tmp_path / "a", bright=(1, 1, 0))).volume
    shuffled = _axial_series(tmp_path / "b", bright=(1, 1, 0), order=[3, 0, 4, 2, 1])
    for p in shuffled.iterdir():  # file names now unrelated to position
        p.rename(p.with_name(f"x{hash(p.name) % 997:04d}_{p.name}"))
    vol = read_dicom_series(shuffled).volume
    assert np.array_equal(vol.data, ref.data) and np.allclose(vol.affine, ref.affine)


def test_feet_first_order_and_sagittal_acquisition(tmp_path):
    """Slices stacked along -z, and a sagittal series (IOP along y and -z)."""
    folder = _axial_series(tmp_path / "ff", dz=-2.0, bright=(0, 5, 0))
    vol = read_dicom_series(folder).volume
    assert vol.spacing_mm[2] == pytest.approx(2.0)
    # k increases along the normal (+z), so the bright slice (highest z) is the last one.
    ijk = np.unravel_index(int(np.argmax(vol.data)), vol.shape)
    assert ijk[2] == 4
    assert np.allclose(vol.ijk_to_ras(ijk), [100 - 5 * 0.75, 50.0, -30.0])

    sag = tmp_path / "sag"
    sag.mkdir()
    iop = (0, 1, 0, 0, 0, -1)  # rows run posterior, columns run inferior; normal = -x (right)
    for k in range(3):
        px = np.full((4, 5), 1024, np.uint16)
        if k == 1:
            px[3, 2] = 1024 + 2000
        _slice(sag, f"{k}.dcm", px, ipp=(10.0 - 3.0 * k, -40.0, 60.0), iop=iop, spacing=(0.6, 0.8))
    vol = read_dicom_series(sag).volume
    ijk = np.unravel_index(int(np.argmax(vol.data)), vol.shape)
    p_lps = np.array([10.0 - 3.0, -40.0 + 2 * 0.8, 60.0 - 3 * 0.6])
    assert np.allclose(vol.ijk_to_ras(ijk), p_lps * [-1, -1, 1])


def test_per_slice_rescale_and_fractional_slope(tmp_path):
    folder = tmp_path / "r"
    folder.mkdir()
    for k, (slope, inter) in enumerate([(1.0, -1024.0), (0.5, -1000.0), (2.0, 0.0)]):
        _slice(
            folder,
            f"{k}.dcm",
            np.full((2, 2), 100, np.uint16),
            ipp=(0, 0, k),
            slope=slope,
            intercept=inter,
        )
    vol = read_dicom_series(folder).volume
    assert vol.data.dtype == np.float32
    assert np.allclose(vol.data[0, 0, :], [100 - 1024, 50 - 1000, 200])


@pytest.mark.parametrize(
    "affine",
    [
        np.diag([0.7, 0.8, 1.5, 1.0]),
        np.array([[0, 0, -1.2, 5], [-0.6, 0, 0, 9], [0, 0.9, 0, -4], [0, 0, 0, 1.0]]),  # PIR-like
    ],
)
def test_writer_reader_round_trip(tmp_path, h, affine):
    vol = h.marked_volume(affine)
    write_dicom_series(vol, tmp_path / "s", series_description="round trip")
    back = read_dicom_series(tmp_path / "s")
    assert len(back.files) == vol.shape[2]
    assert h.same_image(vol, back.volume)
    assert np.allclose(h.bright_ras(back.volume), vol.ijk_to_ras(h.MARKER_IJK), atol=1e-4)
    assert back.metadata["series_description"] == "round trip"


def test_float_volume_is_quantised_within_half_a_step(tmp_path):
    data = np.random.default_rng(2).normal(0, 400, (5, 4, 3)).astype(np.float32)
    write_dicom_series(Volume(data, np.eye(4)), tmp_path / "q")
    back = read_dicom_series(tmp_path / "q").volume
    step = (data.max() - data.min()) / 65534
    assert np.max(np.abs(back.data - data)) <= step * 0.51 + 1e-3


def test_metadata_carries_no_patient_identity(tmp_path):
    meta = read_dicom_series(_axial_series(tmp_path / "p")).metadata
    text = repr(meta)
    assert "Doe" not in text and "SECRET-ID" not in text
    assert meta["n_slices"] == 5 and meta["slice_spacing_mm"] == pytest.approx(2.5)


def test_non_dicom_files_are_ignored_but_a_bad_dcm_is_not(tmp_path):
    folder = _axial_series(tmp_path / "m")
    (folder / "README.txt").write_text("exported by a PACS\n")
    (folder / ".DS_Store").write_bytes(b"\0\1")
    assert read_dicom_series(folder).volume.shape[2] == 5
    (folder / "junk.dcm").write_text("not dicom")
    with pytest.raises(FormatError, match=r"junk\.dcm"):
        read_dicom_series(folder)


def test_truncated_slice_names_the_file(tmp_path):
    folder = _axial_series(tmp_path / "t", rows=32, cols=32)
    victim = folder / "s002.dcm"
    victim.write_bytes(victim.read_bytes()[:-700])
    with pytest.raises(FormatError, match=r"s002\.dcm"):
        load_volume(folder)


def test_corrupt_header_names_the_file(tmp_path):
    folder = _axial_series(tmp_path / "c")
    victim = folder / "s001.dcm"
    blob = bytearray(victim.read_bytes())
    blob[140:400] = np.random.default_rng(3).bytes(
        260
    )  # keep the 'DICM' preamble, scramble the elements
    victim.write_bytes(bytes(blob))
    with pytest.raises(FormatError, match=r"s001\.dcm"):
        read_dicom_series(folder)


def test_missing_slice(tmp_path):
    folder = _axial_series(tmp_path / "g", n=6)
    (folder / "s003.dcm").unlink()
    with pytest.raises(FormatError, match=r"1 slice\(s\) missing.*gap 5\.000 mm, expected 2\.500"):
        read_dicom_series(folder)


def test_uneven_spacing(tmp_path):
    folder = tmp_path / "u"
    folder.mkdir()
    for k, z in enumerate([0.0, 2.5, 5.0, 6.5, 9.0]):
        _slice(folder, f"{k}.dcm", np.full((2, 2), 1024, np.uint16), ipp=(0, 0, z))
    with pytest.raises(FormatError, match="uneven slice spacing"):
        read_dicom_series(folder)


def test_spacing_within_tolerance_is_accepted(tmp_path):
    folder = tmp_path / "ok"
    folder.mkdir()
    for k, z in enumerate([0.0, 2.5, 5.01, 7.5, 10.0]):  # 0.01 mm jitter (< 0.025 mm)
        _slice(folder, f"{k}.dcm", np.full((2, 2), 1024, np.uint16), ipp=(0, 0, z))
    assert read_dicom_series(folder).volume.spacing_mm[2] == pytest.approx(2.5)


def test_gantry_tilt(tmp_path):
    """Each slice shifted along y by tan(15 deg) * dz: positions are not along the normal."""
    folder = tmp_path / "tilt"
    folder.mkdir()
    shift = np.tan(np.radians(15.0)) * 2.5
    for k in range(4):
        px = np.full((3, 3), 1024, np.uint16)
        _slice(folder, f"{k}.dcm", px, ipp=(0, k * shift, 2.5 * k))
    with pytest.raises(FormatError, match=r"gantry tilt.*15\.00 degrees"):
        read_dicom_series(folder)


def test_writer_shear_is_read_as_tilt(tmp_path):
    affine = np.array([[0.5, 0, 0, 0], [0, 0.5, 0.4, 0], [0, 0, 1.5, 0], [0, 0, 0, 1.0]])
    write_dicom_series(Volume(np.zeros((3, 3, 4), np.int16), affine), tmp_path / "sh")
    with pytest.raises(FormatError, match="gantry tilt"):
        read_dicom_series(tmp_path / "sh")


def test_duplicate_positions(tmp_path):
    folder = _axial_series(tmp_path / "d", n=3)
    shutil.copy(folder / "s001.dcm", folder / "copy.dcm")
    with pytest.raises(FormatError, match="same position"):
        read_dicom_series(folder)


def test_non_positive_pixel_spacing(tmp_path):
    folder = _axial_series(tmp_path / "z", n=2, spacing=(0.0, 0.5))
    with pytest.raises(FormatError, match="non-positive PixelSpacing"):
        read_dicom_series(folder)


def test_series_selection(tmp_path):
    folder = tmp_path / "multi"
    _axial_series(folder / "a", n=4, series="1.1")
    _axial_series(folder / "b", n=6, series="2.2")
    assert read_dicom_series(folder).series_uid == "2.2"  # most slices
    assert read_dicom_series(folder, series_uid="1.1").volume.shape[2] == 4
    _axial_series(folder / "c", n=6, series="3.3")
    with pytest.raises(InputFileError, match=r"several CT series.*2\.2.*3\.3"):
        read_dicom_series(folder)
    # A path to one file reads that file's series.
    assert read_dicom_series(folder / "c" / "s000.dcm").series_uid == "3.3"


def test_no_ct_series(tmp_path):
    folder = _axial_series(tmp_path / "mr", n=2, modality="MR")
    with pytest.raises(UnsupportedFormatError, match=r"no CT series.*MR"):
        read_dicom_series(folder)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UnsupportedFormatError, match="no DICOM images"):
        load_volume(empty)


def test_missing_folder(tmp_path):
    with pytest.raises(InputFileError, match="no such folder"):
        read_dicom_series(tmp_path / "nothing")


def test_writer_is_atomic_and_refuses_non_empty(tmp_path, monkeypatch):
    vol = Volume(np.zeros((3, 3, 4), np.int16), np.eye(4))
    calls = []
    real = pydicom.dcmwrite

    def failing(path, ds, **kw):
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full")
        real(path, ds, **kw)

    monkeypatch.setattr(pydicom, "dcmwrite", failing)
    with pytest.raises(OSError, match="disk full"):
        write_dicom_series(vol, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []  # no target, no temporary folder
    monkeypatch.setattr(pydicom, "dcmwrite", real)
    write_dicom_series(vol, tmp_path / "out")
    with pytest.raises(InputFileError, match="not empty"):
        write_dicom_series(vol, tmp_path / "out")
    write_dicom_series(vol, tmp_path / "out", overwrite=True)
    assert len(list((tmp_path / "out").iterdir())) == 4
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(InputFileError, match="non-DICOM"):
        write_dicom_series(vol, tmp_path / "out", overwrite=True)


def test_in_plane_shear_cannot_be_written(tmp_path):
    affine = np.array([[1, 0.3, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]])
    with pytest.raises(InvalidParameterError, match="shear"):
        write_dicom_series(Volume(np.zeros((2, 2, 2), np.int16), affine), tmp_path / "x")


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    angles=st.tuples(*[st.floats(-180, 180)] * 3),
    spacing=st.tuples(*[st.floats(0.3, 3.0)] * 3),
    origin=st.tuples(*[st.floats(-300, 300)] * 3),
)
def test_any_rotation_survives_dicom(tmp_path_factory, h, angles, spacing, origin):
    """ijk -> RAS through a DICOM series: every voxel lands where it was, for any rotation."""
    affine = np.eye(4)
    affine[:3, :3] = Rotation.from_euler("xyz", angles, degrees=True).as_matrix() @ np.diag(spacing)
    affine[:3, 3] = origin
    vol = h.marked_volume(affine, shape=(7, 4, 5))
    folder = write_dicom_series(vol, tmp_path_factory.mktemp("rot") / "s")
    back = read_dicom_series(folder).volume
    assert h.same_image(vol, back, atol_mm=1e-3)
