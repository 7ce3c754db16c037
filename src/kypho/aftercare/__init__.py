"""After-care: the patient's recovery plan, day by day, to query, follow, print and share.

>>> from datetime import date
>>> from kypho.aftercare import Patient, Request, make_plan, check
>>> plan = make_plan(Patient("p1", surgery=date(2026, 11, 20), discharge=date(2026, 11, 21)),
...                  today=date(2026, 11, 25))
>>> check(plan, Request.lift("15lb"), date(2026, 12, 1)).verdict.value
'not_allowed'

The default protocol encodes the clinic's written instructions (kypho issue 6) and nothing else;
clinics copy and edit it (:func:`default_protocol_text`, :func:`load_protocol`).  Exports: iCalendar
(:func:`plan_to_ics`), FHIR R4 (:func:`plan_to_fhir_json`), a PDF handout (:func:`plan_to_pdf`),
a timeline picture (:func:`plot_timeline`) and a report section (:func:`aftercare_section`).  Research and education software, not a medical
device.
"""

from __future__ import annotations

from kypho.aftercare.engine import (
    EXIT_CODES,
    ActivityStatus,
    AftercarePlan,
    Answer,
    Patient,
    Phase,
    Request,
    RuleState,
    Status,
    Verdict,
    activity_status,
    check,
    day_status,
    make_plan,
)
from kypho.aftercare.errors import AftercareInputError, ProtocolError, UnitError
from kypho.aftercare.export_fhir import plan_to_fhir, plan_to_fhir_json, validate_fhir_json
from kypho.aftercare.export_ics import plan_to_ics
from kypho.aftercare.followup import QuestionnaireAnswer, check_answer, followup_schedule
from kypho.aftercare.handout_pdf import plan_to_pdf
from kypho.aftercare.protocol import Protocol, default_protocol_text, load_protocol, parse_protocol
from kypho.aftercare.report import aftercare_section
from kypho.aftercare.store import JsonPatientStore, PatientRecord, PatientStore
from kypho.aftercare.timeline import plot_timeline
from kypho.aftercare.units import Quantity, parse_quantity
from kypho.aftercare.walking import WalkEntry, check_walk, make_walk, walk_trend

__all__ = [
    "EXIT_CODES",
    "ActivityStatus",
    "AftercareInputError",
    "AftercarePlan",
    "Answer",
    "JsonPatientStore",
    "Patient",
    "PatientRecord",
    "PatientStore",
    "Phase",
    "Protocol",
    "ProtocolError",
    "Quantity",
    "QuestionnaireAnswer",
    "Request",
    "RuleState",
    "Status",
    "UnitError",
    "Verdict",
    "WalkEntry",
    "activity_status",
    "aftercare_section",
    "check",
    "check_answer",
    "check_walk",
    "day_status",
    "default_protocol_text",
    "followup_schedule",
    "load_protocol",
    "make_plan",
    "make_walk",
    "parse_protocol",
    "parse_quantity",
    "plan_to_fhir",
    "plan_to_fhir_json",
    "plan_to_ics",
    "plan_to_pdf",
    "plot_timeline",
    "validate_fhir_json",
    "walk_trend",
]
