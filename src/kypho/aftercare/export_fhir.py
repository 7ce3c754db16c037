"""FHIR R4 export of an after-care plan: a Bundle (type ``collection``) with Patient, CarePlan,
Goals and ServiceRequests, validated with ``fhir.resources.R4B``.

Restrictions are ServiceRequests with ``doNotPerform = true`` and an ``occurrencePeriod``,
referenced from ``CarePlan.activity.reference`` (a pattern that also survives the move to R5,
where ``CarePlan.activity.detail`` no longer exists; ecosystem-and-style.md section 3.3).  Walking
is a ServiceRequest with ``doNotPerform = false`` and a Goal; follow-up questionnaires are
ServiceRequests with ``occurrenceDateTime`` at their due date.

``fhir.resources`` does not enforce required-binding code values (ecosystem-and-style.md
section 3.1), so :func:`fhir_problems` checks every coded field against the values the model lists,
plus the invariants this export relies on (CarePlan activity: reference or detail, not both;
references resolve inside the Bundle; UCUM units).
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from pydantic import BaseModel, ValidationError

from kypho.aftercare.engine import AftercarePlan, DatedRule, format_date
from kypho.core.atomic import write_text_atomic
from kypho.errors import FormatError
from kypho.report import DISCLAIMER

__all__ = [
    "PATIENT_ID_SYSTEM",
    "fhir_problems",
    "plan_to_fhir",
    "plan_to_fhir_json",
    "validate_fhir_json",
    "write_fhir",
]

#: Identifier system of kypho patient ids (a URN: kypho has no registered system).
PATIENT_ID_SYSTEM = "urn:kypho:aftercare:patient-id"
_UCUM = "http://unitsofmeasure.org"
_NS = uuid.UUID("6f1f2f9e-6d1a-5b8e-9a55-6b7970686f00")  # kypho's namespace for uuid5 ids

_CONDITION_CODE = {
    "on_pain_medication": " while under the influence of pain medication",
    "not_on_pain_medication": " while not taking pain medication",
    "comfortable": " while it is comfortable",
    "not_comfortable": " before it is comfortable",
}


def _id(plan: AftercarePlan, key: str) -> str:
    p = plan.patient
    return str(uuid.uuid5(_NS, "|".join((p.patient_id, p.surgery.isoformat(),
                                          p.discharge.isoformat(), plan.protocol.id,
                                          plan.protocol.version, key))))


def _code_text(plan: AftercarePlan, dr: DatedRule) -> str:
    rule = dr.rule
    act = plan.protocol.activity(rule.activity)
    name = act.name if act else rule.activity
    cond = _CONDITION_CODE.get(rule.when or "", "")
    if rule.limit is not None:
        return f"{name} more than {rule.limit.describe()}{cond}"
    if rule.status == "ask_doctor":
        return f"{name} without asking your doctor first{cond}"
    if rule.status == "limited":
        return rule.text
    return f"{name}{cond}"


def plan_to_fhir(plan: AftercarePlan) -> Bundle:
    """The plan as a validated ``fhir.resources.R4B`` Bundle.

    Raises
    ------
    FormatError
        When the generated resources fail validation or a code check (a bug, not user input).
    """
    p = plan.patient
    patient_id = _id(plan, "patient")
    subject = {"reference": f"urn:uuid:{patient_id}"}
    entries: list[dict[str, Any]] = []

    patient: dict[str, Any] = {
        "resourceType": "Patient", "id": patient_id,
        "identifier": [{"system": PATIENT_ID_SYSTEM, "value": p.patient_id}],
    }
    if p.name:
        patient["name"] = [{"text": p.name}]
    entries.append(patient)

    goals = []
    walk_rule = next((dr for dr in plan.rules if dr.rule.activity == "walk"), None)
    if walk_rule is not None:
        goals.append({
            "resourceType": "Goal", "id": _id(plan, "goal:walk"), "lifecycleStatus": "active",
            "description": {"text": walk_rule.rule.text}, "subject": subject,
            "startDate": walk_rule.start_earliest.isoformat(),
        })
    for i, t in enumerate(plan.walking_targets):
        target: dict[str, Any] = {}
        if t.target.minutes_per_day is not None:
            target = {"measure": {"text": "Minutes walked per day"},
                      "detailQuantity": {"value": t.target.minutes_per_day, "unit": "min",
                                         "system": _UCUM, "code": "min"}}
        else:
            target = {"measure": {"text": "Distance walked per day"},
                      "detailQuantity": {"value": t.target.distance_km_per_day, "unit": "km",
                                         "system": _UCUM, "code": "km"}}
        window = f"from {format_date(t.start)}" + (
            f" to {format_date(t.end)}" if t.end else "")
        goals.append({
            "resourceType": "Goal", "id": _id(plan, f"goal:walk-target:{i}"),
            "lifecycleStatus": "active",
            "description": {"text": f"Walking target {window} (clinic setting)"},
            "subject": subject, "startDate": t.start.isoformat(), "target": [target],
        })
    entries.extend(goals)

    requests = []
    for dr in plan.rules:
        rule = dr.rule
        period: dict[str, str] = {"start": dr.start_earliest.isoformat()}
        notes = []
        if dr.end_latest is not None:
            period["end"] = (dr.end_latest - timedelta(days=1)).isoformat()
            if dr.end_earliest != dr.end_latest:
                agree = "if the doctor agrees" if rule.released_by else "ask the doctor"
                notes.append(f"May end from {dr.end_earliest.isoformat()} at the earliest "
                             f"({agree}); ends by {dr.end_latest.isoformat()}.")
        if dr.start_earliest != dr.start_latest:
            notes.append(f"Starts from {dr.start_earliest.isoformat()} at the earliest; by "
                         f"{dr.start_latest.isoformat()} at the latest.")
        if rule.interpretation:
            notes.append(f"Interpretation: {rule.interpretation}")
        sr: dict[str, Any] = {
            "resourceType": "ServiceRequest", "id": _id(plan, f"rule:{rule.id}"),
            "identifier": [{"system": "urn:kypho:aftercare:rule", "value": rule.id}],
            "status": "active", "intent": "plan",
            "doNotPerform": rule.status not in ("encouraged", "allowed"),
            "code": {"text": _code_text(plan, dr)}, "subject": subject,
            "occurrencePeriod": period, "patientInstruction": rule.text,
        }
        if notes:
            sr["note"] = [{"text": n} for n in notes]
        requests.append(sr)
    for fu in plan.followups:
        names = ", ".join(plan.protocol.instrument(i).name for i in fu.followup.instruments)
        requests.append({
            "resourceType": "ServiceRequest", "id": _id(plan, f"followup:{fu.followup.id}"),
            "status": "active", "intent": "plan", "doNotPerform": False,
            "code": {"text": f"Follow-up questionnaire ({fu.followup.label}): {names}"},
            "subject": subject, "occurrenceDateTime": fu.due.isoformat(),
            "patientInstruction": f"Please fill in: {names}.",
        })
    entries.extend(requests)

    flags = "; ".join(f.text for f in plan.protocol.red_flags)
    levels = ", ".join(p.levels) if p.levels else "not given"
    careplan: dict[str, Any] = {
        "resourceType": "CarePlan", "id": _id(plan, "careplan"),
        "identifier": [{"system": "urn:kypho:aftercare:protocol",
                        "value": f"{plan.protocol.id}@{plan.protocol.version}"}],
        "status": "active", "intent": "plan", "title": plan.protocol.title,
        "description": (f"After-care from {p.surgery.isoformat()} (surgery; discharge "
                        f"{p.discharge.isoformat()}); treated levels: {levels}."),
        "subject": subject, "period": {"start": p.surgery.isoformat()},
        "goal": [{"reference": f"urn:uuid:{g['id']}"} for g in goals],
        "activity": [{"reference": {"reference": f"urn:uuid:{r['id']}"}} for r in requests],
        "note": [{"text": f"Call now if: {flags}"} if flags else {"text": "No red flags listed."},
                 {"text": DISCLAIMER}],
    }
    entries.insert(1, careplan)
    bundle = {
        "resourceType": "Bundle", "id": _id(plan, "bundle"), "type": "collection",
        "entry": [{"fullUrl": f"urn:uuid:{e['id']}", "resource": e} for e in entries],
    }
    try:
        model = Bundle.model_validate(bundle)
    except ValidationError as exc:
        raise FormatError(f"FHIR export does not validate: {exc}") from None
    problems = fhir_problems(model)
    if problems:
        raise FormatError("FHIR export breaks code rules: " + "; ".join(problems))
    return model


def _walk(obj: Any, path: str, problems: list[str]) -> None:
    if isinstance(obj, list):
        for i, item in enumerate(obj):
            _walk(item, f"{path}[{i}]", problems)
        return
    if not isinstance(obj, BaseModel):
        return
    for name, info in type(obj).model_fields.items():
        value = getattr(obj, name, None)
        if value is None:
            continue
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        allowed = extra.get("enum_values")
        if allowed:
            for v in value if isinstance(value, list) else [value]:
                if v not in allowed:
                    problems.append(f"{path}.{name}: {v!r} is not one of {allowed}")
        _walk(value, f"{path}.{name}", problems)
    rtype = getattr(obj, "get_resource_type", lambda: None)()
    if rtype == "CarePlan":
        for i, act in enumerate(obj.activity or []):  # type: ignore[attr-defined]
            if (act.reference is None) == (act.detail is None):
                problems.append(f"{path}.activity[{i}]: give a reference or a detail, not both "
                                f"(invariant cpl-3)")


def fhir_problems(bundle: Bundle) -> list[str]:
    """Code values outside their required bindings, broken references, non-UCUM quantities."""
    problems: list[str] = []
    _walk(bundle, "Bundle", problems)
    urls = [e.fullUrl for e in bundle.entry or []]
    if len(set(urls)) != len(urls):
        problems.append("Bundle.entry: duplicate fullUrl")
    text = bundle.model_dump_json()
    for ref in set(_references(json.loads(text))):
        if ref.startswith("urn:uuid:") and ref not in urls:
            problems.append(f"reference {ref} does not resolve inside the Bundle")
    for q in _quantities(json.loads(text)):
        if q.get("system") != _UCUM or not q.get("code"):
            problems.append(f"quantity {q} is not a UCUM quantity")
    return problems


def _references(obj: Any) -> list[str]:
    out: list[str] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "reference" and isinstance(v, str):
                out.append(v)
            else:
                out.extend(_references(v))
    elif isinstance(obj, list):
        for v in obj:
            out.extend(_references(v))
    return out


def _quantities(obj: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "detailQuantity" and isinstance(v, dict):
                out.append(v)
            else:
                out.extend(_quantities(v))
    elif isinstance(obj, list):
        for v in obj:
            out.extend(_quantities(v))
    return out


def plan_to_fhir_json(plan: AftercarePlan) -> str:
    """The Bundle as indented JSON text (deterministic)."""
    data = json.loads(plan_to_fhir(plan).model_dump_json(exclude_none=True))
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def validate_fhir_json(text: str | bytes, *, source: str = "<json>") -> Bundle:
    """Parse FHIR JSON with ``fhir.resources.R4B`` and run :func:`fhir_problems`."""
    try:
        model = Bundle.model_validate_json(text)
    except ValidationError as exc:
        raise FormatError(f"{source}: not a valid FHIR R4B Bundle: {exc}") from None
    problems = fhir_problems(model)
    if problems:
        raise FormatError(f"{source}: " + "; ".join(problems))
    return model


def write_fhir(plan: AftercarePlan, path: str | Path) -> Path:
    """Write :func:`plan_to_fhir_json` atomically."""
    return write_text_atomic(path, plan_to_fhir_json(plan))
