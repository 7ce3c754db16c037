"""``kypho info`` and ``kypho example`` through the real typer app, and every bad input of §8."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from typer.testing import CliRunner

import kypho.io.example as example_mod
from kypho.cli.main import app
from kypho.core import Case
from kypho.errors import InputFileError
from kypho.io import save_case, write_dicom_series, write_nifti

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, list(args))


def _assert_one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    text = result.stderr if result.stderr_bytes is not None else result.output
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    joined = " ".join(lines)
    assert "Traceback" not in result.output and "Traceback" not in text
    assert joined.startswith("error:"), joined
    for frag in fragments:
        assert frag in joined, (frag, joined)
    assert result.stdout.strip() == ""


@pytest.fixture
def small_case(tmp_path, h):
    vol = h.marked_volume(h.axis_affine("LPS"))
    return save_case(Case(vol, h.labels_like(vol), name="tiny"), tmp_path / "case"), vol


def test_info_json(small_case):
    folder, vol = small_case
    result = _run("info", str(folder), "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["shape"] == list(vol.shape)
    assert info["axcodes"] == "LPS"
    assert info["levels"] == ["T12", "L1"]
    assert info["hu"]["max"] == 5000.0 and info["hu"]["min"] == float(vol.data.min())
    # The labels of labels_like stop one voxel short of the i/j faces but span all of k.
    assert info["levels_at_edge"] == ["T12", "L1"]


def test_info_text_and_other_inputs(small_case, tmp_path, h):
    folder, vol = small_case
    result = _run("info", str(folder))
    assert result.exit_code == 0 and "T12-L1" in result.stdout and "LPS" in result.stdout
    ct = write_nifti(vol, tmp_path / "ct.nii")
    lab = write_nifti(h.labels_like(vol), tmp_path / "lab.nii.gz")
    result = _run("info", str(ct), "--labels", str(lab), "--json")
    assert json.loads(result.stdout)["levels"] == ["T12", "L1"]
    dicom = write_dicom_series(vol, tmp_path / "dicom")
    assert json.loads(_run("info", str(dicom), "--json").stdout)["shape"] == list(vol.shape)


# ------------------------------------------------------------------ every bad input, exit 2


def test_missing_file(tmp_path):
    _assert_one_line_error(_run("info", str(tmp_path / "nope.nii.gz")), "nope.nii.gz", "no such")


def test_truncated_nifti(tmp_path, h):
    src = write_nifti(h.marked_volume(np.eye(4), shape=(40, 40, 20)), tmp_path / "ct.nii.gz")
    blob = src.read_bytes()
    (tmp_path / "cut.nii.gz").write_bytes(blob[: len(blob) * 2 // 3])
    _assert_one_line_error(_run("info", str(tmp_path / "cut.nii.gz")), "cut.nii.gz")


def test_corrupt_dicom(tmp_path, h):
    folder = write_dicom_series(h.marked_volume(np.eye(4), shape=(24, 24, 5)), tmp_path / "d")
    victim = sorted(folder.iterdir())[2]
    victim.write_bytes(victim.read_bytes()[:-300])
    _assert_one_line_error(_run("info", str(folder)), victim.name)


def test_unsupported_format(tmp_path):
    (tmp_path / "scan.mha").write_bytes(b"\0" * 10)
    _assert_one_line_error(_run("info", str(tmp_path / "scan.mha")), "scan.mha", "unsupported")


def test_labels_mismatch(tmp_path, h):
    vol = h.marked_volume(np.eye(4))
    ct = write_nifti(vol, tmp_path / "ct.nii.gz")
    data = np.zeros((9, 7, 5), np.int16)
    data[2:4] = 20
    nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / "short.nii.gz")
    _assert_one_line_error(
        _run("info", str(ct), "--labels", str(tmp_path / "short.nii.gz")), "short.nii.gz", "shape"
    )
    shifted = np.eye(4)
    shifted[0, 3] = 3.0
    nib.save(nib.Nifti1Image(np.full(vol.shape, 20, np.int16), shifted), tmp_path / "moved.nii")
    _assert_one_line_error(
        _run("info", str(ct), "--labels", str(tmp_path / "moved.nii")), "moved.nii", "affine"
    )


def test_empty_label_map(tmp_path, h):
    vol = h.marked_volume(np.eye(4))
    ct = write_nifti(vol, tmp_path / "ct.nii.gz")
    nib.save(nib.Nifti1Image(np.zeros(vol.shape, np.int16), np.eye(4)), tmp_path / "empty.nii")
    _assert_one_line_error(
        _run("info", str(ct), "--labels", str(tmp_path / "empty.nii")), "empty.nii", "empty"
    )


def test_non_positive_voxel_size(tmp_path):
    nib.save(nib.Nifti1Image(np.zeros((3, 3, 3), np.int16), np.eye(4)), tmp_path / "flat.nii")
    blob = bytearray((tmp_path / "flat.nii").read_bytes())
    blob[312:316] = np.float32(0.0).tobytes()  # srow_z[0]
    blob[320:324] = np.float32(0.0).tobytes()  # srow_z[2]: the k axis has no length
    (tmp_path / "flat.nii").write_bytes(bytes(blob))
    _assert_one_line_error(_run("info", str(tmp_path / "flat.nii")), "flat.nii", "voxel size")


# -------------------------------------------------------------------------- kypho example


def test_example_writes_a_case_folder(tmp_path, h, monkeypatch):
    vol = h.marked_volume(h.axis_affine("LAS"))
    fake = Case(vol, h.labels_like(vol), name="example-chest-ct")
    monkeypatch.setattr(example_mod, "fetch_example", lambda **kw: fake)
    out = tmp_path / "ex"
    result = _run("example", "-o", str(out), "--no-progress")
    assert result.exit_code == 0, result.output
    assert (out / "case.json").exists() and (out / "labels.nii.gz").exists()
    assert "T12-L1" in result.stdout
    # A second run refuses the non-empty folder before any download.
    monkeypatch.setattr(example_mod, "fetch_example", lambda **kw: pytest.fail("downloaded"))
    _assert_one_line_error(_run("example", "-o", str(out)), "not empty")


def test_example_offline_writes_nothing(tmp_path, monkeypatch):
    def offline(**kw):
        raise InputFileError("could not download the example CT (test): network unreachable")

    monkeypatch.setattr(example_mod, "fetch_example", offline)
    out = tmp_path / "ex"
    _assert_one_line_error(_run("example", "-o", str(out), "--no-progress"), "could not download")
    assert not out.exists()
