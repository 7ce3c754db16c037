"""Fuzzing every reader kypho owns with hypothesis-generated headers, tags, JSON and text.

Each example must give a correct result or a :class:`~kypho.errors.KyphoError` (what the CLI
turns into one line, exit 2): never another exception, never a hang (hypothesis' deadline)
and never an allocation beyond the memory limit (the ``memory_limit`` fixture lowers this
process's address space to its current size plus 1 GiB while the test runs).
Deeper runs: ``KYPHO_FUZZ_EXAMPLES=2000 pytest tests/hardening/test_fuzz.py``.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from kypho.core import Case, Volume
from kypho.core.limits import MAX_IMAGE_VOXELS
from kypho.errors import KyphoError

#: Examples per test: 40 in CI (the suite stays within seconds); set KYPHO_FUZZ_EXAMPLES=2000
#: for a deeper local run.
FUZZ = settings(
    max_examples=int(os.environ.get("KYPHO_FUZZ_EXAMPLES", "40")),
    deadline=3000,  # ms per example: a hang or an unbounded loop fails here
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

_finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
_any32 = st.floats(width=32) | st.sampled_from([0.0, 1.0, -1.0, 3e38, float("nan"),
                                                 float("inf"), float("-inf")])


def _assert_ct(vol: Volume) -> None:
    data = np.asarray(vol.data)
    assert data.ndim == 3 and data.size <= MAX_IMAGE_VOXELS
    if data.dtype.kind == "f":
        assert np.all(np.isfinite(data)) and float(np.abs(data).max(initial=0)) <= 1e6
    assert np.all(np.isfinite(vol.affine))


# -- NIfTI ----------------------------------------------------------------------------------------

def _base_nifti() -> bytes:
    import nibabel as nib

    img = nib.Nifti1Image((np.arange(64) % 7).astype(np.int16).reshape(4, 4, 4), np.eye(4))
    return img.to_bytes()


_NIFTI = _base_nifti()


@st.composite
def nifti_files(draw):
    raw = bytearray(_NIFTI)
    ndim = draw(st.sampled_from([3, 3, 3, 4, 0, 2, 8, -1]))
    dims = draw(st.lists(st.sampled_from([4, 4, 1, 0, -3, 2, 64, 1000, 32767]) |
                         st.integers(-10, 32767), min_size=4, max_size=4))
    struct.pack_into("<8h", raw, 40, ndim, *dims, 1, 1, 1)
    if draw(st.booleans()):
        code = draw(st.sampled_from([2, 4, 8, 16, 64, 256, 512, 768, 1024, 1280, 0, 128, 32,
                                     2304, 1792, 9999]))
        struct.pack_into("<hh", raw, 70, code, draw(st.sampled_from([8, 16, 32, 64, 0, 7])))
    if draw(st.booleans()):
        struct.pack_into("<f", raw, 108, draw(_any32 | st.sampled_from([352.0, 1e9, 480.0])))
    struct.pack_into("<ff", raw, 112, draw(_any32), draw(_any32))
    if draw(st.booleans()):
        struct.pack_into("<3f", raw, 80, *draw(st.lists(_any32, min_size=3, max_size=3)))
    if draw(st.booleans()):
        struct.pack_into("<hh", raw, 252, draw(st.sampled_from([0, 1, 2, 7])),
                         draw(st.sampled_from([0, 1, 2, 7])))
        struct.pack_into("<12f", raw, 280, *draw(st.lists(_any32, min_size=12, max_size=12)))
    cut = draw(st.none() | st.integers(0, len(raw)))
    if cut is not None:
        raw = raw[:cut]
    return bytes(raw), draw(st.booleans())


@FUZZ
@given(nifti_files())
def test_nifti_headers(tmp_path, memory_limit, spec):
    from kypho.io import read_labels_nifti, read_volume_nifti

    raw, gz = spec
    path = tmp_path / ("f.nii.gz" if gz else "f.nii")
    path.write_bytes(gzip.compress(raw, 1) if gz else raw)
    try:
        _assert_ct(read_volume_nifti(path))
        event("NIfTI read")
    except KyphoError as exc:
        event(f"NIfTI refused: {type(exc).__name__}")
    try:
        data, _, _ = read_labels_nifti(path)
        assert data.dtype.kind in "iu" and int(data.min(initial=0)) >= 0
    except KyphoError:
        pass


# -- NRRD -----------------------------------------------------------------------------------------

_DATA_FILES = ["d.raw", "../secret.raw", "/etc/hostname", "sub/../d.raw", "link.raw", "LIST",
               "%03d.raw 1 2 1", "pipe.raw", "missing.raw", "sub"]


_NRRD_FIELDS = {  # field: (valid value, strategy of replacements)
    "magic": ("NRRD0004", st.sampled_from(["NRRD0005", "NRRD0009", "NRRDx", "nrrd0004", ""])),
    "type": ("int16", st.sampled_from(["short", "uint8", "float", "double", "int64", "block",
                                       "bogus", "int", ""])),
    "dimension": ("3", st.sampled_from(["0", "-1", "4", "2", "9" * 30, "x"])),
    "sizes": ("4 4 4", st.lists(st.sampled_from(["4", "1", "0", "-2", "100000", str(2**40),
                                                 "99999999999999999999", "x"]),
                                min_size=0, max_size=4).map(" ".join)),
    "encoding": ("raw", st.sampled_from(["gzip", "bzip2", "ascii", "hex", ""])),
    "endian": ("little", st.sampled_from(["big", "middle", ""])),
    "space": ("RAS", st.sampled_from(["left-posterior-superior", "scanner-xyz", "", "LPS"])),
    "space directions": ("(1,0,0) (0,1,0) (0,0,1)", st.lists(
        st.lists(st.sampled_from(["1", "0", "-1", "nan", "inf", "1e308", "x", "0.5"]),
                 min_size=3, max_size=3).map(lambda v: "(" + ",".join(v) + ")") |
        st.just("none"), min_size=0, max_size=4).map(" ".join)),
    "space origin": ("(0,0,0)", st.sampled_from(["(nan,0,0)", "(1e400,0,0)", "(1,2)", "x"])),
    "line skip": (None, st.integers(-2, 10**12).map(str)),
    "byte skip": (None, st.integers(-3, 10**12).map(str)),
    "data file": (None, st.sampled_from(_DATA_FILES)),
}


@st.composite
def nrrd_files(draw):
    """A valid 4x4x4 int16 NRRD with a few of its fields replaced, and a payload."""
    fields = {k: v for k, (v, _) in _NRRD_FIELDS.items()}
    for key in draw(st.lists(st.sampled_from(sorted(_NRRD_FIELDS)), max_size=3, unique=True)):
        fields[key] = draw(_NRRD_FIELDS[key][1] | st.none())
    lines = [fields.pop("magic") or ""]
    lines += [f"{k}: {v}" for k, v in fields.items() if v is not None]
    payload = draw(st.sampled_from([np.arange(64, dtype="<i2").tobytes()]) |
                   st.binary(max_size=300))
    if fields["encoding"] == "gzip" and draw(st.booleans()):
        payload = gzip.compress(payload)
    return lines, payload, fields["data file"] is not None


@FUZZ
@given(nrrd_files())
def test_nrrd_headers(tmp_path, memory_limit, spec):
    from kypho.io import load_labels, load_volume

    lines, payload, detached = spec
    folder = tmp_path / "case"
    if not folder.exists():
        folder.mkdir()
        (folder / "sub").mkdir()
        (tmp_path / "secret.raw").write_bytes(b"\x7f" * 4096)
        os.symlink(tmp_path / "secret.raw", folder / "link.raw")
        os.mkfifo(folder / "pipe.raw")
    header = ("\n".join(lines) + "\n").encode()
    name = "x.nhdr" if detached else "x.nrrd"
    if detached:
        (folder / name).write_bytes(header)
        (folder / "d.raw").write_bytes(payload)
    else:
        (folder / name).write_bytes(header + b"\n" + payload)
    for read in (load_volume, load_labels):
        try:
            result = read(folder / name)
        except KyphoError as exc:
            event(f"NRRD refused: {type(exc).__name__}")
            continue
        event("NRRD read")
        data = np.asarray(result.data)
        assert data.size <= MAX_IMAGE_VOXELS
        assert not np.all(data.view(np.uint8) == 0x7F)  # never the file outside the folder


# -- DICOM ----------------------------------------------------------------------------------------

_TAGS = {  # keyword: (tag, VR)
    "Rows": (0x00280010, "US"), "Columns": (0x00280011, "US"),
    "BitsAllocated": (0x00280100, "US"), "SamplesPerPixel": (0x00280002, "US"),
    "RescaleSlope": (0x00281053, "DS"), "RescaleIntercept": (0x00281052, "DS"),
    "KVP": (0x00180060, "DS"), "SliceThickness": (0x00180050, "DS"),
    "PixelSpacing": (0x00280030, "DS"), "ImagePositionPatient": (0x00200032, "DS"),
    "ImageOrientationPatient": (0x00200037, "DS"), "NumberOfFrames": (0x00280008, "IS"),
}
_DS_TEXT = st.sampled_from(["abc", "nan", "NaN", "inf", "-inf", "1e400", "-1e400", "0", "",
                            "1", "-1", "2.5", "1\\2", "1\\2\\3", "3e38", "1e-300",
                            "0\\0\\0\\0\\0\\0", "1\\0\\0\\0\\1\\0"])
_US = st.sampled_from([0, 1, 8, 12, 16, 32, 64, 3, 65535])


@pytest.fixture(scope="module")
def dicom_series(tmp_path_factory):
    from kypho.io import write_dicom_series

    folder = tmp_path_factory.mktemp("dicom") / "series"
    vol = Volume(np.arange(8 * 8 * 2, dtype=np.int16).reshape(8, 8, 2), np.eye(4))
    write_dicom_series(vol, folder)
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning")  # pydicom, on purpose
@FUZZ
@given(st.dictionaries(st.sampled_from(sorted(_TAGS)), _DS_TEXT | _US, max_size=4),
       st.booleans())
def test_dicom_tags(tmp_path, memory_limit, dicom_series, edits, only_first):
    import pydicom
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    from kypho.io import read_dicom_series

    folder = tmp_path / "s"
    folder.mkdir(exist_ok=True)
    for n, (name, blob) in enumerate(dicom_series.items()):
        ds = pydicom.dcmread(io.BytesIO(blob))
        if n == 0 or not only_first:
            for keyword, value in edits.items():
                tag, vr = _TAGS[keyword]
                if isinstance(value, int):
                    vr, raw = "US", struct.pack("<H", value)
                else:
                    raw = value.encode() + (b" " if len(value) % 2 else b"")
                ds._dict[Tag(tag)] = RawDataElement(Tag(tag), vr, len(raw), raw, 0, False, True)
        ds.save_as(folder / name)
    try:
        _assert_ct(read_dicom_series(folder).volume)
        event("DICOM read")
    except KyphoError as exc:
        event(f"DICOM refused: {type(exc).__name__}")


# -- JSON: case folders, truth, plan, after-care records --------------------------------------------

_json_leaf = (st.none() | st.booleans() | st.integers(-10**6, 10**6) |
              st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12) |
              st.sampled_from(["2026-11-22", "0001-01-01", "../x", "ct.nii.gz", "[/x]", "L1"]))
json_values = st.recursive(
    _json_leaf, lambda ch: st.lists(ch, max_size=4) | st.dictionaries(st.text(max_size=8), ch,
                                                                        max_size=4),
    max_leaves=12)


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*prefix, i))


@st.composite
def mutated(draw, base: dict):
    """``base`` with one node replaced by a random JSON value, deleted, or left as is."""
    doc = json.loads(json.dumps(base))
    paths = list(_paths(doc))
    path = draw(st.sampled_from(paths))
    action = draw(st.sampled_from(["replace", "replace", "delete", "keep"]))
    if not path or action == "keep":
        return draw(json_values) if path == () and action == "replace" else doc
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if action == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(json_values)
    return doc


def _text_variants(doc) -> st.SearchStrategy[bytes]:
    text = json.dumps(doc).encode()
    return st.sampled_from([text, text[: len(text) // 2], text.replace(b"1", b"1" * 60),
                            text.replace(b"0", b"NaN", 1), json.dumps(doc).encode("utf-16")])


_RECORD = {
    "format": "kypho-aftercare-patient/1",
    "patient": {"patient_id": "p1", "surgery": "2026-11-20", "discharge": "2026-11-21",
                "levels": ["L1"], "name": "", "on_pain_medication": None, "comfortable": True,
                "clearances": {"drive": "2026-12-01"}, "time_zone": "Europe/Berlin"},
    "protocol_path": None,
    "walks": [{"date": "2026-11-22", "minutes": 10.0, "distance_m": 400.0}],
    "answers": [{"time_point": "1w", "date": "2026-11-27", "scores": {"pain_nrs": 3.0}}],
}


@FUZZ
@given(mutated(_RECORD) | json_values, st.booleans())
def test_after_care_records(memory_limit, doc, as_variant):
    from kypho.aftercare.store import record_from_json, record_to_json

    texts = [json.dumps(doc)]
    if as_variant:
        texts.append(json.dumps(doc).replace("1", "1" * 50, 1))
    for text in texts:
        try:
            rec = record_from_json(text, source="r.json")
        except KyphoError:
            event("record refused")
            continue
        event("record read")
        again = record_from_json(record_to_json(rec))  # what is loaded can be written back
        assert again == rec
        assert all(w.on >= rec.patient.surgery for w in rec.walks)
        assert all(w.minutes is None or math.isfinite(w.minutes) for w in rec.walks)


@FUZZ
@given(st.binary(max_size=200) | _text_variants(_RECORD))
def test_after_care_record_bytes(tmp_path, memory_limit, blob):
    from kypho.aftercare import JsonPatientStore

    store = JsonPatientStore(tmp_path)
    (tmp_path / "p1.json").write_bytes(blob)
    try:
        store.load("p1")
    except KyphoError:
        assert (tmp_path / "p1.json").read_bytes() == blob


@pytest.fixture(scope="module")
def case_folder(tmp_path_factory):
    from kypho.core.truth import PhantomTruth
    from kypho.io import save_case

    truth = PhantomTruth(seed=1, spec={}, vertebrae=(), tissue_hu={"air": -1000.0})
    folder = tmp_path_factory.mktemp("case") / "c"
    save_case(Case(Volume(np.zeros((3, 3, 3), np.int16), np.eye(4)), name="c", truth=truth),
              folder)
    return folder


def _case_json(folder: Path) -> dict:
    return json.loads((folder / "case.json").read_text())


@FUZZ
@given(st.data())
def test_case_json(case_folder, memory_limit, data):
    from kypho.io import load_case

    base = _case_json(case_folder)
    doc = data.draw(mutated(base))
    original = (case_folder / "case.json").read_bytes()
    try:
        (case_folder / "case.json").write_text(json.dumps(doc))
        try:
            case = load_case(case_folder)
            assert isinstance(case.name, str) and isinstance(dict(case.metadata), dict)
            event("case read")
        except KyphoError:
            event("case refused")
    finally:
        (case_folder / "case.json").write_bytes(original)


@FUZZ
@given(st.data())
def test_truth_json(case_folder, memory_limit, data):
    from kypho.core.truth import PhantomTruth

    path = case_folder / "truth.json"
    base = json.loads(path.read_text())
    base["vertebrae"] = [_VERTEBRA]
    doc = data.draw(mutated(base) | json_values)
    tmp = case_folder.parent / "t.json"
    tmp.write_text(json.dumps(doc))
    try:
        truth = PhantomTruth.read(tmp)
        assert isinstance(truth.seed, int)
    except KyphoError:
        pass


_VEC = [1.0, 2.0, 3.0]
_VERTEBRA = {
    "level": "L1", "label_id": 20, "centroid_ras_mm": _VEC, "superior_axis_ras": _VEC,
    "anterior_axis_ras": _VEC, "landmarks_ras_mm": {"sa": _VEC}, "height_anterior_mm": 1.0,
    "height_middle_mm": 1.0, "height_posterior_mm": 1.0, "normal_height_anterior_mm": 1.0,
    "normal_height_middle_mm": 1.0, "normal_height_posterior_mm": 1.0, "body_width_mm": 1.0,
    "body_depth_mm": 1.0, "wedge_angle_deg": 0.0, "fracture_type": "none", "genant_grade": 0,
    "height_loss_pct": 0.0, "trabecular_hu": 200.0, "retropulsion_mm": 0.0,
    "pedicles": [{"side": "left", "isthmus_ras_mm": _VEC, "axis_ras": _VEC, "width_mm": 8.0,
                  "height_mm": 14.0, "transverse_angle_deg": 3.0, "sagittal_angle_deg": 4.0}],
    "cortical_breaks": [{"location": "posterior_wall", "centre_ras_mm": _VEC,
                         "radius_mm": 2.0}],
}
_PLAN = {
    "format": "kypho-plan/1",
    "plans": [{"level": "L1", "paths": [{
        "level": "L1", "side": "left", "approach": "transpedicular", "gauge": 11,
        "entry_ras_mm": [10.0, -30.0, 5.0], "target_ras_mm": [2.0, 5.0, 5.0],
        "skin_ras_mm": None, "transverse_angle_deg": 12.0, "sagittal_angle_deg": 3.0,
        "margins_mm": {"medial_wall_mm": 1.5, "lateral_wall_mm": None, "inferior_wall_mm": 2.0,
                       "superior_wall_mm": 2.0, "canal_mm": 3.0,
                       "tip_to_anterior_cortex_mm": 5.0, "min_bone_mm": 1.0},
        "breaches": [{"wall": "medial", "depth_mm": 3.0, "point_ras_mm": [1.0, 2.0, 3.0],
                      "depth_beyond_mm": 0.5}],
        "verdict": "safe", "reasons": ["ok"], "score": 1.5}]}],
}


@FUZZ
@given(mutated(_PLAN) | json_values)
def test_plan_json(tmp_path, memory_limit, doc):
    from kypho.plan.markups import read_plan_json

    path = tmp_path / "plan.json"
    path.write_text(json.dumps(doc))
    try:
        paths = read_plan_json(path)
    except KyphoError:
        event("plan refused")
        return
    event("plan read")
    for p in paths:
        assert len(p.entry_ras_mm) == 3 and all(math.isfinite(x) for x in p.target_ras_mm)


def test_the_fuzz_bases_are_valid(tmp_path, case_folder):
    """The documents mutated above are themselves accepted (else the fuzzing tests nothing)."""
    from kypho.aftercare.store import record_from_json
    from kypho.core.truth import PhantomTruth
    from kypho.io import load_case
    from kypho.plan.markups import read_plan_json

    assert record_from_json(json.dumps(_RECORD)).walks[0].distance_m == 400.0
    assert load_case(case_folder).name == "c"
    (tmp_path / "plan.json").write_text(json.dumps(_PLAN))
    assert read_plan_json(tmp_path / "plan.json")[0].gauge == 11
    truth = json.loads((case_folder / "truth.json").read_text())
    truth["vertebrae"] = [_VERTEBRA]
    (tmp_path / "t.json").write_text(json.dumps(truth))
    assert PhantomTruth.read(tmp_path / "t.json").vertebrae[0].level == "L1"


# -- parameters and protocols ---------------------------------------------------------------------

_number_text = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"[+-]?[0-9０-９٠-٩]{0,12}(\.[0-9]{0,6})?([eE][+-]?[0-9]{1,12})?",
                  fullmatch=True),
    st.sampled_from(["1e999999999", "1e-999999999", "nan", "inf", "9" * 5000, "١٥", "１５"]),
)


@FUZZ
@given(_number_text, st.sampled_from(["lb", "kg", "h", "min", "km", "mi", "m", "ｋｇ", "parsec"]))
def test_quantities(memory_limit, number, unit):
    from kypho.aftercare.units import parse_quantity

    try:
        q = parse_quantity(number + unit)
    except KyphoError:
        return
    assert q.value >= 0 and math.isfinite(float(q.base))


@FUZZ
@given(_number_text)
def test_parameters(memory_limit, text):
    from kypho.core.params import parse_date, parse_float, parse_int, parse_point

    for fn, args in ((parse_float, ("--x", 0, 100)), (parse_int, ("--n", 0, 100)),
                     (parse_date, ("--d",)), (parse_point, ("--p", 1000))):
        try:
            value = fn(text, *args)
        except KyphoError:
            continue
        if fn is parse_float:
            assert 0 <= value <= 100


@FUZZ
@given(st.data())
def test_protocol_numbers(memory_limit, data):
    import re

    from kypho.aftercare import default_protocol_text, parse_protocol

    text = default_protocol_text()
    numbers = [m.span() for m in re.finditer(r"(?<=[=\[, ])\d+(\.\d+)?(?=[\],\s])", text)]
    assume(numbers)
    start, end = data.draw(st.sampled_from(numbers))
    new = data.draw(st.sampled_from(["nan", "inf", "-inf", "1e308", "-5", "0", "9" * 30, '"x"',
                                     "[1, 2, 3]", "{}", "true", "1e-300"]))
    try:
        parse_protocol(text[:start] + new + text[end:])
    except KyphoError:
        pass
