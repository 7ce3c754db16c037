"""NIfTI reading/writing: round trips, scaling, the TotalSegmentator label table, bad files."""

from __future__ import annotations

import gzip
from xml.etree import ElementTree

import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from kypho.core import LEVEL_IDS, TOTALSEGMENTATOR_V2_IDS, LabelMap, Volume
from kypho.errors import FormatError, InputFileError, UnsupportedFormatError
from kypho.io import load_labels, read_labels_nifti, read_volume_nifti, write_nifti
from kypho.io.nifti import label_table_xml, parse_label_table


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("axcodes", ["RAS", "LAS", "LPI", "PIR", "oblique"])
def test_volume_round_trip(tmp_path, h, suffix, axcodes):
    affine = h.oblique_affine() if axcodes == "oblique" else h.axis_affine(axcodes)
    vol = h.marked_volume(affine)
    path = write_nifti(vol, tmp_path / f"ct{suffix}")
    back = read_volume_nifti(path)
    assert back.data.dtype == np.int16
    assert np.array_equal(back.data, vol.data)
    assert np.allclose(back.affine, vol.affine, atol=1e-5)
    if axcodes != "oblique":
        assert "".join(back.axcodes) == axcodes
    # nibabel (the reference parser) agrees on where the marker voxel is.
    ref = nib.load(path)
    marker = np.asarray(h.MARKER_IJK, dtype=float)
    assert np.allclose(nib.affines.apply_affine(ref.affine, marker), h.bright_ras(back), atol=1e-4)


def test_float_volume_and_sheared_affine_round_trip(tmp_path):
    affine = np.array([[0, 0.5, 0.3, 10], [1.2, 0, 0, 5], [0, 0.1, 2.0, -3], [0, 0, 0, 1.0]])
    data = np.random.default_rng(1).normal(0, 300, (4, 5, 6)).astype(np.float32)
    back = read_volume_nifti(write_nifti(Volume(data, affine), tmp_path / "f.nii.gz"))
    assert back.data.dtype == np.float32
    assert np.array_equal(back.data, data)
    assert np.allclose(back.affine, affine, atol=1e-5)


def test_scl_slope_and_inter_are_applied(tmp_path):
    raw = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    img = nib.Nifti1Image(raw, np.eye(4))
    img.header.set_slope_inter(2.0, -1024.0)
    nib.save(img, tmp_path / "s.nii.gz")
    vol = read_volume_nifti(tmp_path / "s.nii.gz")
    assert np.allclose(vol.data, raw * 2.0 - 1024.0)
    # An integer intercept with slope 1 keeps int16 (as in the example CT: inter = -1024).
    img = nib.Nifti1Image(raw, np.eye(4))
    img.header.set_slope_inter(1.0, -1024.0)
    nib.save(img, tmp_path / "i.nii.gz")
    vol = read_volume_nifti(tmp_path / "i.nii.gz")
    assert vol.data.dtype == np.int16
    assert np.array_equal(vol.data, raw.astype(np.int32) - 1024)


def test_4d_with_one_volume_is_accepted(tmp_path):
    nib.save(nib.Nifti1Image(np.ones((2, 3, 4, 1), np.int16), np.eye(4)), tmp_path / "v.nii")
    assert read_volume_nifti(tmp_path / "v.nii").shape == (2, 3, 4)


def test_label_map_writes_table_with_level_names(tmp_path):
    data = np.zeros((4, 4, 6), np.int16)
    data[:, :, :3] = LEVEL_IDS["T12"]
    data[:, :, 3:] = LEVEL_IDS["L1"]
    path = write_nifti(LabelMap(data, np.eye(4)), tmp_path / "labels.nii.gz")
    arr, affine, table = read_labels_nifti(path)
    assert np.allclose(affine, np.eye(4))
    assert table == {LEVEL_IDS["T12"]: "T12", LEVEL_IDS["L1"]: "L1"}
    assert np.array_equal(arr, data)
    hdr = nib.load(path).header
    assert hdr["intent_code"] == 1002
    # The same element path TotalSegmentator's load_multilabel_nifti walks.
    root = ElementTree.fromstring(hdr.extensions[0].get_content())
    assert root.tag == "CaretExtension"
    labels = root.findall("./VolumeInformation/LabelTable/Label")
    assert {int(e.get("Key")): e.text for e in labels} == table


def test_totalsegmentator_label_table_is_read_by_name(tmp_path):
    """A TotalSegmentator-style multilabel file: ids follow its v2 map, names are in the XML."""
    names = {5: "liver", 26: "vertebrae_S1", 27: "vertebrae_L5", 31: "vertebrae_L1", 92: "rib_x"}
    data = np.zeros((3, 3, 5), np.uint8)
    for k, i in enumerate(names):
        data[:, :, k] = i
    img = nib.Nifti1Image(data, np.diag([-1.0, -1.0, 2.0, 1.0]))
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?> <CaretExtension> <VolumeInformation Index="0">'
        "<LabelTable>\n"
        + "".join(
            f'<Label Key="{i}" Red="1" Green="0" Blue="0" Alpha="1"><![CDATA[{n}]]></Label>\n'
            for i, n in names.items()
        )
        + "</LabelTable> <VolumeType><![CDATA[Label]]></VolumeType> </VolumeInformation>"
        "</CaretExtension>\n  "
    )
    img.header.extensions.append(nib.nifti1.Nifti1Extension(0, xml.encode()))
    nib.save(img, tmp_path / "ts.nii.gz")
    assert read_labels_nifti(tmp_path / "ts.nii.gz")[2] == names
    labels = load_labels(tmp_path / "ts.nii.gz")
    assert labels.levels == ("L1", "L5", "S1")
    assert np.all(labels.data[:, :, 0] == 0)  # liver -> background
    assert np.all(labels.data[:, :, 1] == LEVEL_IDS["S1"])
    assert np.all(labels.data[:, :, 2] == LEVEL_IDS["L5"])
    assert np.all(labels.data[:, :, 3] == LEVEL_IDS["L1"])
    assert np.all(labels.data[:, :, 4] == 0)  # rib -> background
    # ... and TotalSegmentator's own ids agree with the names in the table.
    assert TOTALSEGMENTATOR_V2_IDS["L1"] == 31 and TOTALSEGMENTATOR_V2_IDS["L5"] == 27


def test_label_table_round_trip_of_any_names():
    table = {1: "a & b", 7: "<odd>", 300: "vertebrae_T7"}
    assert parse_label_table(label_table_xml(table)) == table


def test_corrupt_label_table_is_a_format_error(tmp_path):
    img = nib.Nifti1Image(np.ones((2, 2, 2), np.uint8), np.eye(4))
    img.header.extensions.append(nib.nifti1.Nifti1Extension(0, b"<LabelTable><Label Key="))
    nib.save(img, tmp_path / "bad.nii")
    with pytest.raises(FormatError, match=r"bad\.nii.*XML"):
        read_labels_nifti(tmp_path / "bad.nii")


# ---------------------------------------------------------------------------------- bad input


def test_missing_file(tmp_path):
    with pytest.raises(InputFileError, match="no such file"):
        read_volume_nifti(tmp_path / "nope.nii.gz")


def test_wrong_suffix_is_unsupported(tmp_path):
    (tmp_path / "ct.mha").write_bytes(b"x")
    with pytest.raises(UnsupportedFormatError, match=r"ct\.mha"):
        read_volume_nifti(tmp_path / "ct.mha")


def _big_nifti(tmp_path, name="big.nii.gz"):
    data = np.random.default_rng(0).integers(-1000, 1000, (40, 40, 30)).astype(np.int16)
    return write_nifti(Volume(data, np.eye(4)), tmp_path / name)


@pytest.mark.parametrize("fraction", [0.05, 0.5, 0.95])
def test_truncated_gzip_is_a_format_error(tmp_path, fraction):
    src = _big_nifti(tmp_path).read_bytes()
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(src[: int(len(src) * fraction)])
    with pytest.raises(FormatError, match=r"cut\.nii\.gz"):
        read_volume_nifti(cut)


def test_truncated_uncompressed_data_is_a_format_error(tmp_path):
    src = _big_nifti(tmp_path, "big.nii").read_bytes()
    cut = tmp_path / "short.nii"
    cut.write_bytes(src[:-100])
    with pytest.raises(FormatError, match=r"short\.nii: truncated"):
        read_volume_nifti(cut)


def test_corrupt_gzip_stream_is_a_format_error(tmp_path):
    raw = gzip.decompress(_big_nifti(tmp_path).read_bytes())
    blob = bytearray(gzip.compress(raw))
    blob[len(blob) // 2 : len(blob) // 2 + 64] = bytes(64)  # damage the deflate stream
    (tmp_path / "damaged.nii.gz").write_bytes(bytes(blob))
    with pytest.raises(FormatError, match=r"damaged\.nii\.gz"):
        read_volume_nifti(tmp_path / "damaged.nii.gz")


def test_not_nifti_content(tmp_path):
    (tmp_path / "text.nii").write_text("this is not an image\n" * 30)
    with pytest.raises(FormatError, match=r"text\.nii"):
        read_volume_nifti(tmp_path / "text.nii")


@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 4, 2)])
def test_not_3d(tmp_path, shape):
    nib.save(nib.Nifti1Image(np.zeros(shape, np.int16), np.eye(4)), tmp_path / "n.nii")
    with pytest.raises(FormatError, match="3-D"):
        read_volume_nifti(tmp_path / "n.nii")


def test_nan_affine(tmp_path):
    nib.save(nib.Nifti1Image(np.zeros((2, 2, 2), np.int16), np.eye(4)), tmp_path / "nan.nii")
    blob = bytearray((tmp_path / "nan.nii").read_bytes())
    blob[280:284] = np.float32(np.nan).tobytes()  # srow_x[0] (nifti1.h header layout)
    blob[254:256] = np.int16(1).tobytes()  # sform_code = scanner
    (tmp_path / "nan.nii").write_bytes(bytes(blob))
    with pytest.raises(FormatError, match=r"nan\.nii.*NaN"):
        read_volume_nifti(tmp_path / "nan.nii")


@pytest.mark.parametrize("pixdim", [(1.0, 0.0, 1.0), (1.0, 1.0, -2.0)])
def test_non_positive_voxel_size(tmp_path, pixdim):
    img = nib.Nifti1Image(np.zeros((2, 2, 2), np.int16), None)
    img.header["qform_code"] = 1
    img.header["sform_code"] = 0
    nib.save(img, tmp_path / "zero.nii")
    # nibabel refuses to write such a header, so patch pixdim[1:4] (bytes 80-92, nifti1.h).
    blob = bytearray((tmp_path / "zero.nii").read_bytes())
    blob[80:92] = np.asarray(pixdim, dtype="<f4").tobytes()
    (tmp_path / "zero.nii").write_bytes(bytes(blob))
    with pytest.raises(FormatError, match=r"zero\.nii.*(voxel size|pixdim)"):
        read_volume_nifti(tmp_path / "zero.nii")


def test_zero_column_in_sform(tmp_path):
    nib.save(nib.Nifti1Image(np.zeros((2, 2, 2), np.int16), np.eye(4)), tmp_path / "flat.nii")
    blob = bytearray((tmp_path / "flat.nii").read_bytes())
    blob[300:304] = np.float32(0.0).tobytes()  # srow_y[1]: the j axis has no length
    (tmp_path / "flat.nii").write_bytes(bytes(blob))
    with pytest.raises(FormatError, match="non-positive voxel size"):
        read_volume_nifti(tmp_path / "flat.nii")


def test_fractional_labels_rejected(tmp_path):
    nib.save(nib.Nifti1Image(np.full((2, 2, 2), 0.5, np.float32), np.eye(4)), tmp_path / "f.nii")
    with pytest.raises(FormatError, match="fractional"):
        read_labels_nifti(tmp_path / "f.nii")


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    def boom(img, filename):
        with open(filename, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(nib, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        write_nifti(Volume(np.zeros((2, 2, 2), np.int16), np.eye(4)), tmp_path / "ct.nii.gz")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ property test


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    angles=st.tuples(*[st.floats(-180, 180)] * 3),
    spacing=st.tuples(*[st.floats(0.3, 4.0)] * 3),
    origin=st.tuples(*[st.floats(-400, 400)] * 3),
    ijk=st.tuples(*[st.floats(-10, 20)] * 3),
)
def test_ijk_ras_ijk_through_nifti(tmp_path, angles, spacing, origin, ijk):
    """Any orthogonal affine survives a NIfTI round trip; ijk -> RAS -> ijk is the identity."""
    affine = np.eye(4)
    affine[:3, :3] = Rotation.from_euler("xyz", angles, degrees=True).as_matrix() @ np.diag(spacing)
    affine[:3, 3] = origin
    vol = Volume(np.zeros((2, 3, 4), np.int16), affine)
    back = read_volume_nifti(write_nifti(vol, tmp_path / "p.nii"))
    p_ras_mm = vol.ijk_to_ras(ijk)
    # float32 storage of the sform: allow 1e-6 relative on coordinates of a few hundred mm.
    assert np.allclose(back.ijk_to_ras(ijk), p_ras_mm, atol=2e-3)
    assert np.allclose(back.ras_to_ijk(p_ras_mm), ijk, atol=1e-3)
