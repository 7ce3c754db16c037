"""iCalendar export of an after-care plan (RFC 5545, via the ``icalendar`` package).

* Restriction windows are all-day events (``DTSTART;VALUE=DATE`` .. ``DTEND`` exclusive); where
  the instructions give a range, a second all-day event covers "may end: ask your doctor".
* Questionnaire due dates and "ask your doctor" reminders are timed events at the protocol's
  reminder time in the patient's time zone (``DTSTART;TZID=...``, with a ``VTIMEZONE``) with a
  display alarm.
* UIDs and DTSTAMPs derive from the patient id, the dates and the protocol version, so exporting
  the same plan twice gives byte-identical files.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event

from kypho.aftercare.engine import AftercarePlan, DatedRule, format_date
from kypho.core.atomic import write_bytes_atomic
from kypho.report import DISCLAIMER

__all__ = ["PRODID", "plan_to_ics", "write_ics"]

PRODID = "-//kypho//aftercare//EN"


def _uid(plan: AftercarePlan, key: str) -> str:
    p = plan.patient
    text = "|".join((p.patient_id, p.surgery.isoformat(), p.discharge.isoformat(),
                     plan.protocol.id, plan.protocol.version, key))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32] + "@kypho"


def _short(plan: AftercarePlan, dr: DatedRule) -> str:
    rule = dr.rule
    act = plan.protocol.activity(rule.activity)
    name = act.name if act else rule.activity
    if rule.limit is not None:
        return f"{name}: no more than {rule.limit.describe()}"
    label = {"limited": "limited", "avoid": "avoid", "ask_doctor": "ask your doctor first",
             "encouraged": "encouraged", "allowed": "allowed"}[rule.status]
    return f"{name}: {label}"


def plan_to_ics(plan: AftercarePlan) -> bytes:
    """The plan as iCalendar bytes (deterministic)."""
    p = plan.patient
    tz = ZoneInfo(plan.time_zone)
    stamp = datetime(p.surgery.year, p.surgery.month, p.surgery.day, tzinfo=UTC)
    cal = Calendar.new(prodid=PRODID, uid=_uid(plan, "calendar"),
                       name=f"After-care plan {p.patient_id}",
                       description=f"{plan.protocol.title}. {DISCLAIMER}")
    cal.add("x-wr-timezone", plan.time_zone)

    def add_event(key: str, summary: str, start: date | datetime, end: date | datetime | None,
                  description: str, *, alarm: bool = False) -> None:
        ev = Event.new(summary=summary, start=start, end=end, uid=_uid(plan, key), stamp=stamp,
                       description=description + "\n\n" + DISCLAIMER, categories=["after-care"])
        if alarm:
            al = Alarm()
            al.add("action", "DISPLAY")
            al.add("description", summary)
            al.add("trigger", timedelta(0))
            ev.add_component(al)
        cal.add_component(ev)

    ongoing = []
    for dr in plan.rules:
        rule = dr.rule
        if rule.when is not None:
            ongoing.append(rule.text)
            continue
        if dr.end_latest is None:
            ongoing.append(rule.text)
            continue
        assert dr.end_earliest is not None
        firm_end = dr.end_earliest
        if dr.start_earliest != dr.start_latest:
            prev = plan.dated(rule.follows) if rule.follows else None
            cond = " if your doctor agrees" if prev is not None and prev.rule.released_by else ""
            since = (f"From {format_date(dr.start_earliest)} at the earliest{cond}, by "
                     f"{format_date(dr.start_latest)} at the latest,")
        else:
            since = f"From {format_date(dr.start_earliest)}"
        add_event(f"window:{rule.id}", _short(plan, dr), dr.start_earliest, firm_end,
                  f"{rule.text}\n{since} up to and including "
                  f"{format_date(firm_end - timedelta(days=1))}.")
        if dr.end_earliest != dr.end_latest:
            agree = "if your doctor agrees" if rule.released_by else "ask your doctor"
            add_event(f"may-end:{rule.id}", f"{_short(plan, dr)} - may end ({agree})",
                      dr.end_earliest, dr.end_latest,
                      f"{rule.text}\nThis may end from {format_date(dr.end_earliest)} at the "
                      f"earliest ({agree}); by {format_date(dr.end_latest)} at the latest.")
            if rule.released_by:
                clearance = plan.protocol.clearance(rule.released_by)
                at = datetime.combine(dr.end_earliest, plan.protocol.reminder_time, tzinfo=tz)
                name = _short(plan, dr).split(":")[0]
                add_event(f"ask:{rule.id}", f"Ask your doctor: {name} (this may change from today)",
                          at, None,
                          f"{rule.text}\nFrom today this may end if your doctor agrees: "
                          f"{clearance.text if clearance else rule.released_by}", alarm=True)
    if ongoing:
        add_event("ongoing", "After-care starts: instructions without an end date",
                  p.surgery, p.surgery + timedelta(days=1), "\n".join(ongoing))
    for fu in plan.followups:
        names = ", ".join(plan.protocol.instrument(i).name for i in fu.followup.instruments)
        at = datetime.combine(fu.due, plan.protocol.reminder_time, tzinfo=tz)
        add_event(f"followup:{fu.followup.id}",
                  f"Follow-up questionnaire ({fu.followup.label} after surgery)", at, None,
                  f"Please fill in: {names}.", alarm=True)
    cal.add_missing_timezones(first_date=p.surgery - timedelta(days=366),
                              last_date=plan.horizon + timedelta(days=366))
    return cal.to_ical()


def write_ics(plan: AftercarePlan, path: str | Path) -> Path:
    """Write :func:`plan_to_ics` atomically."""
    return write_bytes_atomic(path, plan_to_ics(plan))
