"""Where a patient's after-care record lives: one JSON file per patient, behind a small interface.

:class:`PatientStore` is the interface (load, save, update, exists); :class:`JsonPatientStore`
keeps each record as ``<patient_id>.json`` in a folder, changed under a per-record lock and
written atomically (a reader never sees half a file, concurrent writers never lose an entry).
A later web app can implement the same interface over a database.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from kypho.aftercare.engine import Patient
from kypho.aftercare.errors import AftercareInputError
from kypho.aftercare.followup import QuestionnaireAnswer
from kypho.aftercare.walking import WalkEntry
from kypho.core.atomic import write_text_atomic
from kypho.core.outputs import dumps, envelope
from kypho.core.params import parse_date
from kypho.core.reading import decode_text, loads_json, read_bytes_bounded, validate_json
from kypho.errors import FormatError, InputFileError, InvalidParameterError, KyphoError

__all__ = [
    "LOCK_TIMEOUT_S",
    "MAX_RECORD_BYTES",
    "RECORD_FORMAT",
    "RECORD_FORMAT_VERSION",
    "RECORD_JSON_SCHEMA",
    "JsonPatientStore",
    "PatientRecord",
    "PatientStore",
    "record_from_json",
    "record_to_json",
]

#: Layout version of a stored record (``"format": "kypho.aftercare-record/2"``, kypho's
#: envelope); version 1 (``"kypho-aftercare-patient/1"``) is still read.
RECORD_FORMAT_VERSION = 2
RECORD_FORMAT = f"kypho.aftercare-record/{RECORD_FORMAT_VERSION}"
_LEGACY_RECORD_FORMAT = "kypho-aftercare-patient/1"


@dataclass(frozen=True)
class PatientRecord:
    """A patient's after-care record: who, which protocol file, walks and questionnaire answers."""

    patient: Patient
    protocol_path: str | None = None
    walks: tuple[WalkEntry, ...] = ()
    answers: tuple[QuestionnaireAnswer, ...] = ()

    def with_walk(self, entry: WalkEntry) -> PatientRecord:
        """A copy with ``entry`` added (kept in date order)."""
        return replace(self, walks=tuple(sorted((*self.walks, entry), key=lambda w: w.on)))

    def with_answer(self, answer: QuestionnaireAnswer) -> PatientRecord:
        """A copy with ``answer`` added (kept in date order)."""
        return replace(self, answers=tuple(sorted((*self.answers, answer), key=lambda a: a.on)))

    def with_clearance(self, clearance_id: str, on: date) -> PatientRecord:
        """A copy in which the doctor gave ``clearance_id`` on ``on``."""
        clear = {**self.patient.clearances, clearance_id: on}
        return replace(self, patient=replace(self.patient, clearances=clear))


@runtime_checkable
class PatientStore(Protocol):
    """Storage of patient records (a JSON folder now, a database later)."""

    def exists(self, patient_id: str) -> bool:
        """Whether a record for ``patient_id`` exists."""
        ...

    def load(self, patient_id: str) -> PatientRecord:
        """The record of ``patient_id``; raises :class:`InputFileError` when there is none."""
        ...

    def save(self, record: PatientRecord) -> None:
        """Store ``record`` (replacing the old one) all at once."""
        ...

    def update(self, patient_id: str,
               change: Callable[[PatientRecord | None], PatientRecord]) -> PatientRecord:
        """Load, change and save one record as one step that concurrent writers cannot
        interleave (``change`` gets ``None`` when there is no record yet)."""
        ...


def record_to_json(record: PatientRecord) -> str:
    """The record as JSON text (stable key order, so equal records give equal text)."""
    p = record.patient
    data: dict[str, Any] = envelope("aftercare-record", RECORD_FORMAT_VERSION, {
        "patient": {
            "patient_id": p.patient_id,
            "surgery": p.surgery.isoformat(),
            "discharge": p.discharge.isoformat(),
            "levels": list(p.levels),
            "name": p.name,
            "on_pain_medication": p.on_pain_medication,
            "comfortable": p.comfortable,
            "clearances": {k: v.isoformat() for k, v in sorted(p.clearances.items())},
            "time_zone": p.time_zone,
        },
        "protocol_path": record.protocol_path,
        "walks": [{"date": w.on.isoformat(), "minutes": w.minutes, "distance_m": w.distance_m}
                  for w in record.walks],
        "answers": [{"time_point": a.time_point, "date": a.on.isoformat(),
                     "scores": dict(sorted(a.scores.items()))} for a in record.answers],
    })
    return dumps(data)


_DATE = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
_AMOUNT = {"type": ["number", "null"], "minimum": 0}
#: JSON schema of a stored record (:func:`record_to_json`); the semantic checks (dates in
#: order, walks after surgery, known levels) follow when the record is built.
RECORD_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["format", "patient"],
    "properties": {
        "format": {"enum": [RECORD_FORMAT, _LEGACY_RECORD_FORMAT]},
        "kypho_version": {"type": "string"},
        "disclaimer": {"type": "string"},
        "patient": {
            "type": "object",
            "additionalProperties": False,
            "required": ["patient_id", "surgery", "discharge"],
            "properties": {
                "patient_id": {"type": "string"},
                "surgery": _DATE, "discharge": _DATE,
                "levels": {"type": "array", "items": {"type": "string"}},
                "name": {"type": "string"},
                "on_pain_medication": {"type": ["boolean", "null"]},
                "comfortable": {"type": ["boolean", "null"]},
                "clearances": {"type": "object", "additionalProperties": _DATE},
                "time_zone": {"type": ["string", "null"]},
            },
        },
        "protocol_path": {"type": ["string", "null"]},
        "walks": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["date"],
            "properties": {"date": _DATE, "minutes": _AMOUNT, "distance_m": _AMOUNT},
        }},
        "answers": {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["time_point", "date", "scores"],
            "properties": {"time_point": {"type": "string"}, "date": _DATE,
                           "scores": {"type": "object", "additionalProperties": {"type": "number"}}},
        }},
    },
}  # fmt: skip


def record_from_json(text: str, *, source: str = "<json>",
                     patient_id: str | None = None) -> PatientRecord:
    """Parse :func:`record_to_json` output; errors name the source and the field.

    The text goes through kypho's bounded JSON reader (nesting, number length, no NaN or
    Infinity) and :data:`RECORD_JSON_SCHEMA`; then walks and answers dated before surgery are
    refused.  With ``patient_id`` the stored id must be that id (a copied or renamed record
    file is refused instead of being written under another patient's name).
    """
    where = f"patient record {source}"
    data = loads_json(text, where)
    if not isinstance(data, Mapping) or data.get("format") not in (RECORD_FORMAT,
                                                                   _LEGACY_RECORD_FORMAT):
        raise FormatError(f"{where}: 'format' must be {RECORD_FORMAT!r}")
    validate_json(data, RECORD_JSON_SCHEMA, where)
    try:
        p = data["patient"]
        patient = Patient(
            patient_id=p["patient_id"], surgery=p["surgery"], discharge=p["discharge"],
            levels=tuple(p.get("levels", ())), name=p.get("name", ""),
            on_pain_medication=p.get("on_pain_medication"), comfortable=p.get("comfortable"),
            clearances=dict(p.get("clearances", {})), time_zone=p.get("time_zone"),
        )
        walks = tuple(WalkEntry(_day(w["date"]), w.get("minutes"), w.get("distance_m"))
                      for w in data.get("walks", []))
        answers = tuple(QuestionnaireAnswer(a["time_point"], _day(a["date"]), a["scores"])
                        for a in data.get("answers", []))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise FormatError(f"{where}: missing or bad field: {exc}") from None
    except InvalidParameterError as exc:
        raise FormatError(f"{where}: {exc}") from None
    for what, items in (("walk", walks), ("questionnaire", answers)):
        for item in items:
            if item.on < patient.surgery:
                raise FormatError(f"{where}: {what} dated {item.on.isoformat()} is before "
                                  f"surgery ({patient.surgery.isoformat()})")
    if patient_id is not None and patient.patient_id != patient_id:
        raise FormatError(
            f"{where}: holds patient {patient.patient_id!r}, not {patient_id!r} (a copied or "
            "renamed record?)"
        )
    return PatientRecord(patient, data.get("protocol_path"), walks, answers)


def _day(text: str) -> date:
    return parse_date(text, "record date")


#: How long a writer waits for another writer's lock on the same record, seconds.  Model
#: choice: a load-modify-save takes milliseconds; 30 s covers a busy disk.
LOCK_TIMEOUT_S = 30.0
#: Largest record file read, bytes (model choice: 16 MiB holds decades of daily walks).
MAX_RECORD_BYTES = 16 << 20


class JsonPatientStore:
    """Patient records as ``<folder>/<patient_id>.json``, written atomically under a lock.

    Every change is a load-modify-save under an exclusive lock on ``.<patient_id>.lock``
    (``fcntl.flock``), so concurrent writers (20 ``kypho aftercare log-walk`` at once) never
    lose an entry; the lock file is removed again by its holder.  A record that cannot be read
    (garbage, another encoding, wrong types, another patient's id) is refused with its path and
    left as it is: nothing is ever written over it.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def path_for(self, patient_id: str) -> Path:
        """File of ``patient_id`` (the id is checked: no path separators)."""
        Patient(patient_id, date(2000, 1, 1), date(2000, 1, 1))  # validates the id
        return self.folder / f"{patient_id}.json"

    def exists(self, patient_id: str) -> bool:
        """Whether ``<patient_id>.json`` exists (whatever it holds)."""
        return os.path.lexists(self.path_for(patient_id))

    def load(self, patient_id: str) -> PatientRecord:
        """Read and parse the record; the stored id must be ``patient_id``."""
        path = self.path_for(patient_id)
        if not os.path.lexists(path):
            raise InputFileError(f"no after-care record for patient {patient_id!r} in "
                                 f"{self.folder} (create it with 'kypho aftercare plan "
                                 f"--patient {patient_id} ...')")
        try:
            data = read_bytes_bounded(path, MAX_RECORD_BYTES, "patient record")
            return record_from_json(decode_text(data, path, "patient record"),
                                    source=str(path), patient_id=patient_id)
        except KyphoError as exc:
            raise type(exc)(f"{exc}; the record was left unchanged") from None

    def save(self, record: PatientRecord) -> None:
        """Write the record atomically (under the record's lock).

        An existing file that is not a readable record of the same patient is refused, not
        overwritten.
        """
        patient_id = record.patient.patient_id
        with self.lock(patient_id):
            if self.exists(patient_id):
                self.load(patient_id)  # raises for a record kypho must not overwrite
            self._write(record)

    def update(self, patient_id: str,
               change: Callable[[PatientRecord | None], PatientRecord]) -> PatientRecord:
        """Load-modify-save under the record's lock; returns the saved record.

        ``change`` gets the current record (``None`` when there is none) and returns the new
        one; if it raises, nothing is written.
        """
        with self.lock(patient_id):
            old = self.load(patient_id) if self.exists(patient_id) else None
            new = change(old)
            if new.patient.patient_id != patient_id:
                raise AftercareInputError(f"record of {new.patient.patient_id!r} cannot be "
                                          f"saved as patient {patient_id!r}")
            self._write(new)
            return new

    def _write(self, record: PatientRecord) -> None:
        write_text_atomic(self.path_for(record.patient.patient_id), record_to_json(record))

    @contextlib.contextmanager
    def lock(self, patient_id: str) -> Iterator[None]:
        """Hold the exclusive lock of one patient's record (waits up to
        :data:`LOCK_TIMEOUT_S`, then raises :class:`InputFileError`)."""
        path = self.path_for(patient_id)
        self.folder.mkdir(parents=True, exist_ok=True)
        if fcntl is None:  # pragma: no cover - no flock (Windows): atomic writes only
            yield
            return
        lock_path = self.folder / f".{patient_id}.lock"
        deadline = time.monotonic() + LOCK_TIMEOUT_S
        while True:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
            try:
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            raise InputFileError(
                                f"{path}: another kypho process has held this record for "
                                f"{LOCK_TIMEOUT_S:g} s (lock {lock_path}); try again"
                            ) from None
                        time.sleep(0.005)
                # The holder before us may have removed the lock file: lock the current one.
                try:
                    same = os.path.samestat(os.fstat(fd), os.stat(lock_path))
                except FileNotFoundError:
                    same = False
                if not same:
                    os.close(fd)
                    continue
            except BaseException:
                os.close(fd)
                raise
            try:
                yield
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(lock_path)
                os.close(fd)
            return
