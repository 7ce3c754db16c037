"""load_volume / load_labels / load_case / save_case: dispatch, label schemes, case folders."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from kypho.core import LEVEL_IDS, Case, LabelMap, Volume
from kypho.core.truth import PhantomTruth
from kypho.errors import (
    EmptyLabelMapError,
    FormatError,
    GeometryMismatchError,
    InputFileError,
    InvalidParameterError,
    UnsupportedFormatError,
)
from kypho.io import (
    level_from_name,
    load_case,
    load_labels,
    load_volume,
    save_case,
    save_image,
    write_dicom_series,
    write_nifti,
)


def _raw_labels(tmp_path, ids_by_slab, name="lab.nii.gz", affine=None, shape=(4, 4, 6)):
    data = np.zeros(shape, np.int16)
    for n, i in enumerate(ids_by_slab):
        data[:, :, n] = i
    nib.save(nib.Nifti1Image(data, np.eye(4) if affine is None else affine), tmp_path / name)
    return tmp_path / name


def _ct(shape=(4, 4, 6), affine=None):
    return Volume(np.zeros(shape, np.int16), np.eye(4) if affine is None else affine)


@pytest.mark.parametrize(
    ("name", "level"),
    [
        ("L1", "L1"),
        ("vertebrae_T12", "T12"),
        ("Vertebra-c2", "C2"),
        ("liver", None),
        ("sacrum", None),
    ],
)
def test_level_from_name(name, level):
    assert level_from_name(name) == level


def test_auto_scheme_kypho_ids(tmp_path):
    labels = load_labels(_raw_labels(tmp_path, [0, 20, 21, 26]), like=_ct())
    assert labels.levels == ("L1", "L2", "S1")


def test_auto_scheme_totalsegmentator_ids(tmp_path):
    # 5 liver, 31 L1, 32 T12, 92 a rib: ids >= 29 mean TotalSegmentator v2.
    labels = load_labels(_raw_labels(tmp_path, [5, 31, 32, 92]), like=_ct())
    assert labels.levels == ("T12", "L1")
    assert np.all(labels.data[:, :, 0] == 0) and np.all(labels.data[:, :, 3] == 0)
    assert np.all(labels.data[:, :, 1] == LEVEL_IDS["L1"])


def test_ambiguous_ids_need_a_scheme(tmp_path):
    path = _raw_labels(tmp_path, [26, 27, 28])  # TS: S1 L5 L4 -- VerSe: S1 coccyx T13
    with pytest.raises(InvalidParameterError, match="choose the scheme"):
        load_labels(path)
    assert load_labels(path, scheme="totalsegmentator").levels == ("L4", "L5", "S1")
    assert load_labels(path, scheme="verse").levels == ("S1",)
    binary = _raw_labels(tmp_path, [1, 1], name="binary.nii")
    with pytest.raises(InvalidParameterError, match="binary mask"):
        load_labels(binary)
    assert load_labels(binary, scheme="kypho").levels == ("C1",)
    with pytest.raises(InvalidParameterError, match="unknown label scheme"):
        load_labels(binary, scheme="nnunet")  # type: ignore[arg-type]


def test_labels_shape_mismatch(tmp_path):
    path = _raw_labels(tmp_path, [20], shape=(4, 4, 5))
    with pytest.raises(GeometryMismatchError, match=r"lab\.nii\.gz: shape \(4, 4, 5\)"):
        load_labels(path, like=_ct())


def test_labels_affine_mismatch(tmp_path):
    shifted = np.eye(4)
    shifted[2, 3] = 0.5
    path = _raw_labels(tmp_path, [20], affine=shifted)
    with pytest.raises(GeometryMismatchError, match=r"lab\.nii\.gz: affine"):
        load_labels(path, like=_ct())  # shifted by half a voxel along z


def test_empty_label_maps(tmp_path):
    with pytest.raises(EmptyLabelMapError, match=r"zeros\.nii.*empty"):
        load_labels(_raw_labels(tmp_path, [], name="zeros.nii"))
    # Only organs and ribs of TotalSegmentator: no vertebra.
    with pytest.raises(EmptyLabelMapError, match=r"organs\.nii.*no vertebra"):
        load_labels(_raw_labels(tmp_path, [5, 92], name="organs.nii"))
    # A kypho tissue map (label table of tissue names) is not a vertebra map.
    tissue = LabelMap(np.arange(24, dtype=np.int16).reshape(2, 3, 4) % 5, np.eye(4))
    path = write_nifti(
        tissue, tmp_path / "t.nii", label_names={1: "skin", 2: "fat", 3: "muscle", 4: "cortical"}
    )
    with pytest.raises(EmptyLabelMapError, match="label table"):
        load_labels(path)


def test_dispatch_errors(tmp_path):
    with pytest.raises(InputFileError, match="no such file"):
        load_volume(tmp_path / "missing.nii.gz")
    (tmp_path / "ct.mhd").write_text("ObjectType = Image\n")
    with pytest.raises(UnsupportedFormatError, match=r"ct\.mhd.*unsupported format"):
        load_volume(tmp_path / "ct.mhd")
    (tmp_path / "ct").write_text("?")
    with pytest.raises(UnsupportedFormatError, match="no suffix"):
        load_case(tmp_path / "ct")
    folder = tmp_path / "dicom"
    write_dicom_series(_ct(), folder)
    with pytest.raises(UnsupportedFormatError, match="DICOM label maps"):
        load_labels(folder)


def test_load_case_from_files(tmp_path, h):
    vol = h.marked_volume(h.axis_affine("LPS"))
    ct = write_nifti(vol, tmp_path / "patient7.nii.gz")
    lab = save_image(h.labels_like(vol), tmp_path / "labels.nrrd")
    case = load_case(ct, labels=lab)
    assert case.name == "patient7"
    assert case.levels == ("T12", "L1")
    assert case.metadata["format"] == "nifti" and case.metadata["labels_scheme"] == "kypho"
    dicom = write_dicom_series(vol, tmp_path / "series-3")
    case = load_case(dicom, labels=lab)
    assert case.name == "series-3" and case.metadata["format"] == "dicom"
    assert h.same_image(vol, case.volume)


def _truth():
    return PhantomTruth(seed=7, spec={"levels": ["T12", "L1"]}, vertebrae=(), notes=("test",))


def test_case_folder_round_trip(tmp_path, h):
    vol = h.marked_volume(h.oblique_affine())
    tissue = LabelMap((np.asarray(vol.data) > 0).astype(np.int16) * 5, vol.affine)
    case = Case(
        vol,
        h.labels_like(vol),
        name="phantom-1",
        metadata={"seed": np.int64(7), "spacing": np.array([0.5, 0.5])},
        truth=_truth(),
        tissue=tissue,
    )
    folder = save_case(case, tmp_path / "case")
    assert sorted(p.name for p in folder.iterdir()) == [
        "case.json", "ct.nii.gz", "labels.nii.gz", "tissue.nii.gz", "truth.json",
    ]  # fmt: skip
    doc = json.loads((folder / "case.json").read_text())
    assert doc["format"] == "kypho.case/2" and doc["name"] == "phantom-1"
    assert doc["metadata"] == {"seed": 7, "spacing": [0.5, 0.5]}
    back = load_case(folder)
    assert back.name == "phantom-1" and back.levels == ("T12", "L1")
    assert h.same_image(vol, back.volume)
    assert np.array_equal(back.labels.data, case.labels.data)
    assert np.array_equal(back.tissue.data, tissue.data)
    assert back.truth == case.truth
    assert load_case(folder / "case.json", name="renamed").name == "renamed"
    assert load_volume(folder).shape == vol.shape


def test_save_case_refuses_non_empty_and_overwrites_only_its_files(tmp_path, h):
    vol = h.marked_volume(np.eye(4))
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(InputFileError, match="not empty"):
        save_case(Case(vol, h.labels_like(vol)), folder)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    save_case(Case(vol, h.labels_like(vol)), folder, overwrite=True)
    assert (folder / "labels.nii.gz").exists()
    save_case(Case(vol, name="no-labels"), folder, overwrite=True)  # stale labels must go
    assert sorted(p.name for p in folder.iterdir()) == ["case.json", "ct.nii.gz", "notes.txt"]
    assert load_case(folder).labels is None
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_save_case_failure_leaves_nothing(tmp_path, h, monkeypatch):
    import kypho.io.load as load_mod

    vol = h.marked_volume(np.eye(4))
    real = load_mod.write_nifti

    def fail_on_labels(image, path, **kw):
        if "labels" in str(path):
            raise OSError("disk full")
        return real(image, path, **kw)

    monkeypatch.setattr(load_mod, "write_nifti", fail_on_labels)
    with pytest.raises(OSError, match="disk full"):
        save_case(Case(vol, h.labels_like(vol)), tmp_path / "new")
    assert list(tmp_path.iterdir()) == []


def test_unserialisable_metadata(tmp_path, h):
    case = Case(h.marked_volume(np.eye(4)), metadata={"when": object()})
    with pytest.raises(InvalidParameterError, match="JSON"):
        save_case(case, tmp_path / "x")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("doc", "error", "match"),
    [
        ("{not json", FormatError, "JSON"),
        ('{"name": "x"}', FormatError, "not a kypho case file"),
        ('{"kypho_case": 99, "files": {"ct": "ct.nii.gz"}}', UnsupportedFormatError, "version 99"),
        ('{"kypho_case": 1, "files": {"ct": "../ct.nii.gz"}}', FormatError, "inside the case"),
        ('{"kypho_case": 1, "files": {"ct": "gone.nii.gz"}}', InputFileError, r"gone\.nii\.gz"),
        ('{"format": "kypho.case/9", "files": {"ct": "ct.nii.gz"}}', FormatError,
         r"format 'kypho\.case/9'; expected 'kypho\.case/2'"),
        ('{"format": "kypho.case/2", "files": {"ct": null}}', FormatError, r"files\.ct"),
    ],
)
def test_bad_case_json(tmp_path, doc, error, match):
    folder = tmp_path / "case"
    folder.mkdir()
    (folder / "case.json").write_text(doc)
    with pytest.raises(error, match=match):
        load_case(folder)


def test_uncompressed_case_folder(tmp_path, h):
    vol = h.marked_volume(h.axis_affine("LAS"))
    folder = save_case(Case(vol, h.labels_like(vol)), tmp_path / "c", compress=False)
    assert sorted(p.name for p in folder.iterdir()) == ["case.json", "ct.nii", "labels.nii"]
    assert h.same_image(vol, load_case(folder).volume)
    save_case(Case(vol, h.labels_like(vol)), folder, overwrite=True)  # compressed again
    assert sorted(p.name for p in folder.iterdir()) == ["case.json", "ct.nii.gz", "labels.nii.gz"]
