"""Exports: iCalendar parses back with the right dates and time zone, FHIR validates, the PDF
holds every rule with the patient's dates."""

from __future__ import annotations

import io
import re
from datetime import date, datetime, time, timedelta

import pytest
from icalendar import Calendar
from pypdf import PdfReader

from kypho.aftercare import plan_to_fhir_json, plan_to_ics, plan_to_pdf, validate_fhir_json
from kypho.aftercare.engine import format_date
from kypho.aftercare.export_fhir import fhir_problems, plan_to_fhir
from kypho.aftercare.handout_pdf import rule_date_phrase
from kypho.errors import FormatError


# -- iCalendar -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ics(plan):
    return plan_to_ics(plan)


def _events(ics_bytes):
    cal = Calendar.from_ical(ics_bytes)
    return {str(e.get("summary")): e for e in cal.walk("VEVENT")}, cal


def test_ics_is_deterministic(plan, ics):
    assert plan_to_ics(plan) == ics
    assert b"DTSTAMP:20261120T000000Z" in ics


def test_ics_windows_are_all_day_with_patient_dates(ics):
    events, _ = _events(ics)
    first = events["Lifting: no more than 5-10 lb (2.3-4.5 kg)"]
    assert first.get("dtstart").dt == date(2026, 11, 20)
    assert first.get("dtend").dt == date(2026, 12, 18)  # exclusive: last day 17 Dec (4 weeks)
    assert not isinstance(first.get("dtstart").dt, datetime)
    may_end = events["Lifting: no more than 5-10 lb (2.3-4.5 kg) - may end (if your doctor agrees)"]
    assert (may_end.get("dtstart").dt, may_end.get("dtend").dt) == (date(2026, 12, 18),
                                                                    date(2027, 1, 1))
    ceiling = events["Lifting: no more than 20 lb (9.1 kg)"]
    assert ceiling.get("dtend").dt == date(2026, 11, 20) + timedelta(days=90)
    drive = events["Driving: ask your doctor first"]
    assert drive.get("dtend").dt == date(2026, 11, 28)  # 7 days after discharge


def test_ics_reminders_are_timed_in_the_patient_time_zone(plan, ics):
    events, cal = _events(ics)
    fu = events["Follow-up questionnaire (1 month after surgery)"]
    start = fu.get("dtstart")
    assert start.params["TZID"] == "Europe/Berlin"
    assert start.dt.tzinfo is not None and str(start.dt.tzinfo) == "Europe/Berlin"
    assert start.dt.date() == date(2026, 12, 20) and start.dt.time() == time(9, 0)
    assert start.dt.utcoffset() == timedelta(hours=1)
    assert [c.name for c in fu.subcomponents] == ["VALARM"]
    assert [str(tz.get("tzid")) for tz in cal.walk("VTIMEZONE")] == ["Europe/Berlin"]
    dues = sorted(e.get("dtstart").dt.date() for s, e in events.items()
                  if s.startswith("Follow-up questionnaire"))
    assert dues == [f.due for f in plan.followups]


def test_ics_uids_are_unique_and_stable(plan, ics, patient, protocol):
    from dataclasses import replace

    from kypho.aftercare import make_plan

    events, _ = _events(ics)
    uids = [str(e.get("uid")) for e in events.values()]
    assert len(set(uids)) == len(uids) and all(u.endswith("@kypho") for u in uids)
    other = make_plan(replace(patient, patient_id="p2"), protocol, today=date(2026, 11, 25))
    assert not set(uids) & {str(e.get("uid")) for e in _events(plan_to_ics(other))[0].values()}


# -- FHIR ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fhir_json(plan):
    return plan_to_fhir_json(plan)


def test_fhir_validates_and_round_trips(plan, fhir_json):
    bundle = validate_fhir_json(fhir_json)
    assert bundle.type == "collection"
    kinds = [e.resource.get_resource_type() for e in bundle.entry]
    assert kinds.count("CarePlan") == 1 and kinds.count("Patient") == 1
    assert kinds.count("Goal") == 1
    assert kinds.count("ServiceRequest") == len(plan.rules) + len(plan.followups)
    assert plan_to_fhir_json(plan) == fhir_json


def test_fhir_restrictions_are_do_not_perform_with_periods(fhir_json):
    bundle = validate_fhir_json(fhir_json)
    res = {e.fullUrl: e.resource for e in bundle.entry}
    careplan = next(r for r in res.values() if r.get_resource_type() == "CarePlan")
    assert (careplan.status, careplan.intent) == ("active", "plan")
    refs = [a.reference.reference for a in careplan.activity]
    assert all(a.detail is None for a in careplan.activity)
    srs = [res[r] for r in refs]
    by_rule = {sr.identifier[0].value: sr for sr in srs if sr.identifier}
    ceiling = by_rule["lift-ceiling"]
    assert ceiling.doNotPerform is True
    assert str(ceiling.occurrencePeriod.start) == "2026-11-20"
    assert str(ceiling.occurrencePeriod.end) == "2027-02-17"
    assert ceiling.code.text == "Lifting more than 20 lb (9.1 kg)"
    first = by_rule["lift-first-weeks"]
    assert str(first.occurrencePeriod.end) == "2026-12-31"
    assert "May end from 2026-12-18 at the earliest (if the doctor agrees)" in first.note[0].text
    assert by_rule["walk-encouraged"].doNotPerform is False
    assert by_rule["fall-contact-until-cleared"].occurrencePeriod.end is None
    fu = [sr for sr in srs if sr.occurrenceDateTime is not None]
    assert sorted(str(sr.occurrenceDateTime) for sr in fu) == [
        "2026-11-27", "2026-12-20", "2027-02-20", "2027-11-20"]


def test_fhir_code_checks_catch_what_the_models_accept(plan):
    bundle = plan_to_fhir(plan)
    careplan = bundle.entry[1].resource
    careplan.status = "bogus"
    problems = fhir_problems(bundle)
    assert any("status: 'bogus' is not one of" in p for p in problems)
    text = plan_to_fhir_json(plan).replace('"intent": "plan"', '"intent": "wish"', 1)
    with pytest.raises(FormatError, match="'wish' is not one of"):
        validate_fhir_json(text)
    broken = plan_to_fhir_json(plan).replace('"collection"', '"collection", "bogusField": 1')
    with pytest.raises(FormatError, match="not a valid FHIR"):
        validate_fhir_json(broken)


def test_fhir_dangling_reference_is_reported(plan):
    text = plan_to_fhir_json(plan)
    first_ref = re.search(r'"reference": "(urn:uuid:[0-9a-f-]+)"', text).group(1)
    with pytest.raises(FormatError, match="does not resolve"):
        validate_fhir_json(text.replace(f'"fullUrl": "{first_ref}"',
                                        '"fullUrl": "urn:uuid:'
                                        '00000000-0000-0000-0000-000000000000"'))


# -- PDF -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pdf_pages(plan):
    reader = PdfReader(io.BytesIO(plan_to_pdf(plan)))
    return [" ".join(p.extract_text().split()) for p in reader.pages]


def test_pdf_has_one_page_per_phase_plus_warning_page(plan, pdf_pages):
    assert len(pdf_pages) == len(plan.phases) + 1
    for ph, text in zip(plan.phases, pdf_pages, strict=False):
        assert f"Phase {ph.index} of {len(plan.phases)}" in text
        assert format_date(ph.start) in text
    assert "Warning signs" in pdf_pages[-1]


def test_pdf_holds_every_rule_with_the_patients_dates(plan, pdf_pages):
    for dr in plan.rules:
        found = False
        for ph, text in zip(plan.phases, pdf_pages, strict=False):
            f = next((f for s in ph.statuses for f in s.findings if f.rule_id == dr.rule.id), None)
            if f is None:
                continue
            phrase = rule_date_phrase(plan, dr, f.state)
            assert " ".join(f"{dr.rule.text} {phrase}".split()) in text, (dr.rule.id, ph.index)
            found = True
        assert found, dr.rule.id
    joined = " ".join(pdf_pages)
    assert "Until Wed 17 Feb 2027." in joined          # 20 lb ceiling, last day (day 89)
    assert "from Fri 18 Dec 2026 if your doctor agrees; it ends by Fri 1 Jan 2027" in joined
    assert "Until Fri 27 Nov 2026: ask your doctor first." in joined  # driving, discharge + 6


def test_pdf_shows_patient_disclaimer_red_flags_and_followups(plan, pdf_pages):
    for text in pdf_pages:
        assert "Test Patient" in text and "surgery 20 Nov 2026" in text
        assert "not a medical device" in text
    last = pdf_pages[-1]
    for flag in plan.protocol.red_flags:
        assert " ".join(flag.text.split()) in last
    for fu in plan.followups:
        assert f"{fu.followup.label}: {format_date(fu.due)}" in last
    assert "Follow your own clinic's instructions" in last


def test_pdf_body_type_is_at_least_14_pt(plan):
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(plan_to_pdf(plan)))
    sizes = []

    def visitor(text, cm, tm, font_dict, font_size):
        if text.strip():
            sizes.append(font_size * tm[0])

    reader.pages[0].extract_text(visitor_text=visitor)
    body = [s for s in sizes if s < 100]
    assert min(body) >= 11  # footer disclaimer line
    assert sorted(body)[len(body) // 2] >= 14  # the body (median) is 14 pt or more


def test_pdf_is_deterministic(plan):
    assert plan_to_pdf(plan) == plan_to_pdf(plan)


def test_ics_utc_reminders_use_utc_form(protocol):
    from kypho.aftercare import Patient, make_plan

    plan = make_plan(Patient("u", date(2026, 11, 20), date(2026, 11, 21)), protocol,
                     today=date(2026, 11, 25))
    assert plan.time_zone == "UTC"  # the protocol's default
    events, cal = _events(plan_to_ics(plan))
    start = events["Follow-up questionnaire (1 week after surgery)"].get("dtstart").dt
    assert start == datetime(2026, 11, 27, 9, 0, tzinfo=start.tzinfo)
    assert start.utcoffset() == timedelta(0)
    assert cal.walk("VTIMEZONE") == []  # RFC 5545 writes UTC as ...Z, no VTIMEZONE needed


def test_ics_reminders_keep_local_time_across_daylight_saving(protocol):
    """09:00 New York stays 09:00 local on both sides of the 14 March 2027 change (EST -> EDT)."""
    from datetime import UTC

    from kypho.aftercare import Patient, make_plan

    plan = make_plan(Patient("dst", date(2027, 3, 1), date(2027, 3, 2),
                             time_zone="America/New_York"), protocol, today=date(2026, 11, 25))
    events, cal = _events(plan_to_ics(plan))
    week = events["Follow-up questionnaire (1 week after surgery)"].get("dtstart").dt
    month = events["Follow-up questionnaire (1 month after surgery)"].get("dtstart").dt
    assert (week.date(), week.time()) == (date(2027, 3, 8), time(9, 0))
    assert (month.date(), month.time()) == (date(2027, 4, 1), time(9, 0))
    assert week.astimezone(UTC) == datetime(2027, 3, 8, 14, 0, tzinfo=UTC)   # EST, UTC-5
    assert month.astimezone(UTC) == datetime(2027, 4, 1, 13, 0, tzinfo=UTC)  # EDT, UTC-4
    (tz,) = cal.walk("VTIMEZONE")
    assert str(tz.get("tzid")) == "America/New_York"
    assert {c.name for c in tz.subcomponents} == {"STANDARD", "DAYLIGHT"}
    # All-day windows stay floating dates, the same day in every time zone.
    drive = events["Driving: ask your doctor first"]
    assert drive.get("dtstart").params.get("VALUE") == "DATE"
    assert (drive.get("dtstart").dt, drive.get("dtend").dt) == (date(2027, 3, 1),
                                                                date(2027, 3, 9))
