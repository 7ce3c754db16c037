"""The same physical point lands on the same RAS+ coordinate from NIfTI, NRRD and DICOM.

A marker voxel is placed at a known world point under many voxel orientations.  Each format is
written twice: by kypho's writers and by hand from the format's own definition (nibabel for
NIfTI, a text header for NRRD in LPS, pydicom datasets with IOP/IPP for DICOM), so a sign
error shared by a kypho writer and reader cannot cancel out.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from kypho.io import load_case, load_volume, save_case, write_dicom_series, write_nifti, write_nrrd

LPS = np.diag([-1.0, -1.0, 1.0, 1.0])

ORIENTATIONS = ["RAS", "LAS", "LPS", "LPI", "PIR", "IAL", "ASR", "oblique"]


def _affine(h, name):
    return h.oblique_affine() if name == "oblique" else h.axis_affine(name)


def _hand_nifti(vol, path):
    img = nib.Nifti1Image(np.asarray(vol.data), vol.affine)
    img.set_qform(vol.affine, code=1)
    nib.save(img, path)
    return path


def _hand_nrrd_lps(vol, path):
    lps = LPS @ vol.affine
    dirs = " ".join("(" + ",".join(repr(float(v)) for v in lps[:3, c]) + ")" for c in range(3))
    header = (
        "NRRD0004\ntype: int16\ndimension: 3\nspace: left-posterior-superior\n"
        f"sizes: {' '.join(map(str, vol.shape))}\nspace directions: {dirs}\n"
        "endian: little\nencoding: raw\n"
        f"space origin: ({','.join(repr(float(v)) for v in lps[:3, 3])})\n\n"
    )
    path.write_bytes(header.encode() + np.asarray(vol.data, "<i2").tobytes(order="F"))
    return path


def _hand_dicom(vol, folder):
    """One CT slice per k: IOP = LPS directions of i (along a row) and j (down a column)."""
    folder.mkdir()
    lps = LPS @ vol.affine
    di, dj = np.linalg.norm(lps[:3, 0]), np.linalg.norm(lps[:3, 1])
    iop = [*(lps[:3, 0] / di), *(lps[:3, 1] / dj)]
    for k in range(vol.shape[2]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.SeriesInstanceUID, ds.Modality = "9.9.9", "CT"
        ds.ImageOrientationPatient = [f"{v:.10f}"[:16] for v in iop]
        ds.ImagePositionPatient = [f"{v:.8f}"[:16] for v in lps[:3, 3] + k * lps[:3, 2]]
        ds.PixelSpacing = [f"{dj:.10f}"[:16], f"{di:.10f}"[:16]]  # [between rows, between columns]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows, ds.Columns = vol.shape[1], vol.shape[0]
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope, ds.RescaleIntercept = "1", "0"
        ds.PixelData = np.ascontiguousarray(np.asarray(vol.data)[:, :, k].T, "<i2").tobytes()
        pydicom.dcmwrite(folder / f"{k:04d}.dcm", ds, enforce_file_format=True)
    return folder


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_marker_has_one_ras_coordinate_in_every_format(tmp_path, h, orientation):
    vol = h.marked_volume(_affine(h, orientation))
    p_ras_mm = vol.ijk_to_ras(h.MARKER_IJK)
    files = {
        "nifti (kypho)": write_nifti(vol, tmp_path / "k.nii.gz"),
        "nifti (nibabel)": _hand_nifti(vol, tmp_path / "n.nii"),
        "nrrd (kypho)": write_nrrd(vol, tmp_path / "k.nrrd"),
        "nrrd (by hand, LPS)": _hand_nrrd_lps(vol, tmp_path / "h.nrrd"),
        "dicom (kypho)": write_dicom_series(vol, tmp_path / "kd"),
        "dicom (by hand)": _hand_dicom(vol, tmp_path / "hd"),
    }
    for what, path in files.items():
        back = load_volume(path)
        # float32 NIfTI sform and 16-character DICOM strings: well under a micrometre here.
        assert np.allclose(h.bright_ras(back), p_ras_mm, atol=1e-3), what
        assert h.same_image(vol, back), what


def test_case_folder_keeps_world_coordinates(tmp_path, h):
    vol = h.marked_volume(_affine(h, "PIR"))
    case = load_case(write_nifti(vol, tmp_path / "ct.nii.gz"))
    again = load_case(save_case(case, tmp_path / "case"))
    assert np.allclose(h.bright_ras(again.volume), vol.ijk_to_ras(h.MARKER_IJK), atol=1e-3)
    assert "".join(again.volume.axcodes) == "PIR"
