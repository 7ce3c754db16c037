"""Where a patient's after-care record lives: one JSON file per patient, behind a small interface.

:class:`PatientStore` is the interface (load, save, exists); :class:`JsonPatientStore` keeps each
record as ``<patient_id>.json`` in a folder, written atomically (a reader never sees half a file).
A later web app can implement the same interface over a database.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from kypho.aftercare.engine import Patient
from kypho.aftercare.errors import AftercareInputError
from kypho.aftercare.followup import QuestionnaireAnswer
from kypho.aftercare.walking import WalkEntry
from kypho.core.atomic import write_text_atomic
from kypho.errors import FormatError, InputFileError

__all__ = [
    "RECORD_FORMAT",
    "JsonPatientStore",
    "PatientRecord",
    "PatientStore",
    "record_from_json",
    "record_to_json",
]

RECORD_FORMAT = "kypho-aftercare-patient/1"


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


def record_to_json(record: PatientRecord) -> str:
    """The record as JSON text (stable key order, so equal records give equal text)."""
    p = record.patient
    data: dict[str, Any] = {
        "format": RECORD_FORMAT,
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
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def record_from_json(text: str, *, source: str = "<json>") -> PatientRecord:
    """Parse :func:`record_to_json` output; errors name the source and the field."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"patient record {source}: not valid JSON: {exc}") from None
    if not isinstance(data, Mapping) or data.get("format") != RECORD_FORMAT:
        raise FormatError(f"patient record {source}: 'format' must be {RECORD_FORMAT!r}")
    try:
        p = data["patient"]
        patient = Patient(
            patient_id=p["patient_id"], surgery=p["surgery"], discharge=p["discharge"],
            levels=tuple(p.get("levels", ())), name=p.get("name", ""),
            on_pain_medication=p.get("on_pain_medication"), comfortable=p.get("comfortable"),
            clearances=dict(p.get("clearances", {})), time_zone=p.get("time_zone"),
        )
        walks = tuple(WalkEntry(date.fromisoformat(w["date"]), w.get("minutes"),
                                w.get("distance_m")) for w in data.get("walks", []))
        answers = tuple(QuestionnaireAnswer(a["time_point"], date.fromisoformat(a["date"]),
                                            a["scores"]) for a in data.get("answers", []))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise FormatError(f"patient record {source}: missing or bad field: {exc}") from None
    except AftercareInputError as exc:
        raise FormatError(f"patient record {source}: {exc}") from None
    return PatientRecord(patient, data.get("protocol_path"), walks, answers)


class JsonPatientStore:
    """Patient records as ``<folder>/<patient_id>.json``, written atomically."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def path_for(self, patient_id: str) -> Path:
        """File of ``patient_id`` (the id is checked: no path separators)."""
        Patient(patient_id, date(2000, 1, 1), date(2000, 1, 1))  # validates the id
        return self.folder / f"{patient_id}.json"

    def exists(self, patient_id: str) -> bool:
        """Whether ``<patient_id>.json`` exists."""
        return self.path_for(patient_id).is_file()

    def load(self, patient_id: str) -> PatientRecord:
        """Read and parse the record."""
        path = self.path_for(patient_id)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputFileError(f"no after-care record for patient {patient_id!r} in "
                                 f"{self.folder} (create it with 'kypho aftercare plan "
                                 f"--patient {patient_id} ...')") from None
        return record_from_json(text, source=str(path))

    def save(self, record: PatientRecord) -> None:
        """Write the record atomically."""
        write_text_atomic(self.path_for(record.patient.patient_id), record_to_json(record))
