"""The after-care engine: a patient's plan, each activity's status on any date, and answers.

For a :class:`Patient` (surgery and discharge dates, treated levels, pain medication, comfort,
doctor clearances) :func:`make_plan` resolves the protocol's rules to the patient's dates and cuts
the recovery into phases (one per change of any rule).  :func:`activity_status` gives an
activity's status on a date (encouraged, allowed, limited with its limit, ask your doctor, avoid)
with the reasons and rules; :func:`check` answers a request ("lift 15 lb", "drive") with a
:class:`Verdict` whose :attr:`Answer.exit_code` the CLI returns.

Reading of the rules (see also the default protocol's header):

* a rule is in force from its start up to the day before its end;
* inside an end range (``4-6 weeks``) the rule *may* have ended: restrictive answers become
  "ask your doctor", unless the doctor gave the rule's clearance; a clearance never ends a rule
  before its earliest end, so no limit loosens before its window;
* several rules in force combine to the most restrictive answer;
* a condition kypho was not told about (pain medication, comfort) is not assumed to be met: a
  rule that depends on it answers "not allowed" with the reason "not confirmed".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kypho.aftercare.errors import AftercareInputError, UnitError
from kypho.aftercare.protocol import (
    ACTIVITY_IDS,
    ACTIVITY_QUANTITY,
    FollowUp,
    Protocol,
    Rule,
    WalkingTarget,
    check_rule_windows,
    load_protocol,
)
from kypho.aftercare.units import Quantity, format_number, parse_quantity
from kypho.core.levels import parse_level
from kypho.core.params import parse_date
from kypho.errors import InvalidParameterError

__all__ = [
    "EXIT_CODES",
    "MAX_STAY_DAYS",
    "MAX_SURGERY_AHEAD_DAYS",
    "PLAN_HORIZON_DAYS",
    "ActivityStatus",
    "AftercarePlan",
    "Answer",
    "DatedFollowUp",
    "DatedRule",
    "DatedWalkingTarget",
    "Finding",
    "Patient",
    "Phase",
    "Request",
    "RuleState",
    "Status",
    "Verdict",
    "activity_status",
    "check",
    "day_status",
    "format_date",
    "make_plan",
    "today_in",
]

#: Model choice (not medical): a surgery date more than this many days after today is refused as a
#: typo ("dates in the far future").
MAX_SURGERY_AHEAD_DAYS = 366
#: Model choice (not medical): a discharge more than this many days after surgery is refused.
MAX_STAY_DAYS = 365
#: Model choice (not medical): the plan answers questions up to this many days after surgery.
PLAN_HORIZON_DAYS = 2 * 365

_PATIENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_date(d: date) -> str:
    """``Fri 18 Dec 2026`` (English, unambiguous across locales)."""
    return f"{_DAYS[d.weekday()]} {d.day} {_MONTHS[d.month - 1]} {d.year}"


class Status(StrEnum):
    """An activity's status on a day."""

    ENCOURAGED = "encouraged"
    ALLOWED = "allowed"
    LIMITED = "limited"
    ASK_DOCTOR = "ask_doctor"
    AVOID = "avoid"


_STATUS_RANK = {Status.ENCOURAGED: 0, Status.ALLOWED: 1, Status.LIMITED: 2, Status.ASK_DOCTOR: 3,
                Status.AVOID: 4}


class Verdict(StrEnum):
    """The answer to a request."""

    ALLOWED = "allowed"
    LIMITED = "limited"
    ASK_DOCTOR = "ask_doctor"
    NOT_ALLOWED = "not_allowed"


_VERDICT_RANK = {Verdict.ALLOWED: 0, Verdict.LIMITED: 1, Verdict.ASK_DOCTOR: 2,
                 Verdict.NOT_ALLOWED: 3}
#: Exit code of ``kypho aftercare check`` per verdict (2 is kept for bad input).
EXIT_CODES: Mapping[Verdict, int] = MappingProxyType({
    Verdict.ALLOWED: 0, Verdict.NOT_ALLOWED: 1, Verdict.ASK_DOCTOR: 3, Verdict.LIMITED: 4,
})
_HEADLINE = {Verdict.ALLOWED: "Yes", Verdict.NOT_ALLOWED: "No",
             Verdict.ASK_DOCTOR: "Ask your doctor", Verdict.LIMITED: "Limited"}


class RuleState(StrEnum):
    """Where a rule stands on a date."""

    NOT_STARTED = "not_started"
    STARTING = "starting"  # inside its start range
    IN_FORCE = "in_force"
    ENDING = "ending"  # inside its end range: may have ended
    ENDED = "ended"
    RELEASED = "released"  # ended by the doctor's clearance


_ACTIVE = (RuleState.STARTING, RuleState.IN_FORCE, RuleState.ENDING)


def today_in(time_zone: str) -> date:
    """Today's date in ``time_zone``."""
    return datetime.now(_zone(time_zone)).date()


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise AftercareInputError(f"unknown time zone {name!r} (use an IANA name such as "
                                  "Europe/Berlin)") from None


def _as_date(value: object, what: str) -> date:
    """A date from a ``date``, ``datetime`` or ``YYYY-MM-DD`` text, within kypho's calendar.

    Dates outside :data:`kypho.core.params.DATE_MIN` .. ``DATE_MAX`` (1900-2199) are refused:
    ``0001-01-01`` would overflow the date arithmetic of the plan.
    """
    if isinstance(value, datetime):
        value = value.date()
    if not isinstance(value, date | str):
        raise AftercareInputError(f"{what}: expected a date, got {value!r}")
    try:
        return parse_date(value, what)
    except AftercareInputError:
        raise
    except InvalidParameterError as exc:
        raise AftercareInputError(str(exc)) from None


@dataclass(frozen=True)
class Patient:
    """What the engine needs to know about a patient.

    Parameters
    ----------
    patient_id : str
        Identifier (letters, digits, ``_.-``; at most 64 characters); used in file names and UIDs.
    surgery, discharge : date
        Day of surgery and day of discharge from hospital (``discharge >= surgery``).
    levels : tuple of str
        Treated vertebral levels (``("T12", "L1")``), shown on the handout.
    name : str
        Name to print on the handout (optional).
    on_pain_medication, comfortable : bool or None
        The patient's own report; ``None`` when unknown.
    clearances : mapping of str to date
        Clearances the doctor has given (protocol clearance id -> date given).
    time_zone : str or None
        IANA time zone of the patient; ``None`` uses the protocol's.
    """

    patient_id: str
    surgery: date
    discharge: date
    levels: tuple[str, ...] = ()
    name: str = ""
    on_pain_medication: bool | None = None
    comfortable: bool | None = None
    clearances: Mapping[str, date] = field(default_factory=dict)
    time_zone: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.patient_id, str) or not _PATIENT_ID.match(self.patient_id):
            raise AftercareInputError(
                f"patient id {self.patient_id!r}: use 1-64 letters, digits, '_', '.' or '-'"
            )
        surgery = _as_date(self.surgery, "surgery date")
        discharge = _as_date(self.discharge, "discharge date")
        if discharge < surgery:
            raise AftercareInputError(
                f"discharge date {discharge.isoformat()} is before the surgery date "
                f"{surgery.isoformat()}"
            )
        if (discharge - surgery).days > MAX_STAY_DAYS:
            raise AftercareInputError(
                f"discharge date {discharge.isoformat()} is more than {MAX_STAY_DAYS} days after "
                f"surgery ({surgery.isoformat()}); check the dates"
            )
        try:
            levels = tuple(parse_level(lv) for lv in self.levels)
        except InvalidParameterError as exc:
            raise AftercareInputError(f"treated levels: {exc}") from None
        clear: dict[str, date] = {}
        for key, when in dict(self.clearances).items():
            d = _as_date(when, f"clearance {key!r}")
            if d < surgery:
                raise AftercareInputError(
                    f"clearance {key!r} dated {d.isoformat()} is before surgery "
                    f"({surgery.isoformat()})"
                )
            clear[str(key)] = d
        for flag in ("on_pain_medication", "comfortable"):
            value = getattr(self, flag)
            if value is not None and not isinstance(value, bool):
                raise AftercareInputError(f"{flag}: expected true, false or unknown (null), "
                                          f"got {value!r}")
        if not isinstance(self.name, str):
            raise AftercareInputError(f"patient name: expected text, got {self.name!r}")
        if self.time_zone is not None:
            if not isinstance(self.time_zone, str):
                raise AftercareInputError(f"time zone: expected text, got {self.time_zone!r}")
            _zone(self.time_zone)
        object.__setattr__(self, "surgery", surgery)
        object.__setattr__(self, "discharge", discharge)
        object.__setattr__(self, "levels", levels)
        object.__setattr__(self, "clearances", MappingProxyType(clear))


@dataclass(frozen=True)
class DatedRule:
    """A rule resolved to a patient's dates (ends exclusive: the first day it no longer holds)."""

    rule: Rule
    start_earliest: date
    start_latest: date
    end_earliest: date | None
    end_latest: date | None


@dataclass(frozen=True)
class DatedFollowUp:
    """A follow-up time point with its due date."""

    followup: FollowUp
    due: date


@dataclass(frozen=True)
class DatedWalkingTarget:
    """A clinic-set walking target with its dates (``end`` exclusive, ``None``: open)."""

    target: WalkingTarget
    start: date
    end: date | None


@dataclass(frozen=True)
class Request:
    """A question: an activity and, for lifting, sitting and car rides, an amount.

    Build with the class methods: ``Request.lift("15lb")``, ``Request.drive()``,
    ``Request.sit("3h")``, ``Request.car_ride("2.5h")``, ``Request.bend_twist()``,
    ``Request.fall_contact()``, ``Request.walk()``.
    """

    activity: str
    amount: Quantity | None = None

    def __post_init__(self) -> None:
        if self.activity not in ACTIVITY_IDS:
            raise AftercareInputError(
                f"unknown activity {self.activity!r} (known: {', '.join(ACTIVITY_IDS)})"
            )
        kind = ACTIVITY_QUANTITY.get(self.activity)
        if self.amount is not None:
            if kind is None:
                raise UnitError(f"{self.activity}: takes no amount, got {self.amount}")
            object.__setattr__(
                self, "amount", parse_quantity(self.amount, kind=kind, what=self.activity)
            )

    @classmethod
    def lift(cls, amount: str | Quantity) -> Request:
        """Lift ``amount`` (``"15lb"``, ``"7 kg"``)."""
        return cls("lift", parse_quantity(amount, kind="mass", what="lift"))

    @classmethod
    def sit(cls, duration: str | Quantity) -> Request:
        """Sit upright for ``duration`` (``"3h"``, ``"45min"``)."""
        return cls("sit", parse_quantity(duration, kind="duration", what="sit"))

    @classmethod
    def car_ride(cls, duration: str | Quantity) -> Request:
        """Ride in a car for ``duration``."""
        return cls("car_ride", parse_quantity(duration, kind="duration", what="car ride"))

    @classmethod
    def drive(cls) -> Request:
        """Drive a car."""
        return cls("drive")

    @classmethod
    def bend_twist(cls) -> Request:
        """Bend or twist the neck or lower back."""
        return cls("bend_twist")

    @classmethod
    def fall_contact(cls) -> Request:
        """Do an activity with a risk of a fall or physical contact."""
        return cls("fall_contact")

    @classmethod
    def walk(cls) -> Request:
        """Walk."""
        return cls("walk")

    def describe(self) -> str:
        """``"lift 15 lb (6.8 kg)"``."""
        words = {"lift": "lift", "sit": "sit upright for", "car_ride": "ride in a car for",
                 "drive": "drive", "bend_twist": "bend or twist", "walk": "walk",
                 "fall_contact": "do an activity with a risk of a fall or physical contact"}
        if self.amount is None:
            return words[self.activity]
        return f"{words[self.activity]} {_amount_text(self.amount)}"


def _amount_text(q: Quantity) -> str:
    other = {"lb": "kg", "kg": "lb"}.get(q.unit)
    if other is None:
        return str(q)
    return f"{q} ({format_number(q.to(other))} {other})"


@dataclass(frozen=True)
class Finding:
    """What one rule says on a date.

    ``status`` is the rule's status adjusted for its state (a limit inside its end range becomes
    "ask your doctor"); ``verdict`` is set when a request was asked.
    """

    rule_id: str
    text: str
    state: RuleState
    status: Status
    condition_met: bool | None
    explanation: str
    verdict: Verdict | None = None


@dataclass(frozen=True)
class ActivityStatus:
    """An activity's status on a date, with its limit, reasons and conditions.

    ``status`` counts the rules whose conditions are known to hold; ``conditions`` lists what
    must also be true for that status when kypho was not told (``"only when it is
    comfortable"``).
    """

    activity: str
    name: str
    on: date
    status: Status
    limit: str | None
    findings: tuple[Finding, ...]
    summary: str
    conditions: tuple[str, ...] = ()

    @property
    def rule_ids(self) -> tuple[str, ...]:
        """Rules in force (or conditional) on this date."""
        return tuple(f.rule_id for f in self.findings)


@dataclass(frozen=True)
class Answer:
    """The answer to a :class:`Request` on a date."""

    request: Request
    on: date
    verdict: Verdict
    status: Status
    reason: str
    findings: tuple[Finding, ...]

    @property
    def exit_code(self) -> int:
        """0 allowed, 1 not allowed, 3 ask your doctor, 4 limited (see :data:`EXIT_CODES`)."""
        return EXIT_CODES[self.verdict]

    @property
    def rule_ids(self) -> tuple[str, ...]:
        """Rules that decided the answer."""
        return tuple(f.rule_id for f in self.findings if f.verdict == self.verdict)


@dataclass(frozen=True)
class Phase:
    """A stretch of days over which no rule changes (``end`` exclusive; ``None`` for the last)."""

    index: int
    start: date
    end: date | None
    statuses: tuple[ActivityStatus, ...]

    @property
    def last_day(self) -> date | None:
        """Last day of the phase (inclusive)."""
        return None if self.end is None else self.end - timedelta(days=1)


@dataclass(frozen=True, eq=False)
class AftercarePlan:
    """A patient's after-care plan: the protocol resolved to the patient's dates."""

    patient: Patient
    protocol: Protocol
    rules: tuple[DatedRule, ...]
    phases: tuple[Phase, ...]
    followups: tuple[DatedFollowUp, ...]
    walking_targets: tuple[DatedWalkingTarget, ...]
    time_zone: str

    def dated(self, rule_id: str) -> DatedRule:
        """The dated rule with this id."""
        for dr in self.rules:
            if dr.rule.id == rule_id:
                return dr
        raise KeyError(rule_id)

    def phase_on(self, on: date) -> Phase:
        """The phase containing ``on``."""
        for ph in self.phases:
            if ph.start <= on and (ph.end is None or on < ph.end):
                return ph
        raise AftercareInputError(f"{on.isoformat()} is before surgery")

    @property
    def horizon(self) -> date:
        """Last date the plan answers questions for."""
        return self.patient.surgery + timedelta(days=PLAN_HORIZON_DAYS)


# ------------------------------------------------------------------------------------------------
# Building the plan
# ------------------------------------------------------------------------------------------------
def make_plan(patient: Patient, protocol: Protocol | None = None, *,
              today: date | None = None) -> AftercarePlan:
    """Resolve ``protocol`` (default: kypho's) to ``patient``'s dates.

    Raises
    ------
    AftercareInputError
        Surgery far in the future (more than :data:`MAX_SURGERY_AHEAD_DAYS` after ``today``), a
        clearance the protocol does not define, or an unknown time zone.
    ProtocolError
        The protocol's windows are reversed or overlap for this patient's dates.
    """
    protocol = protocol or load_protocol()
    tz = patient.time_zone or protocol.time_zone
    _zone(tz)
    today = today or today_in(tz)
    if (patient.surgery - today).days > MAX_SURGERY_AHEAD_DAYS:
        raise AftercareInputError(
            f"surgery date {patient.surgery.isoformat()} is far in the future (more than "
            f"{MAX_SURGERY_AHEAD_DAYS} days after today, {today.isoformat()})"
        )
    for key, when in patient.clearances.items():
        if protocol.clearance(key) is None:
            known = ", ".join(c.id for c in protocol.clearances) or "none"
            raise AftercareInputError(f"unknown clearance {key!r} (this protocol has: {known})")
        if (when - today).days > 0:
            raise AftercareInputError(f"clearance {key!r} is dated in the future "
                                      f"({when.isoformat()}, today is {today.isoformat()})")
    check_rule_windows(protocol.rules, patient.surgery, patient.discharge)
    rules = tuple(_date_rule(r, patient) for r in protocol.rules)
    followups = tuple(
        DatedFollowUp(fu, fu.at.resolve(patient.surgery, patient.discharge)[0])
        for fu in protocol.followups
    )
    targets = tuple(
        DatedWalkingTarget(t, t.start.apply(patient.surgery),
                           t.until.apply(patient.surgery) if t.until else None)
        for t in protocol.walking.targets
    )
    plan = AftercarePlan(patient, protocol, rules, (), followups, targets, tz)
    return replace(plan, phases=_phases(plan))


def _date_rule(rule: Rule, patient: Patient) -> DatedRule:
    s0, s1 = rule.start.resolve(patient.surgery, patient.discharge)
    e0 = e1 = None
    if rule.end is not None:
        e0, e1 = rule.end.resolve(patient.surgery, patient.discharge)
    return DatedRule(rule, s0, s1, e0, e1)


def _phases(plan: AftercarePlan) -> tuple[Phase, ...]:
    surgery = plan.patient.surgery
    cuts = {surgery}
    for dr in plan.rules:
        cuts.update(d for d in (dr.start_earliest, dr.start_latest, dr.end_earliest,
                                dr.end_latest) if d is not None and d > surgery)
    for key, when in plan.patient.clearances.items():
        for dr in plan.rules:
            if dr.rule.released_by == key:
                early = None if dr.rule.status == "ask_doctor" else dr.end_earliest
                cuts.add(max(when, early or when))
    ordered = sorted(c for c in cuts if c <= plan.horizon)
    phases = []
    for i, start in enumerate(ordered):
        end = ordered[i + 1] if i + 1 < len(ordered) else None
        phases.append(Phase(i + 1, start, end, day_status(plan, start)))
    return tuple(phases)


# ------------------------------------------------------------------------------------------------
# Evaluating rules
# ------------------------------------------------------------------------------------------------
def _check_date(plan: AftercarePlan, on: object) -> date:
    d = _as_date(on, "date")
    if d < plan.patient.surgery:
        raise AftercareInputError(
            f"date {d.isoformat()} is before surgery ({plan.patient.surgery.isoformat()})"
        )
    if d > plan.horizon:
        raise AftercareInputError(
            f"date {d.isoformat()} is far in the future: the plan covers "
            f"{PLAN_HORIZON_DAYS} days after surgery (to {plan.horizon.isoformat()})"
        )
    return d


def _released_on(dr: DatedRule, clearances: Mapping[str, date]) -> date | None:
    if dr.rule.released_by is None:
        return None
    return clearances.get(dr.rule.released_by)


def rule_state(plan: AftercarePlan, dr: DatedRule, on: date,
               clearances: Mapping[str, date]) -> RuleState:
    """Where ``dr`` stands on ``on`` given the doctor's ``clearances``."""
    rule = dr.rule
    if on < dr.start_earliest:
        return RuleState.NOT_STARTED
    if on < dr.start_latest:
        prev = plan.dated(rule.follows) if rule.follows else None
        if prev is None or rule_state(plan, prev, on, clearances) != RuleState.RELEASED:
            return RuleState.STARTING
    released = _released_on(dr, clearances)
    if dr.end_latest is None:
        if released is not None and released <= on:
            return RuleState.RELEASED
        return RuleState.IN_FORCE
    if on >= dr.end_latest:
        return RuleState.ENDED
    assert dr.end_earliest is not None
    if on >= dr.end_earliest:
        if released is not None and released <= on:
            return RuleState.RELEASED
        return RuleState.ENDING
    if rule.status == "ask_doctor" and released is not None and released <= on:
        return RuleState.RELEASED
    return RuleState.IN_FORCE


__all__ += ["rule_state"]


def _condition(cond: str | None, on_pain_medication: bool | None,
               comfortable: bool | None) -> bool | None:
    if cond is None:
        return True
    value = on_pain_medication if "pain_medication" in cond else comfortable
    if value is None:
        return None
    return value if not cond.startswith("not_") else not value


_CONDITION_TEXT = {
    "on_pain_medication": ("while you take pain medication",
                           "kypho was not told whether you take pain medication"),
    "not_on_pain_medication": ("when you do not take pain medication",
                               "kypho was not told whether you take pain medication"),
    "comfortable": ("when it is comfortable", "kypho was not told whether it is comfortable"),
    "not_comfortable": ("until it is comfortable",
                        "kypho was not told whether it is comfortable for you"),
}


def _window_text(plan: AftercarePlan, dr: DatedRule, state: RuleState,
                 clearances: Mapping[str, date]) -> str:
    rule = dr.rule
    agree = ", if your doctor agrees" if rule.released_by else ""
    if state == RuleState.STARTING:
        prev = plan.dated(rule.follows) if rule.follows else None
        cond = ", if your doctor agrees" if prev is not None and prev.rule.released_by else ""
        return (f"This starts from {format_date(dr.start_earliest)} "
                f"({rule.start.describe()}) at the earliest{cond}, and by "
                f"{format_date(dr.start_latest)} at the latest.")
    if state == RuleState.NOT_STARTED:
        return f"This starts on {format_date(dr.start_earliest)}."
    if state == RuleState.ENDED:
        return f"This ended on {format_date(dr.end_latest)}." if dr.end_latest else ""
    if state == RuleState.RELEASED:
        given = _released_on(dr, clearances)
        early = None if rule.status == "ask_doctor" else dr.end_earliest
        from_day = max(d for d in (given, early) if d is not None)
        return f"Ended by your doctor's clearance from {format_date(from_day)}."
    if dr.end_latest is None:
        if rule.released_by:
            return "This applies until your doctor clears you."
        if rule.when is not None or rule.status in ("encouraged", "allowed"):
            return ""
        return "The instructions give no end date: ask your doctor."
    assert dr.end_earliest is not None
    if dr.end_earliest == dr.end_latest:
        last = dr.end_latest - timedelta(days=1)
        if rule.status == "ask_doctor":
            return (f"Until {format_date(last)} ask your doctor first; from "
                    f"{format_date(dr.end_latest)} ({rule.end.describe()}) this no longer "
                    f"applies.")  # type: ignore[union-attr]
        return (f"This applies up to and including {format_date(last)}; it ends on "
                f"{format_date(dr.end_latest)} "
                f"({rule.end.describe()}).")  # type: ignore[union-attr]
    end_desc = rule.end.describe()  # type: ignore[union-attr]
    by = f"it ends by {format_date(dr.end_latest)} at the latest ({end_desc})"
    if state == RuleState.ENDING:
        if rule.released_by:
            return (f"From {format_date(dr.end_earliest)} this may end if your doctor agrees; "
                    f"{by}. Until then it still applies unless your doctor has agreed.")
        return (f"From {format_date(dr.end_earliest)} this may have ended; {by}. "
                f"Until then, ask your doctor.")
    return (f"This applies up to and including "
            f"{format_date(dr.end_earliest - timedelta(days=1))}. From "
            f"{format_date(dr.end_earliest)} at the earliest it may end{agree}; {by}.")


def _base_verdict(rule: Rule, request: Request | None) -> tuple[Verdict, str]:
    status = rule.status
    if status in ("encouraged", "allowed"):
        return Verdict.ALLOWED, ""
    if status == "avoid":
        return Verdict.NOT_ALLOWED, ""
    if status == "ask_doctor":
        return Verdict.ASK_DOCTOR, ""
    limit = rule.limit
    if limit is None:
        return Verdict.LIMITED, "The instructions give no number for this limit."
    if request is None or request.amount is None:
        return Verdict.LIMITED, f"The limit is {limit.describe()}."
    amount = request.amount.base
    what = _amount_text(request.amount)
    if amount <= limit.low_quantity().base:
        return Verdict.ALLOWED, f"{what} is within the limit of {limit.describe()}."
    if amount <= limit.high_quantity().base:
        return Verdict.ASK_DOCTOR, (f"{what} is inside the range the instructions give "
                                    f"({limit.describe()}): ask your doctor which limit is yours.")
    return Verdict.NOT_ALLOWED, f"{what} is over the limit of {limit.describe()}."


def _evaluate(plan: AftercarePlan, activity: str, on: date, request: Request | None,
              on_pain_medication: bool | None, comfortable: bool | None,
              clearances: Mapping[str, date]) -> list[Finding]:
    findings = []
    for dr in plan.rules:
        if dr.rule.activity != activity:
            continue
        state = rule_state(plan, dr, on, clearances)
        if state not in _ACTIVE:
            continue
        rule = dr.rule
        met = _condition(rule.when, on_pain_medication, comfortable)
        if met is False:
            continue
        status = Status(rule.status)
        verdict, amount_text = _base_verdict(rule, request)
        restrictive = status in (Status.LIMITED, Status.AVOID, Status.ASK_DOCTOR)
        if state == RuleState.ENDING and restrictive:
            status = Status.ASK_DOCTOR
            if verdict != Verdict.ALLOWED:
                verdict = Verdict.ASK_DOCTOR
        parts = [rule.text, _window_text(plan, dr, state, clearances)]
        if rule.when is not None:
            applies, unknown = _CONDITION_TEXT[rule.when]
            if met is None:
                parts.append(f"Not confirmed: {unknown}.")
                if verdict != Verdict.ALLOWED:
                    verdict = Verdict.NOT_ALLOWED
            else:
                parts.append(f"This applies {applies}.")
        if amount_text:
            parts.append(amount_text)
        findings.append(Finding(rule.id, rule.text, state, status, met,
                                " ".join(p for p in parts if p),
                                verdict if request is not None else None))
    return findings


def _overrides(plan: AftercarePlan, on_pain_medication: object, comfortable: object,
               clearances: Mapping[str, date] | None) -> tuple[bool | None, bool | None,
                                                               Mapping[str, date]]:
    p = plan.patient
    med = p.on_pain_medication if on_pain_medication is _UNSET else on_pain_medication
    com = p.comfortable if comfortable is _UNSET else comfortable
    clear = dict(p.clearances)
    for key, when in (clearances or {}).items():
        if plan.protocol.clearance(key) is None:
            known = ", ".join(c.id for c in plan.protocol.clearances) or "none"
            raise AftercareInputError(f"unknown clearance {key!r} (this protocol has: {known})")
        given = _as_date(when, f"clearance {key!r}")
        if given < p.surgery:
            raise AftercareInputError(
                f"clearance {key!r} dated {given.isoformat()} is before surgery "
                f"({p.surgery.isoformat()})"
            )
        clear[key] = given
    return med, com, clear  # type: ignore[return-value]


_UNSET: object = object()

_ONLY_IF = {
    "on_pain_medication": "never while under the influence of pain medication",
    "not_on_pain_medication": "only while you take pain medication",
    "comfortable": "only when it is not comfortable",
    "not_comfortable": "only when it is comfortable",
}


def activity_status(plan: AftercarePlan, activity: str, on: date | str, *,
                    on_pain_medication: bool | object | None = _UNSET,
                    comfortable: bool | object | None = _UNSET,
                    clearances: Mapping[str, date] | None = None) -> ActivityStatus:
    """Status of ``activity`` on ``on`` with reasons; conditions default to the patient's."""
    on = _check_date(plan, on)
    med, com, clear = _overrides(plan, on_pain_medication, comfortable, clearances)
    act = plan.protocol.activity(activity)
    if activity not in ACTIVITY_IDS:
        raise AftercareInputError(f"unknown activity {activity!r} "
                                  f"(known: {', '.join(ACTIVITY_IDS)})")
    name = act.name if act else activity
    if act is None:
        return ActivityStatus(activity, name, on, Status.ASK_DOCTOR, None, (),
                              "Your clinic's protocol has no instruction about this: ask your "
                              "doctor.")
    findings = _evaluate(plan, activity, on, None, med, com, clear)
    decided = [f for f in findings if f.condition_met is not False]
    status = max((f.status for f in decided if f.condition_met is True),
                 key=_STATUS_RANK.__getitem__, default=Status.ALLOWED)
    limits = [
        (plan.dated(f.rule_id).rule.limit, f) for f in decided
        if f.condition_met is True and f.state != RuleState.ENDING
        and plan.dated(f.rule_id).rule.limit is not None
    ]
    limit_text = None
    if limits:
        lim = min((lm for lm, _ in limits), key=lambda lm: lm.high_quantity().base)
        limit_text = lim.describe()
    ending = [plan.dated(f.rule_id).rule for f in decided
              if f.condition_met is True and f.state == RuleState.ENDING]
    ending = [r for r in ending if r.limit is not None]
    if ending:
        old = min(ending, key=lambda r: r.limit.high_quantity().base)  # type: ignore[union-attr]
        if limit_text is None:
            old_limit = old.limit.describe()  # type: ignore[union-attr]
            limit_text = f"{old_limit} until it ends: ask your doctor"
        elif old.released_by:
            limit_text = (f"{old.limit.describe()}, or {limit_text} "  # type: ignore[union-attr]
                          "if your doctor agrees")
        else:
            limit_text = (f"{old.limit.describe()}, or {limit_text} "  # type: ignore[union-attr]
                          "once it has ended: ask your doctor")
    conditions = tuple(dict.fromkeys(
        _ONLY_IF[plan.dated(f.rule_id).rule.when]  # type: ignore[index]
        for f in findings if f.condition_met is None and f.status != Status.ENCOURAGED
        and f.status != Status.ALLOWED
    ))
    if not findings:
        summary = "No instruction limits this on this date."
    else:
        summary = " ".join(f.explanation for f in findings)
    return ActivityStatus(activity, name, on, status, limit_text, tuple(findings), summary,
                          conditions)


def day_status(plan: AftercarePlan, on: date | str, **conditions: object) -> tuple[
        ActivityStatus, ...]:
    """Status of every activity of the protocol on ``on``."""
    return tuple(activity_status(plan, a.id, on, **conditions)  # type: ignore[arg-type]
                 for a in plan.protocol.activities)


def check(plan: AftercarePlan, request: Request, on: date | str, *,
          on_pain_medication: bool | object | None = _UNSET,
          comfortable: bool | object | None = _UNSET,
          clearances: Mapping[str, date] | None = None) -> Answer:
    """Answer "may I ``request`` on ``on``?" with a verdict, the reason and the rules.

    Conditions (pain medication, comfort, clearances) default to the patient's; pass them to
    ask about another situation.
    """
    on = _check_date(plan, on)
    med, com, clear = _overrides(plan, on_pain_medication, comfortable, clearances)
    status = activity_status(plan, request.activity, on, on_pain_medication=med,
                             comfortable=com, clearances=clear)
    if plan.protocol.activity(request.activity) is None:
        return Answer(request, on, Verdict.ASK_DOCTOR, Status.ASK_DOCTOR,
                      f"Ask your doctor: {status.summary}", ())
    findings = _evaluate(plan, request.activity, on, request, med, com, clear)
    verdict = max((f.verdict for f in findings if f.verdict is not None),
                  key=_VERDICT_RANK.__getitem__, default=Verdict.ALLOWED)
    deciding = [f for f in findings if f.verdict == verdict]
    if not findings:
        reason = (f"{_HEADLINE[verdict]}: no instruction limits this on "
                  f"{format_date(on)}.")
    else:
        if verdict == Verdict.ALLOWED:
            deciding = findings
        reason = f"{_HEADLINE[verdict]}: " + " ".join(f.explanation for f in deciding)
    if verdict == Verdict.ALLOWED:
        context = _no_longer_applies(plan, request.activity, on, med, com, clear)
        if context:
            reason += " " + context
    return Answer(request, on, verdict, status.status, reason, tuple(findings))


_REPORTED = {
    "on_pain_medication": "you report that you take no pain medication",
    "not_on_pain_medication": "you report that you take pain medication",
    "comfortable": "you report that it is not comfortable",
    "not_comfortable": "you report that it is comfortable",
}


def _no_longer_applies(plan: AftercarePlan, activity: str, on: date,
                       on_pain_medication: bool | None, comfortable: bool | None,
                       clearances: Mapping[str, date]) -> str:
    """Why the activity's other rules do not apply on ``on`` (ended, cleared, condition)."""
    notes = []
    for dr in plan.rules:
        rule = dr.rule
        if rule.activity != activity or rule.status in ("encouraged", "allowed"):
            continue
        state = rule_state(plan, dr, on, clearances)
        if state == RuleState.ENDED:
            notes.append(f"'{rule.text}' no longer applies: it ended on "
                         f"{format_date(dr.end_latest)}.")  # type: ignore[arg-type]
        elif state == RuleState.RELEASED:
            why = _window_text(plan, dr, state, clearances)
            notes.append(f"'{rule.text}' no longer applies: {why[:1].lower()}{why[1:]}")
        elif state in _ACTIVE and _condition(rule.when, on_pain_medication,
                                             comfortable) is False:
            notes.append(f"'{rule.text}' does not apply now: "
                         f"{_REPORTED[rule.when]}.")  # type: ignore[index]
    return " ".join(notes)
