"""Known answers for the hardening layers: the reading layer, budgets, atomic writes, folder
swaps, the after-care store's lock and id check, bounded parameters and the CLI's escaping."""

from __future__ import annotations

import errno
import json
import os
import time
import warnings
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import typer

from kypho.core import Case, Volume
from kypho.core.atomic import (
    STALE_TEMPORARY_S,
    clean_stale_temporaries,
    temporary_prefix,
    write_files_atomic,
    write_text_atomic,
)
from kypho.core.limits import MAX_IMAGE_VOXELS, check_image_voxels, check_memory, format_bytes
from kypho.core.params import (
    DATE_MAX,
    check_iterations,
    check_range,
    normalize_digits,
    parse_date,
    parse_float,
    parse_int,
    parse_point,
    parse_seed,
)
from kypho.core.reading import (
    MAX_JSON_DEPTH,
    MAX_NUMBER_CHARS,
    check_regular_file,
    decode_text,
    json_depth,
    loads_json,
    open_regular,
    read_json,
    validate_json,
)
from kypho.errors import FormatError, InputFileError, InvalidParameterError

# -- reading layer --------------------------------------------------------------------------------


def test_json_depth_ignores_brackets_in_strings():
    assert json_depth('{"a": [1, {"b": "[[[[{{"}], "c": "\\"]]"}') == 3
    assert json_depth("[]") == 1 and json_depth("1") == 0 and json_depth("") == 0


def test_json_nesting_and_number_length_are_bounded():
    ok = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert json_depth(ok) == MAX_JSON_DEPTH and loads_json(ok, "x") is not None
    with pytest.raises(FormatError, match=rf"nested {MAX_JSON_DEPTH + 1} levels deep"):
        loads_json("[" + ok + "]", "x")
    with pytest.raises(FormatError, match="nested 100000 levels"):
        loads_json("[" * 100000 + "]" * 100000, "x")
    assert loads_json("1" * MAX_NUMBER_CHARS, "x") == int("1" * MAX_NUMBER_CHARS)
    with pytest.raises(FormatError, match=r"number of 5000 characters"):
        loads_json('{"a": ' + "9" * 5000 + "}", "rec.json")
    for bad in ("NaN", "Infinity", "-Infinity", "[1e400]"):
        with pytest.raises(FormatError, match=r"rec\.json"):
            loads_json(bad, "rec.json")
    with pytest.raises(FormatError, match="not valid JSON"):
        loads_json("{", "x")


def test_text_must_be_utf8():
    assert decode_text(b"\xef\xbb\xbf{}", "f") == "{}"  # a UTF-8 BOM is dropped
    with pytest.raises(FormatError, match="UTF-16"):
        decode_text('{"a": 1}'.encode("utf-16"), "f")
    with pytest.raises(FormatError, match=r"byte 0x80 at offset 1"):
        decode_text(b"{\x80}", "f")
    with pytest.raises(FormatError, match="NUL bytes"):
        decode_text(b"{\x00}", "f")


def test_schema_errors_name_the_field():
    schema = {"type": "object", "required": ["files"], "properties": {
        "files": {"type": "object", "required": ["ct"],
                  "properties": {"ct": {"type": "string"}}},
        "walks": {"type": "array", "items": {"type": "object", "properties": {
            "minutes": {"type": ["number", "null"]}}, "additionalProperties": False}}}}
    with pytest.raises(FormatError, match=r"^case.json: files\.ct: expected a string, got null$"):
        validate_json({"files": {"ct": None}}, schema, "case.json")
    with pytest.raises(FormatError, match=r"files: missing field 'ct'"):
        validate_json({"files": {}}, schema, "case.json")
    with pytest.raises(FormatError, match=r"walks\[1\]\.minutes: expected a number or null, "
                                          r"got true"):
        validate_json({"files": {"ct": "a"}, "walks": [{}, {"minutes": True}]}, schema, "r")
    with pytest.raises(FormatError, match=r"walks\[0\]: unknown field 'x'"):
        validate_json({"files": {"ct": "a"}, "walks": [{"x": 1}]}, schema, "r")
    validate_json({"files": {"ct": "a"}, "walks": [{"minutes": 3}]}, schema, "r")


def test_only_regular_files_are_opened(tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    t0 = time.perf_counter()
    with pytest.raises(InputFileError, match=r"pipe\.json: is a FIFO"):
        read_json(fifo)
    with pytest.raises(InputFileError, match="is a FIFO"):
        open_regular(fifo)
    assert time.perf_counter() - t0 < 1.0  # nothing blocked on the pipe
    with pytest.raises(InputFileError, match="is a character device"):
        check_regular_file("/dev/null")
    with pytest.raises(InputFileError, match="is a folder"):
        check_regular_file(tmp_path)
    with pytest.raises(InputFileError, match="no such file"):
        check_regular_file(tmp_path / "gone")
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 100)
    with pytest.raises(InputFileError, match=r"100 bytes is larger than kypho reads \(99 bytes\)"):
        read_json(big, max_bytes=99)


# -- budgets --------------------------------------------------------------------------------------


def test_image_budget_message_names_size_and_budget():
    assert check_image_voxels((512, 512, 2048), 2, "ct") == MAX_IMAGE_VOXELS
    with pytest.raises(InputFileError) as info:
        check_image_voxels((1000, 1000, 1500), 2, "big.nii")
    msg = str(info.value)
    assert "1000 x 1000 x 1500 = 1,500,000,000 voxels" in msg
    assert "2.79 GiB as stored" in msg and "5.59 GiB as float32" in msg
    assert f"budget is {MAX_IMAGE_VOXELS:,} voxels (2 GiB as float32)" in msg
    with pytest.raises(InputFileError, match="budget"):
        check_image_voxels((1 << 40, 1 << 40, 1 << 40), 8, "x")  # no overflow
    with pytest.raises(InvalidParameterError, match=r"would need 29\.8 GiB.*budget is 2 GiB"):
        check_memory(29.8 * (1 << 30), "the rehearsal grid")
    assert format_bytes(300) == "300 bytes" and format_bytes(3 << 20) == "3 MiB"


# -- atomic writes and temporaries ----------------------------------------------------------------


def test_atomic_write_syncs_file_and_folder(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def spy(fd):
        synced.append(os.path.isdir(f"/proc/self/fd/{fd}"))
        return real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    write_text_atomic(tmp_path / "a.json", "{}")
    assert synced == [False, True]  # the file before the rename, the folder after it


def _fake_temporary(target: Path, pid: int, *, suffix=".tmp", age_s: float = 0.0) -> Path:
    host = temporary_prefix(target).rsplit("-", 1)[1].rstrip(".")
    p = target.parent / f".{target.name}.{pid}-{host}.abcd_123{suffix}"
    p.write_text("half")
    if age_s:
        old = time.time() - age_s
        os.utime(p, (old, old))
    return p


def test_temporaries_of_dead_writers_are_cleaned(tmp_path):
    target = tmp_path / "rec.json"
    dead = _fake_temporary(target, 2**22 + 12345)  # above any pid_max: no such process
    alive = _fake_temporary(target, os.getppid(), suffix=".tmp.json")
    stale = _fake_temporary(target, os.getppid(), suffix=".old", age_s=STALE_TEMPORARY_S + 60)
    foreign = tmp_path / f".{target.name}.mine.tmp"
    foreign.write_text("not kypho's")
    other = _fake_temporary(tmp_path / "other.json", 2**22 + 12345)
    write_text_atomic(target, "{}")  # cleans before it writes
    assert not dead.exists() and not stale.exists()
    assert alive.exists() and foreign.exists() and other.exists()
    assert clean_stale_temporaries(tmp_path / "other.json") == 1


def test_write_files_atomic_is_all_or_nothing(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.txt").write_text("old a")
    real = os.fsync
    calls = []

    def fail_second(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd)

    monkeypatch.setattr(os, "fsync", fail_second)
    with pytest.raises(OSError, match="No space"):
        write_files_atomic(out, {"a.txt": b"new a", "b.txt": b"new b"})
    monkeypatch.undo()
    assert sorted(p.name for p in out.iterdir()) == ["a.txt"]
    assert (out / "a.txt").read_text() == "old a"
    write_files_atomic(out, {"a.txt": b"new a", "b.txt": b"new b"})
    assert (out / "b.txt").read_text() == "new b"


# -- case folders ---------------------------------------------------------------------------------


def _case(value: int) -> Case:
    return Case(Volume(np.full((3, 3, 3), value, np.int16), np.eye(4)), name=f"c{value}")


def test_replacing_a_case_swaps_it_whole_and_keeps_foreign_files(tmp_path):
    from kypho.io import load_case, save_case

    folder = save_case(_case(1), tmp_path / "case")
    (folder / "notes.txt").write_text("mine")
    (folder / "sub").mkdir()
    (folder / "sub" / "x.txt").write_text("deep")
    inode = (folder / "notes.txt").stat().st_ino
    save_case(_case(2), folder, overwrite=True)
    assert int(load_case(folder).volume.data[0, 0, 0]) == 2
    assert (folder / "notes.txt").read_text() == "mine"
    assert (folder / "notes.txt").stat().st_ino == inode  # hard-linked, not copied
    assert (folder / "sub" / "x.txt").read_text() == "deep"
    assert [p.name for p in tmp_path.iterdir()] == ["case"]  # no temporaries left


def test_without_an_exchange_a_crash_between_renames_is_repaired(tmp_path, monkeypatch):
    import kypho.io._folders as folders
    from kypho.io import load_case, save_case

    folder = save_case(_case(1), tmp_path / "case")
    monkeypatch.setattr(folders, "exchange_paths", lambda a, b: False)
    real_replace = os.replace
    moves = []

    def crash_on_second_move(src, dst):
        moves.append((src, dst))
        if len(moves) == 2:  # the old folder is aside, the new one not yet in
            raise KeyboardInterrupt  # stands for a kill: nothing after this runs
        return real_replace(src, dst)

    monkeypatch.setattr(folders.os, "replace", crash_on_second_move)
    with pytest.raises(KeyboardInterrupt):
        save_case(_case(2), folder, overwrite=True)
    monkeypatch.setattr(folders.os, "replace", real_replace)
    # The in-process handler already put it back; a real kill would leave it aside: simulate.
    assert int(load_case(folder).volume.data[0, 0, 0]) == 1
    aside = tmp_path / f".case.{os.getpid()}-x.abcdefgh.old"
    aside.mkdir()
    real_replace(folder, aside / "case")
    assert not folder.exists()
    save_case(_case(3), folder, overwrite=True)  # restores the old case, then replaces it
    assert int(load_case(folder).volume.data[0, 0, 0]) == 3
    assert not aside.exists()


# -- after-care store -----------------------------------------------------------------------------


def _record_text(patient_id="p1", **patient) -> str:
    doc = {"format": "kypho-aftercare-patient/1",
           "patient": {"patient_id": patient_id, "surgery": "2026-11-20",
                       "discharge": "2026-11-21", **patient},
           "walks": [{"date": "2026-11-22", "minutes": 10.0, "distance_m": None}]}
    return json.dumps(doc)


def test_store_refuses_a_record_of_another_patient_and_keeps_it(tmp_path):
    from kypho.aftercare import JsonPatientStore

    store = JsonPatientStore(tmp_path)
    (tmp_path / "COPY.json").write_text(_record_text("p1"))
    before = (tmp_path / "COPY.json").read_bytes()
    with pytest.raises(FormatError, match=r"COPY\.json: holds patient 'p1', not 'COPY'.*"
                                          r"left unchanged"):
        store.load("COPY")
    with pytest.raises(FormatError, match="holds patient 'p1'"):
        store.update("COPY", lambda rec: rec)
    assert (tmp_path / "COPY.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["COPY.json"]  # lock file removed


def test_store_never_writes_over_a_broken_record(tmp_path):
    from kypho.aftercare import JsonPatientStore
    from kypho.aftercare.store import record_from_json

    store = JsonPatientStore(tmp_path)
    good = record_from_json(_record_text())
    (tmp_path / "p1.json").write_bytes(b"\x00\xff garbage")
    with pytest.raises(FormatError, match=r"p1\.json"):
        store.save(good)
    assert (tmp_path / "p1.json").read_bytes() == b"\x00\xff garbage"


def test_store_update_is_all_or_nothing(tmp_path):
    from kypho.aftercare import JsonPatientStore
    from kypho.aftercare.store import record_from_json

    store = JsonPatientStore(tmp_path)
    store.save(record_from_json(_record_text()))
    before = (tmp_path / "p1.json").read_bytes()

    def fail(rec):
        raise InvalidParameterError("no")

    with pytest.raises(InvalidParameterError):
        store.update("p1", fail)
    assert (tmp_path / "p1.json").read_bytes() == before
    assert store.update("p1", lambda rec: rec).walks == store.load("p1").walks


def test_a_held_record_lock_times_out_with_a_clear_error(tmp_path, monkeypatch):
    import kypho.aftercare.store as store_mod
    from kypho.aftercare import JsonPatientStore
    from kypho.aftercare.store import record_from_json

    store = JsonPatientStore(tmp_path)
    store.save(record_from_json(_record_text()))
    monkeypatch.setattr(store_mod, "LOCK_TIMEOUT_S", 0.2)
    with store.lock("p1"):  # another writer (flock conflicts across descriptors)
        t0 = time.perf_counter()
        with pytest.raises(InputFileError, match=r"another kypho process has held this record"):
            store.update("p1", lambda rec: rec)
        assert 0.2 <= time.perf_counter() - t0 < 2.0
    assert store.update("p1", lambda rec: rec).patient.patient_id == "p1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p1.json"]


@pytest.mark.parametrize(("patient", "match"), [
    ({"on_pain_medication": "yes"}, r"patient\.on_pain_medication: expected true or false or "
                                    r"null, got a string"),
    ({"surgery": "0001-01-01", "discharge": "0001-01-02"}, "outside the dates kypho accepts"),
    ({"clearances": {"drive": "2020-01-01"}}, "before surgery"),
])
def test_record_fields_are_checked(patient, match):
    from kypho.aftercare.store import record_from_json

    with pytest.raises(FormatError, match=match):
        record_from_json(_record_text(**patient), source="r.json")


def test_record_round_trip_is_stable():
    from kypho.aftercare.store import record_from_json, record_to_json

    rec = record_from_json(_record_text())
    assert record_from_json(record_to_json(rec)) == rec


# -- parameters -----------------------------------------------------------------------------------


def test_numbers_are_bounded_before_they_are_computed():
    t0 = time.perf_counter()
    for text in ("1e999999999", "-1e999999999", "1e-999999999"):
        with pytest.raises(InvalidParameterError, match=r"outside the allowed range 0\.01 to 10 mm"):
            parse_float(text, "--step", 0.01, 10, unit="mm")
    with pytest.raises(InvalidParameterError, match="not a number"):
        parse_float("9" * 5000, "--step")
    assert time.perf_counter() - t0 < 0.5
    assert parse_float("0e-999999999", "--x", 0, 1) == 0.0
    assert parse_float("１.５", "--x") == 1.5 and parse_float("٣٫٥", "--x") == 3.5
    with pytest.raises(InvalidParameterError, match=r"--step: 1e-06 is outside the allowed range "
                                                    r"0.05 to 10 mm"):
        check_range(1e-6, "--step", 0.05, 10, unit="mm")
    with pytest.raises(InvalidParameterError, match="nan is outside"):
        check_range(float("nan"), "--x", 0, 1)


def test_ints_seeds_points_dates():
    assert parse_int("٤٢", "--n", 0, 100) == 42
    for bad in ("1e3", "1.5", "", "0x10"):
        with pytest.raises(InvalidParameterError, match="not a whole number"):
            parse_int(bad, "--n")
    with pytest.raises(InvalidParameterError, match=r"--seed: -1 is outside the allowed range 0 to "
                                                    r"4294967295"):
        parse_seed(-1)
    assert parse_point("1, -2.5 ３", "--entry", 1000) == (1.0, -2.5, 3.0)
    with pytest.raises(InvalidParameterError, match=r"--entry \(x\): 1e\+09 is outside"):
        parse_point("1e9,0,0", "--entry", 1000)
    with pytest.raises(InvalidParameterError, match="not a point"):
        parse_point("1,2", "--entry", 1000)
    assert parse_date("２０２６-１１-２０", "--surgery") == date(2026, 11, 20)
    with pytest.raises(InvalidParameterError, match=r"--surgery: 0001-01-01 is outside the dates "
                                                    r"kypho accepts \(1900-01-01 to 2199-12-31\)"):
        parse_date("0001-01-01", "--surgery")
    with pytest.raises(InvalidParameterError, match="not a date"):
        parse_date("2026-13-01", "--surgery")
    assert parse_date(DATE_MAX, "--x") == DATE_MAX
    assert normalize_digits("１５ｌｂ") == "15lb"


def test_iteration_budget():
    assert check_iterations(100 / 0.5, "the rehearsal") == 200
    assert check_iterations(100 / 1e-6, "the rehearsal") == 10**8  # the limit itself
    with pytest.raises(InvalidParameterError, match=r"the rehearsal would take 1e\+09 steps"):
        check_iterations(100 / 1e-7, "the rehearsal")
    with pytest.raises(InvalidParameterError, match="would take inf steps"):
        check_iterations(float("inf"), "the rehearsal")


# -- CLI error line -------------------------------------------------------------------------------


def _run_handled(fn, capsys):
    from kypho.cli.app import handle_errors

    with pytest.raises(typer.Exit) as info:
        handle_errors(fn)()
    return info.value.exit_code, capsys.readouterr().err


@pytest.mark.parametrize(("exc", "line"), [
    (InputFileError("/d/x[/]y\x1b[2J.nii: no such file"),
     "error: /d/x[/]y\\x1b[2J.nii: no such file"),
    (FormatError("bad\nsecond line"), "error: bad second line"),
    (OSError(errno.ENOSPC, "No space left on device", "/out/a.png"),
     "error: /out/a.png: No space left on device"),
    (PermissionError(errno.EACCES, "Permission denied", "/ro/x"),
     "error: cannot write /ro/x: Permission denied"),
    (MemoryError(), "error: not enough memory to finish (MemoryError)"),
])
def test_errors_are_one_plain_line(exc, line, capsys):
    def fail():
        warnings.warn("held back", RuntimeWarning, stacklevel=1)
        raise exc

    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        code, err = _run_handled(fail, capsys)
    assert code == 2 and err == line + "\n"
    assert shown == []  # after an error only the error line


def test_warnings_are_shown_after_success():
    from kypho.cli.app import handle_errors, markup_text, safe_text

    def ok():
        warnings.warn("shown", RuntimeWarning, stacklevel=1)
        return 5

    with pytest.warns(RuntimeWarning, match="shown"):
        assert handle_errors(ok)() == 5
    assert safe_text("a\x1b[31mb\tc\x9b") == "a\\x1b[31mb c\\x9b"
    assert markup_text("[/x]") == "\\[/x]"
