"""The regression corpus of issue 19: concrete bad inputs, each run through the ``kypho`` CLI.

Every case builds its files in a fresh folder and names the command to run.  Outcomes are judged
by :func:`classify`:

- ``clean error``: exit code 2 and exactly one line on stderr starting with ``error:``;
- ``ok``: the command succeeded as the case expects (and its check passed);
- ``traceback``: a Python traceback, or an exit code the case does not allow;
- ``not one line``: exit code 2 but more than the one ``error:`` line (warnings, a trace);
- ``accepted``: bad input accepted (exit 0, 1, 3 or 4 where an error was due);
- ``hang``: still running at the case's time limit;
- ``memory``: the command ran out of the address-space limit (MemoryError or killed);
- ``data loss``: a record or case was lost, overwritten or left half-written (case check);
- ``wrong``: a result that is not the correct one (case check).

The same corpus gives the before/after counts of ``docs/hardening.md`` (``python
tests/hardening/measure.py``) and the regression tests (``test_corpus.py``).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "CASES",
    "MEM_LIMIT_BYTES",
    "RECORD",
    "TIMEOUT_S",
    "Case",
    "classify",
]

#: Address-space limit of each command (test choice: far above what a command on these small
#: files needs, far below what an unchecked allocation from a hostile header would take).
MEM_LIMIT_BYTES = 3 << 29  # 1.5 GiB
#: Time limit of each command, seconds (test choice: the slowest legitimate case takes ~1 s on
#: a CI core; a hang is anything that reaches this).
TIMEOUT_S = 20.0

SURGERY, DISCHARGE, TODAY = "2026-11-20", "2026-11-21", "2026-11-25"

#: A valid after-care record in the stored format (``kypho-aftercare-patient/1``).
RECORD = {
    "format": "kypho-aftercare-patient/1",
    "patient": {
        "patient_id": "p1", "surgery": SURGERY, "discharge": DISCHARGE, "levels": ["L1"],
        "name": "", "on_pain_medication": None, "comfortable": None, "clearances": {},
        "time_zone": "Europe/Berlin",
    },
    "protocol_path": None,
    "walks": [{"date": "2026-11-22", "minutes": 10.0, "distance_m": None}],
    "answers": [],
}  # fmt: skip

Check = Callable[[Path, list[dict]], str | None]


@dataclass
class Case:
    """One corpus entry: ``build(folder)`` writes the files and returns the CLI arguments."""

    id: str
    build: Callable[[Path], list[str]]
    expect: str = "error"  # "error", "ok" (exit 0) or "exit:N[,M...]" (allowed exit codes)
    check: Check | None = None
    parallel: int = 1
    env: dict[str, str] = field(default_factory=dict)
    message: str | None = None  # regex the error line must match (a clean error otherwise fails)


# ------------------------------------------------------------------------------------------------
# Outcome


def classify(case: Case, folder: Path, runs: list[dict]) -> str:
    """The outcome of a case (see the module docstring)."""
    for r in runs:
        if r["timed_out"]:
            return "hang"
    for r in runs:
        err = r["stderr"]
        if "MemoryError" in err or "Cannot allocate memory" in err or r["signal"] is not None:
            return "memory"
        if "Traceback (most recent call last)" in err:
            return "traceback"
    if case.check is not None:
        problem = case.check(folder, runs)
        if problem:
            return problem
    for r in runs:
        rc, err = r["rc"], r["stderr"].strip()
        if case.expect == "error":
            if rc == 2:
                lines = err.splitlines()
                if len(lines) != 1 or not lines[0].startswith("error:"):
                    return "not one line"
                if case.message and not re.search(case.message, lines[0]):
                    return "wrong"
                continue
            return "accepted" if rc in (0, 1, 3, 4) else "traceback"
        allowed = (0,) if case.expect == "ok" else tuple(
            int(x) for x in case.expect.split(":", 1)[1].split(","))
        if rc not in allowed:
            return "traceback" if rc not in (0, 1, 2, 3, 4) else "wrong"
    return "clean error" if case.expect == "error" else "ok"


# ------------------------------------------------------------------------------------------------
# Builders: NIfTI


def _nifti1_bytes(shape=(4, 4, 4), dtype=np.int16, slope=None, inter=None) -> bytearray:
    import nibabel as nib

    data = (np.arange(int(np.prod(shape))) % 200 - 50).astype(dtype).reshape(shape)
    img = nib.Nifti1Image(data, np.diag([1.0, 1.0, 1.0, 1.0]))
    img.header.set_xyzt_units("mm")
    raw = bytearray(img.to_bytes())
    if slope is not None:
        struct.pack_into("<f", raw, 112, slope)
    if inter is not None:
        struct.pack_into("<f", raw, 116, inter)
    return raw


def _claim_dims(raw: bytearray, dims: tuple[int, int, int]) -> bytearray:
    struct.pack_into("<8h", raw, 40, 3, *dims, 1, 1, 1, 1)
    return raw


def _nii(name: str, raw: bytes | bytearray, *, gz: bool = False, cmd=("info",)) -> Callable:
    def build(d: Path) -> list[str]:
        p = d / name
        p.write_bytes(gzip.compress(bytes(raw)) if gz else bytes(raw))
        return [*cmd, str(p)]

    return build


def _nii_huge_claim_small_file(d: Path) -> list[str]:
    raw = _claim_dims(_nifti1_bytes(), (1000, 1000, 1500))[:1300]
    (d / "big.nii").write_bytes(bytes(raw))
    return ["info", str(d / "big.nii")]


def _niigz_71_bytes(d: Path) -> list[str]:
    raw = _claim_dims(_nifti1_bytes(), (1000, 1000, 1500))[:352]
    (d / "big.nii.gz").write_bytes(gzip.compress(bytes(raw), 9))
    return ["info", str(d / "big.nii.gz")]


def _zeros_members(total: int, member: int = 64 << 20) -> bytes:
    """A gzip stream of ``total`` zero bytes made of repeated members (cheap to build)."""
    one = gzip.compress(bytes(member), 1)
    return one * (total // member)


def _niigz_bomb_claimed(d: Path) -> list[str]:
    """A 2 MB .nii.gz whose header claims, and whose stream holds, 2 GiB of voxels."""
    raw = _claim_dims(_nifti1_bytes(), (1024, 1024, 1024))[:352]
    (d / "bomb.nii.gz").write_bytes(gzip.compress(bytes(raw)) + _zeros_members(2 << 30))
    return ["info", str(d / "bomb.nii.gz")]


def _niigz_bomb_trailing(d: Path) -> list[str]:
    """A small valid image followed by 2 GiB of zeros in the same gzip stream."""
    raw = _nifti1_bytes()
    (d / "tail.nii.gz").write_bytes(gzip.compress(bytes(raw)) + _zeros_members(2 << 30))
    return ["info", str(d / "tail.nii.gz")]


def _nifti2_huge(d: Path) -> list[str]:
    import nibabel as nib

    img = nib.Nifti2Image(np.zeros((2, 2, 2), np.int16), np.eye(4))
    raw = bytearray(img.to_bytes())
    struct.pack_into("<8q", raw, 16, 3, 1 << 20, 1 << 20, 1 << 12, 1, 1, 1, 1)
    (d / "n2.nii").write_bytes(bytes(raw))
    return ["info", str(d / "n2.nii")]


def _nifti_float_nan(d: Path) -> list[str]:
    import nibabel as nib

    data = np.zeros((4, 4, 4), np.float32)
    data[1, 1, 1] = np.nan
    nib.save(nib.Nifti1Image(data, np.eye(4)), d / "nan.nii")
    return ["info", str(d / "nan.nii")]


def _niigz_truncated(d: Path) -> list[str]:
    full = gzip.compress(bytes(_nifti1_bytes((20, 20, 20))))
    (d / "cut.nii.gz").write_bytes(full[: len(full) // 2])
    return ["info", str(d / "cut.nii.gz")]


def _fifo(name: str, cmd=("info",)) -> Callable:
    def build(d: Path) -> list[str]:
        os.mkfifo(d / name)
        return [*cmd, str(d / name)]

    return build


def _device_named(name: str) -> Callable:
    def build(d: Path) -> list[str]:
        os.symlink("/dev/zero", d / name)
        return ["info", str(d / name)]

    return build


def _ct_and_labels(label_data: np.ndarray, fmt: str) -> Callable:
    def build(d: Path) -> list[str]:
        import nibabel as nib

        ct = np.zeros(label_data.shape, np.int16)
        nib.save(nib.Nifti1Image(ct, np.eye(4)), d / "ct.nii")
        if fmt == "nifti":
            nib.save(nib.Nifti1Image(label_data, np.eye(4), dtype=label_data.dtype), d / "lab.nii")
            lab = d / "lab.nii"
        else:
            lab = d / "lab.nrrd"
            _nrrd_file(lab, label_data, space="right-anterior-superior")
        return ["info", str(d / "ct.nii"), "--labels", str(lab)]

    return build


# ------------------------------------------------------------------------------------------------
# Builders: NRRD

_NRRD_TYPES = {np.dtype(np.int16): "int16", np.dtype(np.int64): "int64",
               np.dtype(np.float64): "double", np.dtype(np.float32): "float",
               np.dtype(np.uint8): "uint8"}


def _nrrd_header(data_shape, dtype, *, space="left-posterior-superior", extra=(),
                 encoding="raw") -> list[str]:
    return [
        "NRRD0004", f"type: {_NRRD_TYPES[np.dtype(dtype)]}", "dimension: 3", f"space: {space}",
        "sizes: " + " ".join(str(n) for n in data_shape),
        "space directions: (1,0,0) (0,1,0) (0,0,1)", "kinds: domain domain domain",
        "endian: little", f"encoding: {encoding}", "space origin: (0,0,0)", *extra,
    ]


def _nrrd_file(path: Path, data: np.ndarray, *, space="left-posterior-superior", extra=()):
    header = _nrrd_header(data.shape, data.dtype, space=space, extra=extra)
    payload = np.asarray(data).astype(np.asarray(data).dtype.newbyteorder("<")).tobytes("F")
    path.write_bytes(("\n".join(header) + "\n\n").encode() + payload)
    return path


def _nhdr_with_data_file(target: str, *, make: Callable[[Path], None] | None = None) -> Callable:
    def build(d: Path) -> list[str]:
        sub = d / "case"
        sub.mkdir()
        if make is not None:
            make(d)
        header = _nrrd_header((4, 4, 4), np.int16, extra=(f"data file: {target}",))
        (sub / "x.nhdr").write_text("\n".join(header) + "\n")
        return ["info", str(sub / "x.nhdr")]

    return build


def _outside_secret(d: Path) -> None:
    (d / "secret.raw").write_bytes(b"S" * 128)


def _symlink_out(d: Path) -> None:
    _outside_secret(d)
    os.symlink(d / "secret.raw", d / "case" / "link.raw")


def _fifo_data(d: Path) -> None:
    os.mkfifo(d / "case" / "pipe.raw")


def _nrrd_text(name: str, text: bytes) -> Callable:
    def build(d: Path) -> list[str]:
        (d / name).write_bytes(text)
        return ["info", str(d / name)]

    return build


def _nrrd_line_skip(d: Path) -> list[str]:
    header = _nrrd_header((4, 4, 4), np.int16, extra=("line skip: 999999999",))
    payload = np.zeros((4, 4, 4), "<i2").tobytes()
    (d / "skip.nrrd").write_bytes(("\n".join(header) + "\n\n").encode() + payload)
    return ["info", str(d / "skip.nrrd")]


def _nrrd_byte_skip(d: Path) -> list[str]:
    header = _nrrd_header((4, 4, 4), np.int16, extra=("byte skip: 999999999999",))
    (d / "bskip.nrrd").write_bytes(("\n".join(header) + "\n\n").encode() + bytes(128))
    return ["info", str(d / "bskip.nrrd")]


def _nrrd_huge_sizes(d: Path) -> list[str]:
    header = _nrrd_header((100000, 100000, 100000), np.int16)
    (d / "huge.nrrd").write_bytes(("\n".join(header) + "\n\n").encode() + bytes(64))
    return ["info", str(d / "huge.nrrd")]


def _nrrd_gzip_bomb(d: Path) -> list[str]:
    header = _nrrd_header((4, 4, 4), np.int16, encoding="gzip")
    (d / "gz.nrrd").write_bytes(("\n".join(header) + "\n\n").encode() + _zeros_members(2 << 30))
    return ["info", str(d / "gz.nrrd")]


# ------------------------------------------------------------------------------------------------
# Builders: DICOM


def _dicom(edit: Callable[[object, int], None], n: int = 3) -> Callable:
    """A small CT series written by kypho, then each slice edited with pydicom."""

    def build(d: Path) -> list[str]:
        import pydicom
        from pydicom import config

        from kypho.core import Volume
        from kypho.io import write_dicom_series

        vol = Volume(np.full((32, 32, n), 40, np.int16), np.diag([0.8, 0.8, 2.0, 1.0]))
        folder = write_dicom_series(vol, d / "series")
        old = config.settings.writing_validation_mode
        config.settings.writing_validation_mode = config.IGNORE
        try:
            for k, f in enumerate(sorted(folder.iterdir())):
                ds = pydicom.dcmread(f)
                edit(ds, k)
                ds.save_as(f)
        finally:
            config.settings.writing_validation_mode = old
        return ["info", str(folder)]

    return build


def _set(keyword: str, value: object) -> Callable[[object, int], None]:
    def edit(ds, k):
        setattr(ds, keyword, value)

    return edit


def _delete(keyword: str) -> Callable[[object, int], None]:
    def edit(ds, k):
        delattr(ds, keyword)

    return edit


def _raw_ds(tag: int, value: bytes) -> Callable[[object, int], None]:
    """Store ``value`` undecoded in a DS/IS element (what a broken writer leaves)."""

    def edit(ds, k):
        from pydicom.dataelem import RawDataElement
        from pydicom.tag import Tag

        vr = ds[tag].VR if tag in ds else "DS"
        ds._dict[Tag(tag)] = RawDataElement(Tag(tag), vr, len(value), value, 0, False, True)

    return edit


# ------------------------------------------------------------------------------------------------
# Builders: case folders


def _case_folder(edit: Callable[[dict, Path], object]) -> Callable:
    def build(d: Path) -> list[str]:
        from kypho.core import Volume
        from kypho.io import save_case
        from kypho.io.load import Case

        folder = d / "case"
        save_case(Case(Volume(np.zeros((4, 4, 4), np.int16), np.eye(4)), name="c"), folder)
        doc = json.loads((folder / "case.json").read_text())
        new = edit(doc, folder)
        if new is not None:
            data = new if isinstance(new, bytes) else json.dumps(new).encode()
            (folder / "case.json").write_bytes(data)
        return ["info", str(folder)]

    return build


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _deep_case(doc, folder):
    return ('{"kypho_case": 1, "files": {"ct": "ct.nii.gz"}, "metadata": {"x": '
            + _nested(100000) + "}}").encode()


def _with(path: str, value) -> Callable[[dict, Path], dict]:
    def edit(doc, folder):
        keys = path.split(".")
        node = doc
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
        return doc

    return edit


def _big_int_case(doc, folder):
    return json.dumps({**doc, "format": "@"}).replace('"@"', "9" * 5000).encode()


def _truth(text: bytes) -> Callable[[dict, Path], dict]:
    def edit(doc, folder):
        doc["files"]["truth"] = "truth.json"
        (folder / "truth.json").write_bytes(text)
        return doc

    return edit


def _fifo_case_json(doc, folder):
    (folder / "case.json").unlink()
    os.mkfifo(folder / "case.json")
    return None


def _print_name(name: str, *, check_out: Callable[[str], bool]) -> Case:
    def check(folder: Path, runs: list[dict]) -> str | None:
        return None if check_out(runs[0]["stdout"]) else "wrong"

    return Case(f"case name {name!r} is printed as text", _case_folder(_with("name", name)),
                expect="ok", check=check)


# ------------------------------------------------------------------------------------------------
# Builders: after-care records


def _store_env(d: Path) -> dict[str, str]:
    return {"KYPHO_AFTERCARE_STORE": str(d / "records")}


def _record(text: bytes | str | dict, args: list[str], *, name: str = "p1") -> Callable:
    def build(d: Path) -> list[str]:
        folder = d / "records"
        folder.mkdir(exist_ok=True)
        data = text
        if isinstance(data, dict):
            data = json.dumps(data)
        if isinstance(data, str):
            data = data.encode("utf-8")
        (folder / f"{name}.json").write_bytes(data)
        (d / "before.bin").write_bytes(data)
        return [a.replace("{d}", str(d)) for a in args]

    return build


def _untouched(name: str = "p1") -> Check:
    def check(folder: Path, runs: list[dict]) -> str | None:
        now = (folder / "records" / f"{name}.json").read_bytes()
        return None if now == (folder / "before.bin").read_bytes() else "data loss"

    return check


def _rec(**changes) -> dict:
    doc = json.loads(json.dumps(RECORD))
    for key, value in changes.items():
        node = doc
        keys = key.split("__")
        for k in keys[:-1]:
            node = node[int(k)] if k.isdigit() else node[k]
        last = keys[-1]
        node[int(last) if last.isdigit() else last] = value
    return doc


_T = ["--today", TODAY]
_STATUS = ["aftercare", "status", "--patient", "p1", *_T]
_WALK = ["aftercare", "log-walk", "--patient", "p1", "--minutes", "12", *_T]


def _walks_kept(n: int) -> Check:
    def check(folder: Path, runs: list[dict]) -> str | None:
        doc = json.loads((folder / "records" / "p1.json").read_text())
        if any(r["rc"] != 0 for r in runs):
            return None  # judged by the exit codes
        return None if len(doc["walks"]) == n + 1 else "data loss"

    return check


def _copied_record(d: Path) -> list[str]:
    folder = d / "records"
    folder.mkdir()
    text = json.dumps(RECORD).encode()
    (folder / "p1.json").write_bytes(text)
    (folder / "COPY.json").write_bytes(text)
    (d / "before.bin").write_bytes(text)
    return ["aftercare", "log-walk", "--patient", "COPY", "--minutes", "5", *_T]


def _both_untouched(folder: Path, runs: list[dict]) -> str | None:
    before = (folder / "before.bin").read_bytes()
    for name in ("p1.json", "COPY.json"):
        if (folder / "records" / name).read_bytes() != before:
            return "data loss"
    return None


def _same_answer_as(reference: list[str]) -> Check:
    """The answer equals the one for ``reference`` (computed in-process with the library)."""

    def check(folder: Path, runs: list[dict]) -> str | None:
        from datetime import date

        from kypho.aftercare import Patient, Request, check, load_protocol, make_plan

        pat = Patient("patient", date.fromisoformat(SURGERY), date.fromisoformat(DISCHARGE))
        plan = make_plan(pat, load_protocol(), today=date.fromisoformat(TODAY))
        kind, amount = reference
        want = check(plan, getattr(Request, kind)(amount), date.fromisoformat(TODAY))
        return None if runs[0]["rc"] == want.exit_code else "wrong"

    return check


def _toml(text: bytes) -> Callable:
    def build(d: Path) -> list[str]:
        (d / "p.toml").write_bytes(text)
        return ["aftercare", "validate", str(d / "p.toml")]

    return build


def _plan_args(*extra: str) -> Callable:
    def build(d: Path) -> list[str]:
        return ["aftercare", "plan", "--surgery", SURGERY, "--discharge", DISCHARGE,
                "-o", str(d / "out"), *_T, *extra]

    return build


def _plan_out_is_file(d: Path) -> list[str]:
    (d / "out").write_text("keep me")
    return ["aftercare", "plan", "--surgery", SURGERY, "--discharge", DISCHARGE, "-o",
            str(d / "out"), *_T]


def _cli(*args: str) -> Callable:
    def build(d: Path) -> list[str]:
        return [a.replace("{d}", str(d)) for a in args]

    return build


_CHECK = ["aftercare", "check", "--surgery", SURGERY, "--discharge", DISCHARGE, *_T]

def _phantom_folder(d: Path) -> Path:
    """A small phantom case folder (2 mm voxels, T12-L2, fractured L1) for the stage commands."""
    from kypho.io import save_case
    from kypho.phantom import FractureSpec, PhantomSpec, make_phantom

    case = make_phantom(PhantomSpec(first_level="T12", last_level="L2", voxel_mm=2.0,
                                    soft_tissue=False,
                                    fractures=(FractureSpec("L1", "wedge", grade=2),)))
    return save_case(case, d / "case")


def _stage(*args: str, out_file: bool = False) -> Callable:
    """A stage command on :func:`_phantom_folder`; with ``out_file`` its ``-o`` names a file."""

    def build(d: Path) -> list[str]:
        folder = _phantom_folder(d)
        if out_file:
            (d / "out").write_text("keep me")
        return [a.replace("{case}", str(folder)).replace("{d}", str(d)) for a in args]

    return build


def _kept(f: Path, runs: list[dict]) -> str | None:
    return "data loss" if (f / "out").read_text() != "keep me" else None


# ------------------------------------------------------------------------------------------------
# The corpus

_ISSUE_ANSI = "case\x1b[31mRED\x1b[0m"

CASES: list[Case] = [
    # --- NIfTI ---------------------------------------------------------------------------------
    Case("nii 1.3 kB claiming 1000x1000x1500 int16", _nii_huge_claim_small_file),
    Case("nii.gz 71 bytes claiming 1000x1000x1500 int16", _niigz_71_bytes),
    Case("nii.gz of 2 MB expanding to 2 GiB of voxels", _niigz_bomb_claimed,
         message=r"voxels|budget"),
    Case("nii.gz small image followed by 2 GiB of zeros", _niigz_bomb_trailing),
    Case("NIfTI-2 claiming 2**52 voxels", _nifti2_huge, message=r"budget"),
    Case("nii scl_slope 3e38", _nii("s.nii", _nifti1_bytes(slope=3e38))),
    Case("nii scl_slope inf", _nii("s.nii", _nifti1_bytes(slope=float("inf")))),
    Case("nii scl_slope -inf", _nii("s.nii", _nifti1_bytes(slope=float("-inf")))),
    Case("nii scl_inter nan with slope 2", _nii("s.nii", _nifti1_bytes(slope=2.0,
                                                                         inter=float("nan")))),
    Case("nii scl_inter inf with slope 1", _nii("s.nii", _nifti1_bytes(slope=1.0,
                                                                         inter=float("inf")))),
    Case("nii scl_slope nan means unscaled", _nii("s.nii", _nifti1_bytes(slope=float("nan"))),
         expect="ok"),
    Case("nii scl_slope 0 means unscaled", _nii("s.nii", _nifti1_bytes(slope=0.0)),
         expect="ok"),
    Case("nii float voxels with NaN", _nifti_float_nan),
    Case("nii.gz truncated", _niigz_truncated),
    Case("nii path is a FIFO", _fifo("pipe.nii")),
    Case("nii.gz path is a FIFO", _fifo("pipe.nii.gz")),
    Case("nii path is a character device", _device_named("zero.nii")),
    Case("nii labels with id 3e9", _ct_and_labels(np.full((4, 4, 4), 3e9, np.float64),
                                                   "nifti")),
    Case("nii labels with id 2**40", _ct_and_labels(np.full((4, 4, 4), 1 << 40, np.int64),
                                                     "nifti")),
    Case("nii binary garbage", _nii("g.nii", os.urandom(2000))),
    # --- NRRD ----------------------------------------------------------------------------------
    Case("nrrd empty file", _nrrd_text("e.nrrd", b"")),
    Case("nrrd only a magic line", _nrrd_text("m.nrrd", b"NRRD0004")),
    Case("nrrd binary garbage", _nrrd_text("g.nrrd", b"NRRD0004\n" + bytes(range(256)) * 8)),
    Case("nrrd data file ../../../../etc/passwd", _nhdr_with_data_file("../../../../etc/passwd")),
    Case("nrrd data file ../secret.raw", _nhdr_with_data_file("../secret.raw",
                                                              make=_outside_secret)),
    Case("nrrd data file absolute /etc/passwd", _nhdr_with_data_file("/etc/passwd")),
    Case("nrrd data file symlink out of the folder", _nhdr_with_data_file("link.raw",
                                                                          make=_symlink_out)),
    Case("nrrd data file is a FIFO", _nhdr_with_data_file("pipe.raw", make=_fifo_data)),
    Case("nrrd data file is /dev/zero", _nhdr_with_data_file("/dev/zero")),
    Case("nrrd data file LIST", _nhdr_with_data_file("LIST")),
    Case("nrrd data file missing", _nhdr_with_data_file("gone.raw")),
    Case("nrrd line skip 999999999", _nrrd_line_skip),
    Case("nrrd byte skip 999999999999", _nrrd_byte_skip),
    Case("nrrd sizes 100000^3 in a tiny file", _nrrd_huge_sizes),
    Case("nrrd gzip data expanding to 2 GiB", _nrrd_gzip_bomb),
    Case("nrrd labels with id 2**40", _ct_and_labels(np.full((4, 4, 4), 1 << 40, np.int64),
                                                      "nrrd")),
    Case("nrrd labels with id 3e9", _ct_and_labels(np.full((4, 4, 4), 3e9, np.float64), "nrrd")),
    Case("nrrd path is a FIFO", _fifo("pipe.nrrd")),
    Case("nrrd sizes 99999999999999999999", _nrrd_text(
        "s.nrrd", b"NRRD0004\ntype: int16\ndimension: 3\nsizes: 99999999999999999999 2 2\n"
                  b"encoding: raw\nendian: little\nspace: RAS\n"
                  b"space directions: (1,0,0) (0,1,0) (0,0,1)\n\n")),
    Case("nrrd dimension with 5000 digits", _nrrd_text(
        "s.nrrd", b"NRRD0004\ntype: int16\ndimension: " + b"9" * 5000 + b"\n\n")),
    # --- DICOM ---------------------------------------------------------------------------------
    Case("dicom missing Columns", _dicom(_delete("Columns"))),
    Case("dicom missing Rows", _dicom(_delete("Rows"))),
    Case("dicom KVP 'abc'", _dicom(_raw_ds(0x00180060, b"abc "))),
    Case("dicom RescaleSlope 'abc'", _dicom(_raw_ds(0x00281053, b"abc "))),
    Case("dicom RescaleSlope NaN", _dicom(_raw_ds(0x00281053, b"NaN "))),
    Case("dicom RescaleSlope 1e400", _dicom(_raw_ds(0x00281053, b"1e400 "))),
    Case("dicom RescaleSlope 0", _dicom(_raw_ds(0x00281053, b"0 "))),
    Case("dicom RescaleIntercept 'nan'", _dicom(_raw_ds(0x00281052, b"nan "))),
    Case("dicom SliceThickness 'x' on one slice", _dicom(_raw_ds(0x00180050, b"x "), n=1)),
    Case("dicom SliceThickness 'x' in a series", _dicom(_raw_ds(0x00180050, b"x "))),
    Case("dicom Rows=Columns=65535 for 32x32 data", _dicom(
        lambda ds, k: (setattr(ds, "Rows", 65535), setattr(ds, "Columns", 65535)))),
    Case("dicom Rows 0", _dicom(_set("Rows", 0))),
    Case("dicom NumberOfFrames 'abc'", _dicom(_raw_ds(0x00280008, b"abc "))),
    Case("dicom PixelSpacing 'a\\b'", _dicom(_raw_ds(0x00280030, b"a\\b "))),
    Case("dicom BitsAllocated 12", _dicom(_set("BitsAllocated", 12))),
    # --- case folders --------------------------------------------------------------------------
    Case("case.json nested 100000 deep", _case_folder(_deep_case)),
    Case("case.json files.ct = null", _case_folder(_with("files.ct", None)),
         message=r"files\.ct"),
    Case("case.json files.ct = 5", _case_folder(_with("files.ct", 5)), message=r"files\.ct"),
    Case("case.json files = []", _case_folder(_with("files", []))),
    Case("case.json metadata is a list", _case_folder(_with("metadata", [1, 2])),
         message=r"metadata"),
    Case("case.json metadata is a string", _case_folder(_with("metadata", "x"))),
    Case("case.json name is a list", _case_folder(_with("name", ["x"]))),
    Case("case.json format = true", _case_folder(_with("format", True))),
    Case("case.json legacy kypho_case = true", _case_folder(
        lambda doc, f: {**{k: v for k, v in doc.items() if k != "format"},
                        "kypho_case": True})),
    Case("case.json 5000-digit integer", _case_folder(_big_int_case)),
    Case("case.json UTF-16", _case_folder(
        lambda doc, f: json.dumps(doc).encode("utf-16"))),
    Case("case.json binary garbage", _case_folder(lambda doc, f: bytes(range(256)) * 4)),
    Case("case.json is a FIFO", _case_folder(_fifo_case_json)),
    Case("case.json files.ct is '../x'", _case_folder(_with("files.ct", "../x.nii.gz"))),
    Case("truth.json nested 100000 deep", _case_folder(_truth(_nested(100000).encode()))),
    Case("truth.json wrong types", _case_folder(_truth(b'{"seed": "x", "spec": 3, '
                                                      b'"vertebrae": {"a": 1}}'))),
    Case("truth.json vertebrae items of the wrong type", _case_folder(_truth(
        b'{"seed": 1, "spec": {}, "vertebrae": [1, 2]}'))),
    Case("truth.json 5000-digit number", _case_folder(_truth(
        b'{"seed": ' + b"7" * 5000 + b', "spec": {}, "vertebrae": []}'))),
    _print_name("[/x]", check_out=lambda out: "[/x]" in out),
    _print_name("a[/]b[bold]c", check_out=lambda out: "a[/]b[bold]c" in out),
    _print_name(_ISSUE_ANSI, check_out=lambda out: "\x1b" not in out and "RED" in out),
    Case("missing file named [/]", _cli("info", "{d}/no[/]such.nii")),
    Case("missing file named [/x] with an ANSI escape", _cli("info", "{d}/x[/x]\x1b[2J.nii"),
         check=lambda f, runs: "wrong" if "\x1b" in runs[0]["stderr"] else None),
    # --- after-care store ----------------------------------------------------------------------
    Case("record binary garbage (status)", _record(os.urandom(300), _STATUS),
         check=_untouched(), env={}),
    Case("record binary garbage (log-walk)", _record(bytes(range(256)), _WALK),
         check=_untouched()),
    Case("record UTF-16", _record(json.dumps(RECORD).encode("utf-16"), _WALK),
         check=_untouched()),
    Case("record protocol_path is an int", _record(_rec(protocol_path=5), _WALK),
         check=_untouched()),
    Case("record nested 100000 deep", _record(_nested(100000), _STATUS), check=_untouched()),
    Case("record nested in a field", _record(
        json.dumps(RECORD).replace('"answers": []', '"answers": ' + _nested(50000)), _WALK),
         check=_untouched()),
    Case("record 5000-digit number", _record(
        json.dumps(RECORD).replace('"minutes": 10.0', '"minutes": ' + "9" * 5000), _WALK),
         check=_untouched()),
    Case("record minutes: true", _record(_rec(walks__0__minutes=True), _WALK),
         check=_untouched()),
    Case("record distance_m: Infinity", _record(
        json.dumps(_rec(walks__0__distance_m=float("inf"))), _WALK), check=_untouched()),
    Case("record distance_m: NaN", _record(
        json.dumps(_rec(walks__0__distance_m=float("nan"))), _STATUS), check=_untouched()),
    Case("record walk before surgery", _record(_rec(walks__0__date="2026-01-01"), _WALK),
         check=_untouched()),
    Case("record on_pain_medication 'yes'", _record(_rec(patient__on_pain_medication="yes"),
                                                   _WALK), check=_untouched()),
    Case("record surgery 0001-01-01", _record(_rec(patient__surgery="0001-01-01",
                                                   patient__discharge="0001-01-02",
                                                   walks=[]), _STATUS), check=_untouched()),
    Case("record walks is an object", _record(_rec(walks={"a": 1}), _WALK), check=_untouched()),
    Case("record scores hold a string", _record(_rec(answers=[
        {"time_point": "1w", "date": "2026-11-24", "scores": {"pain_nrs": "3"}}]), _WALK),
         check=_untouched()),
    Case("record clearance date garbage", _record(_rec(patient__clearances={"drive": 5}),
                                                  _WALK), check=_untouched()),
    Case("record stored id differs from its file name", _copied_record, check=_both_untouched),
    Case("20 concurrent log-walk keep 20 walks", _record(RECORD, _WALK), parallel=20,
         expect="ok", check=_walks_kept(20)),
    Case("record is a FIFO", lambda d: (os.makedirs(d / "records"),
                                        os.mkfifo(d / "records" / "p1.json"), _STATUS)[2]),
    # --- after-care parameters -----------------------------------------------------------------
    Case("check --lift 1e999999999lb", _cli(*_CHECK, "--lift", "1e999999999lb")),
    Case("check --lift 1e-999999999kg", _cli(*_CHECK, "--lift", "1e-999999999kg")),
    Case("check --lift 0e-999999999kg", _cli(*_CHECK, "--lift", "0e-999999999kg"),
         expect="exit:0,1,3,4", check=_same_answer_as(["lift", "0kg"])),
    Case("check --sit 1e999999999h", _cli(*_CHECK, "--sit", "1e999999999h")),
    Case("check --lift 99999...(5000 digits)kg", _cli(*_CHECK, "--lift", "9" * 5000 + "kg")),
    Case("log-walk --distance 1e999999999m", _record(RECORD, [
        *_WALK[:4], "--distance", "1e999999999m", *_T]), check=_untouched()),
    Case("log-walk --minutes 1e999999999", _record(RECORD, [
        *_WALK[:4], "--minutes", "1e999999999", *_T]), check=_untouched()),
    Case("log-walk --minutes nan", _record(RECORD, [*_WALK[:4], "--minutes", "nan", *_T]),
         check=_untouched()),
    Case("check --surgery 0001-01-01", _cli("aftercare", "check", "--surgery", "0001-01-01",
                                            "--discharge", "0001-01-02", "--drive", *_T)),
    Case("check --surgery 9999-12-31", _cli("aftercare", "check", "--surgery", "9999-12-31",
                                            "--discharge", "9999-12-31", "--drive")),
    Case("plan --surgery 0001-01-01", _plan_args("--surgery", "0001-01-01", "--discharge",
                                                 "0001-01-02")),
    Case("check --cleared 'drive='", _cli(*_CHECK, "--drive", "--cleared", "drive=")),
    Case("check --cleared '=2026-12-01'", _cli(*_CHECK, "--drive", "--cleared", "=2026-12-01")),
    Case("check --cleared before surgery", _cli(*_CHECK, "--drive", "--cleared",
                                                "drive=2020-01-01")),
    Case("check --lift with fullwidth digits", _cli(*_CHECK, "--lift", "１５lb"),
         expect="exit:0,1,3,4", check=_same_answer_as(["lift", "15lb"])),
    Case("check --lift with Arabic-Indic digits", _cli(*_CHECK, "--lift", "٣kg"),
         expect="exit:0,1,3,4", check=_same_answer_as(["lift", "3kg"])),
    Case("check --lift with fullwidth unit", _cli(*_CHECK, "--lift", "3ｋｇ"),
         expect="exit:0,1,3,4", check=_same_answer_as(["lift", "3kg"])),
    Case("status --patient '[/x]'", _cli("aftercare", "status", "--patient", "[/x]", *_T)),
    Case("answer --time-point '[/x]'", _record(RECORD, [
        "aftercare", "answer", "--patient", "p1", "--time-point", "[/x]", "--score",
        "pain_nrs=3", *_T]), check=_untouched()),
    Case("answer --score 'pain_nrs=1e999999'", _record(RECORD, [
        "aftercare", "answer", "--patient", "p1", "--time-point", "1w", "--score",
        "pain_nrs=1e999999", *_T]), check=_untouched()),
    Case("plan -o names a file", _plan_out_is_file,
         check=lambda f, runs: "data loss" if (f / "out").read_text() != "keep me" else None),
    Case("protocol TOML nested 100000 deep", _toml(b"a = " + _nested(100000).encode())),
    Case("protocol TOML 5000-digit integer", _toml(b"a = " + b"9" * 5000)),
    Case("protocol TOML UTF-16", _toml('schema = "x"'.encode("utf-16"))),
    Case("protocol TOML binary garbage", _toml(bytes(range(256)))),
    Case("protocol TOML is a FIFO", _fifo("p.toml", cmd=("aftercare", "validate"))),
    # --- phantom -------------------------------------------------------------------------------
    Case("phantom --voxel 1e-6", _cli("phantom", "-o", "{d}/ph", "--voxel", "1e-6",
                                      "--no-progress")),
    Case("phantom --voxel nan", _cli("phantom", "-o", "{d}/ph", "--voxel", "nan",
                                     "--no-progress")),
    Case("phantom --noise inf", _cli("phantom", "-o", "{d}/ph", "--noise", "inf", "--voxel",
                                     "2", "--no-progress")),
    Case("phantom -o names a file", lambda d: ((d / "f").write_text("x"), [
        "phantom", "-o", str(d / "f"), "--voxel", "2", "--no-progress"])[1]),
    Case("phantom --level '[/x]'", _cli("phantom", "-o", "{d}/ph", "--level", "[/x]",
                                         "--no-progress")),
    # --- stage commands (plan, rehearse, simulate, assess, fluoro) ------------------------------
    Case("plan -o names an existing file", _stage("plan", "{case}", "--level", "L1", "-o",
                                                  "{d}/out", "--no-progress", out_file=True),
         check=_kept, message="is a file, not a folder"),
    Case("rehearse -o below a file", _stage("rehearse", "{case}", "--level", "L1", "-o",
                                            "{d}/out/sub", "--no-progress", out_file=True),
         check=_kept, message="is a file, not a folder"),
    Case("simulate -o names an existing file", _stage(
        "simulate", "{case}", "--level", "L1", "-o", "{d}/out", "--no-progress", out_file=True),
        check=_kept, message="is a file, not a folder"),
    Case("assess -o names an existing file", _stage(
        "assess", "{case}", "-o", "{d}/out", "--no-progress", out_file=True),
        check=_kept, message="is a file, not a folder"),
    Case("rehearse --step 1e-6", _stage("rehearse", "{case}", "--level", "L1", "--step", "1e-6",
                                        "-o", "{d}/r", "--no-progress"), message="--step"),
    Case("rehearse --entry 1e9 mm away", _stage(
        "rehearse", "{case}", "--level", "L1", "--entry", "1e9,0,0", "--target", "0,0,0",
        "-o", "{d}/r", "--no-progress"), message=r"--entry \(x\)"),
    Case("simulate --seed -1", _stage("simulate", "{case}", "--level", "L1", "--seed", "-1",
                                      "-o", "{d}/s", "--no-progress"), message="seed"),
    Case("fluoro --size 50000", _stage("fluoro", "{case}", "--size", "50000", "-o", "{d}/f"),
         message="16-2048 pixels"),
    Case("plan --level L5 (not labelled)", _stage("plan", "{case}", "--level", "L5", "-o",
                                                  "{d}/p", "--no-progress"),
         message="not labelled"),
]


def _unique_ids() -> None:
    seen = set()
    for c in CASES:
        assert c.id not in seen, c.id
        seen.add(c.id)


_unique_ids()
