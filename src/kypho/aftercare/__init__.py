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

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "engine": [
            "ActivityStatus",
            "AftercarePlan",
            "Answer",
            "EXIT_CODES",
            "Patient",
            "Phase",
            "Request",
            "RuleState",
            "Status",
            "Verdict",
            "activity_status",
            "check",
            "day_status",
            "make_plan",
        ],
        "errors": ["AftercareInputError", "ProtocolError", "UnitError"],
        "export_fhir": ["plan_to_fhir", "plan_to_fhir_json", "validate_fhir_json"],
        "export_ics": ["plan_to_ics"],
        "followup": ["QuestionnaireAnswer", "check_answer", "followup_schedule"],
        "handout_pdf": ["plan_to_pdf"],
        "outputs": ["render_outputs", "write_outputs"],
        "protocol": ["Protocol", "default_protocol_text", "load_protocol", "parse_protocol"],
        "report": ["aftercare_section"],
        "store": ["JsonPatientStore", "PatientRecord", "PatientStore"],
        "timeline": ["plot_timeline"],
        "units": ["Quantity", "parse_quantity"],
        "walking": ["WalkEntry", "check_walk", "make_walk", "walk_trend"],
    },
)
