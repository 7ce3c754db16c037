"""After-care protocols as data: the schema, loading and validation.

A protocol is a TOML file (``schema = "kypho-aftercare-protocol/1"``) holding the clinic's
after-care instructions as rules with time windows, quantities with units, conditions, doctor
clearances, the patient-facing text, follow-up questionnaires, red flags and a walking programme.
The default protocol (``default_protocol.toml``, shipped with kypho) encodes the clinic's
instructions of kypho issue 6 and nothing else; see ``docs/references/aftercare.md``.

A broken or contradictory protocol raises :class:`~kypho.aftercare.errors.ProtocolError` whose
message names the file and the field (``rules[2].limit.unit``).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import itertools
import math
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, time, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema

from kypho.aftercare.errors import ProtocolError, UnitError
from kypho.aftercare.units import UNITS, Quantity, QuantityKind, format_number, to_fraction
from kypho.core.reading import MAX_JSON_DEPTH, decode_text, json_depth, read_bytes_bounded
from kypho.errors import FormatError, InputFileError

__all__ = [
    "ACTIVITY_IDS",
    "ACTIVITY_QUANTITY",
    "ANCHORS",
    "CONDITIONS",
    "MAX_PROTOCOL_BYTES",
    "PROTOCOL_JSON_SCHEMA",
    "SCHEMA_ID",
    "STATUSES",
    "Activity",
    "Boundary",
    "Clearance",
    "FollowUp",
    "Instrument",
    "Limit",
    "Offset",
    "Protocol",
    "RedFlag",
    "Rule",
    "WalkingSettings",
    "WalkingTarget",
    "add_months",
    "check_rule_windows",
    "default_protocol_text",
    "load_protocol",
    "parse_protocol",
]

SCHEMA_ID = "kypho-aftercare-protocol/1"
#: Largest protocol file read, bytes.  Model choice: the default protocol takes about 20 kB.
MAX_PROTOCOL_BYTES = 1 << 20

Anchor = Literal["surgery", "discharge"]
ANCHORS: tuple[str, ...] = ("surgery", "discharge")

#: Activities the engine answers questions about.
ACTIVITY_IDS: tuple[str, ...] = (
    "walk", "lift", "sit", "car_ride", "drive", "bend_twist", "fall_contact",
)  # fmt: skip
#: The kind of amount a question about an activity carries (others carry none).
ACTIVITY_QUANTITY: Mapping[str, QuantityKind] = {
    "lift": "mass", "sit": "duration", "car_ride": "duration",
}  # fmt: skip
#: Conditions a rule can depend on (the patient's own report).
CONDITIONS: tuple[str, ...] = (
    "on_pain_medication", "not_on_pain_medication", "comfortable", "not_comfortable",
)  # fmt: skip
#: Rule statuses, least to most restrictive.
STATUSES: tuple[str, ...] = ("encouraged", "allowed", "limited", "ask_doctor", "avoid")

_OFFSET_RE = re.compile(r"^\s*(\d{1,4})\s*(d|w|mo)\s*$")
_OFFSET_PATTERN = r"^\s*\d{1,4}\s*(d|w|mo)\s*$"
_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_UNIT_WORDS = {"d": ("day", "days"), "w": ("week", "weeks"), "mo": ("month", "months")}


def add_months(d: date, months: int) -> date:
    """``d`` plus ``months`` calendar months, the day clamped to the month's length."""
    m0 = d.month - 1 + months
    year, month = d.year + m0 // 12, m0 % 12 + 1
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return date(year, month, min(d.day, (nxt - timedelta(days=1)).day))


@dataclass(frozen=True)
class Offset:
    """A time offset: ``amount`` days (``d``), weeks (``w``) or calendar months (``mo``)."""

    amount: int
    unit: Literal["d", "w", "mo"]

    @classmethod
    def parse(cls, text: str, *, where: str = "offset") -> Offset:
        """Parse ``"4w"``, ``"90d"``, ``"3mo"``."""
        m = _OFFSET_RE.match(str(text))
        if not m:
            raise ProtocolError(f"{where}: {text!r} is not an offset like 7d, 4w or 3mo")
        return cls(int(m.group(1)), m.group(2))  # type: ignore[arg-type]

    def apply(self, d: date) -> date:
        """The date ``self`` after ``d``."""
        if self.unit == "mo":
            return add_months(d, self.amount)
        return d + timedelta(days=self.amount * (7 if self.unit == "w" else 1))

    def day_bounds(self) -> tuple[int, int]:
        """Fewest and most days this offset can span (months: 28 to 31 days each)."""
        if self.unit == "mo":
            return 28 * self.amount, 31 * self.amount
        n = self.amount * (7 if self.unit == "w" else 1)
        return n, n

    def describe(self) -> str:
        """``"4 weeks"``, ``"1 day"``."""
        one, many = _UNIT_WORDS[self.unit]
        return f"{self.amount} {one if self.amount == 1 else many}"

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


@dataclass(frozen=True)
class Boundary:
    """A point in time after an anchor; a range when ``earliest`` and ``latest`` differ."""

    anchor: Anchor
    earliest: Offset
    latest: Offset

    @property
    def is_range(self) -> bool:
        """Whether the instructions give a range (``4-6 weeks``) rather than one time."""
        return self.earliest != self.latest

    def resolve(self, surgery: date, discharge: date) -> tuple[date, date]:
        """Earliest and latest date of this boundary for a patient."""
        base = surgery if self.anchor == "surgery" else discharge
        return self.earliest.apply(base), self.latest.apply(base)

    def describe(self) -> str:
        """``"4-6 weeks after surgery"``, ``"7 days after discharge"``, ``"the day of surgery"``."""
        if not self.is_range:
            if self.earliest.amount == 0:
                return f"the day of {self.anchor}"
            return f"{self.earliest.describe()} after {self.anchor}"
        if self.earliest.unit == self.latest.unit:
            _one, many = _UNIT_WORDS[self.latest.unit]
            span = f"{self.earliest.amount}-{self.latest.amount} {many}"
        else:
            span = f"{self.earliest.describe()} to {self.latest.describe()}"
        return f"{span} after {self.anchor}"


@dataclass(frozen=True)
class Limit:
    """An upper limit on an amount; a range ``low``-``high`` when the instructions give one."""

    low: Fraction
    high: Fraction
    unit: str
    approximate: bool = False

    @property
    def kind(self) -> QuantityKind:
        """``"mass"`` or ``"duration"``."""
        return UNITS[self.unit][0]

    @property
    def is_range(self) -> bool:
        """Whether the limit itself is a range (``5-10 lb``)."""
        return self.low != self.high

    def low_quantity(self) -> Quantity:
        """The lower end as a :class:`Quantity`."""
        return Quantity(self.low, self.unit)

    def high_quantity(self) -> Quantity:
        """The upper end as a :class:`Quantity`."""
        return Quantity(self.high, self.unit)

    def describe(self) -> str:
        """``"5-10 lb (2.3-4.5 kg)"``, ``"about 20 lb (9.1 kg)"``, ``"2 h"``."""
        about = "about " if self.approximate else ""
        main = (f"{format_number(self.low)}-{format_number(self.high)} {self.unit}" if self.is_range
                else f"{format_number(self.high)} {self.unit}")
        other = {"lb": "kg", "kg": "lb"}.get(self.unit)
        if other is None:
            return about + main
        lo = self.low_quantity().to(other)
        hi = self.high_quantity().to(other)
        alt = (f"{format_number(lo)}-{format_number(hi)} {other}" if self.is_range
               else f"{format_number(hi)} {other}")
        return f"{about}{main} ({alt})"


@dataclass(frozen=True)
class Activity:
    """An activity the patient can ask about, with its name and the clinic's full wording."""

    id: str
    name: str
    text: str = ""


@dataclass(frozen=True)
class Clearance:
    """Something only the doctor can decide (``lift_increase``), and what it means."""

    id: str
    text: str


@dataclass(frozen=True)
class Rule:
    """One instruction: an activity's status from ``start`` to ``end``.

    Parameters
    ----------
    id, activity, status, text : str
        Rule id; activity id; one of :data:`STATUSES`; the clinic's wording.
    start : Boundary
        When the rule starts (a range means "at the earliest ... at the latest").
    end : Boundary or None
        When it ends (exclusive); ``None`` when the instructions give no end.
    limit : Limit or None
        For ``status == "limited"``: the largest amount allowed (a range when the clinic gives one).
        ``None`` for a limit the instructions do not quantify ("prolonged").
    when : str or None
        A condition from :data:`CONDITIONS`; the rule applies only while it holds.
    released_by : str or None
        A clearance id: the doctor may end the rule early, but never before its earliest end.
    follows : str or None
        The rule this one takes over from (its start must equal that rule's end).
    interpretation : str
        How kypho reads vague wording (shown in the docs, not to the patient).
    """

    id: str
    activity: str
    status: str
    text: str
    start: Boundary
    end: Boundary | None = None
    limit: Limit | None = None
    when: str | None = None
    released_by: str | None = None
    follows: str | None = None
    interpretation: str = ""


@dataclass(frozen=True)
class Instrument:
    """A questionnaire score (pain 0-10, RMDQ 0-24, ODI 0-100)."""

    id: str
    name: str
    min: float
    max: float
    integer: bool
    better: Literal["lower", "higher"]
    source: str = ""


@dataclass(frozen=True)
class FollowUp:
    """A follow-up time point with the instruments to fill in."""

    id: str
    label: str
    at: Boundary
    instruments: tuple[str, ...]
    source: str = ""


@dataclass(frozen=True)
class RedFlag:
    """A symptom that means "call now"; ``action`` is ``"emergency"`` or ``"call_clinic"``."""

    id: str
    text: str
    action: Literal["emergency", "call_clinic"]
    source: str = ""


@dataclass(frozen=True)
class WalkingTarget:
    """A clinic-set walking target from ``start`` to ``until`` (days after surgery)."""

    start: Offset
    until: Offset | None
    minutes_per_day: float | None = None
    distance_km_per_day: float | None = None


@dataclass(frozen=True)
class WalkingSettings:
    """The walking programme: clinic-set targets (none in the default) and a note."""

    note: str = ""
    targets: tuple[WalkingTarget, ...] = ()
    max_weekly_increase_percent: float | None = None


@dataclass(frozen=True, eq=False)
class Protocol:
    """A validated after-care protocol (see the module docstring)."""

    id: str
    version: str
    title: str
    source: str
    time_zone: str
    reminder_time: time
    activities: tuple[Activity, ...]
    clearances: tuple[Clearance, ...]
    rules: tuple[Rule, ...]
    instruments: tuple[Instrument, ...]
    followups: tuple[FollowUp, ...]
    red_flags: tuple[RedFlag, ...]
    walking: WalkingSettings
    text: str
    path: Path | None = None

    @property
    def digest(self) -> str:
        """SHA-256 of the protocol text (identifies the exact version used for a plan)."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def activity(self, activity_id: str) -> Activity | None:
        """The activity with this id, or ``None``."""
        return next((a for a in self.activities if a.id == activity_id), None)

    def rule(self, rule_id: str) -> Rule:
        """The rule with this id."""
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    def rules_for(self, activity_id: str) -> tuple[Rule, ...]:
        """Rules of one activity, in file order."""
        return tuple(r for r in self.rules if r.activity == activity_id)

    def clearance(self, clearance_id: str) -> Clearance | None:
        """The clearance with this id, or ``None``."""
        return next((c for c in self.clearances if c.id == clearance_id), None)

    def instrument(self, instrument_id: str) -> Instrument:
        """The instrument with this id."""
        for i in self.instruments:
            if i.id == instrument_id:
                return i
        raise KeyError(instrument_id)


# ------------------------------------------------------------------------------------------------
# JSON schema (structure); the semantic checks follow in _build.
# ------------------------------------------------------------------------------------------------
_OFFSET = {"type": "string", "pattern": _OFFSET_PATTERN}
_ID = {"type": "string", "pattern": _ID_PATTERN}
_TEXT = {"type": "string", "minLength": 1}
_BOUNDARY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["anchor"],
    "properties": {
        "anchor": {"enum": list(ANCHORS)},
        "after": _OFFSET,
        "earliest": _OFFSET,
        "latest": _OFFSET,
    },
    "oneOf": [{"required": ["after"], "not": {"anyOf": [{"required": ["earliest"]},
                                                        {"required": ["latest"]}]}},
              {"required": ["earliest", "latest"], "not": {"required": ["after"]}}],
}
_NUMBER = {"type": "number"}

#: JSON schema of a protocol file (after TOML parsing).
PROTOCOL_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "kypho after-care protocol",
    "type": "object",
    "additionalProperties": False,
    "required": ["schema", "protocol", "activities", "rules"],
    "properties": {
        "schema": {"const": SCHEMA_ID},
        "protocol": {
            "type": "object",
            "additionalProperties": False,
            "required": ["id", "version", "title"],
            "properties": {
                "id": _ID, "version": _TEXT, "title": _TEXT, "source": {"type": "string"},
                "time_zone": _TEXT,
                "reminder_time": {"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d$"},
            },
        },
        "activities": {"type": "array", "minItems": 1, "items": {
            "type": "object", "additionalProperties": False, "required": ["id", "name"],
            "properties": {"id": _ID, "name": _TEXT, "text": {"type": "string"}},
        }},
        "clearances": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["id", "text"],
            "properties": {"id": _ID, "text": _TEXT},
        }},
        "rules": {"type": "array", "minItems": 1, "items": {
            "type": "object", "additionalProperties": False,
            "required": ["id", "activity", "status", "text", "start"],
            "properties": {
                "id": _ID, "activity": _ID, "status": {"enum": list(STATUSES)}, "text": _TEXT,
                "start": _BOUNDARY, "end": _BOUNDARY,
                "limit": {
                    "type": "object", "additionalProperties": False, "required": ["max", "unit"],
                    "properties": {
                        "max": {"oneOf": [_NUMBER, {"type": "array", "items": _NUMBER,
                                                    "minItems": 2, "maxItems": 2}]},
                        "unit": {"type": "string"},
                        "approximate": {"type": "boolean"},
                    },
                },
                "when": {"enum": list(CONDITIONS)},
                "released_by": _ID, "follows": _ID, "interpretation": {"type": "string"},
            },
        }},
        "walking": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "note": {"type": "string"},
                "max_weekly_increase_percent": _NUMBER,
                "targets": {"type": "array", "items": {
                    "type": "object", "additionalProperties": False, "required": ["from"],
                    "properties": {"from": _OFFSET, "until": _OFFSET,
                                   "minutes_per_day": _NUMBER, "distance_km_per_day": _NUMBER},
                    "anyOf": [{"required": ["minutes_per_day"]},
                              {"required": ["distance_km_per_day"]}],
                }},
            },
        },
        "instruments": {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["id", "name", "min", "max"],
            "properties": {"id": _ID, "name": _TEXT, "min": _NUMBER, "max": _NUMBER,
                           "integer": {"type": "boolean"}, "better": {"enum": ["lower", "higher"]},
                           "source": {"type": "string"}},
        }},
        "followup": {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["id", "label", "at", "instruments"],
            "properties": {"id": _ID, "label": _TEXT, "at": _BOUNDARY,
                           "instruments": {"type": "array", "items": _ID, "minItems": 1},
                           "source": {"type": "string"}},
        }},
        "red_flags": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["id", "text", "action"],
            "properties": {"id": _ID, "text": _TEXT,
                           "action": {"enum": ["emergency", "call_clinic"]},
                           "source": {"type": "string"}},
        }},
    },
}


def _where(path: Iterable[object]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def default_protocol_text() -> str:
    """The text of kypho's default protocol file (to copy and edit)."""
    return (importlib.resources.files("kypho.aftercare") / "default_protocol.toml").read_text(
        encoding="utf-8"
    )


def load_protocol(path: str | Path | None = None) -> Protocol:
    """Load and validate a protocol file; ``None`` loads kypho's default protocol.

    Raises
    ------
    InputFileError
        The file does not exist or cannot be read.
    ProtocolError
        The file is not valid TOML, breaks the schema, or its rules conflict.
    """
    if path is None:
        return parse_protocol(default_protocol_text(), source="default protocol")
    p = Path(path)
    if not os.path.lexists(p):
        raise InputFileError(f"protocol file {p} does not exist")
    data = read_bytes_bounded(p, MAX_PROTOCOL_BYTES, "protocol file")  # regular files only
    try:
        text = decode_text(data, p, "protocol file")
    except FormatError as exc:
        raise ProtocolError(f"protocol {exc}") from None
    return parse_protocol(text, source=str(p), path=p)


def parse_protocol(text: str, *, source: str = "<text>", path: Path | None = None) -> Protocol:
    """Parse and validate protocol TOML text (see :func:`load_protocol`)."""
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise ProtocolError(f"protocol {source}: arrays or tables nested {depth} deep; kypho "
                            f"reads at most {MAX_JSON_DEPTH}")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolError(f"protocol {source}: not valid TOML: {exc}") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of more than 4300 digits
        text_ = str(exc).split(":")[0]
        raise ProtocolError(f"protocol {source}: not valid TOML: {text_}") from None
    bad = _first_non_finite(data, ())
    if bad is not None:
        where, value = bad
        raise ProtocolError(f"protocol {source}: {_where(where)}: {value} is not a finite number")
    validator = jsonschema.Draft202012Validator(PROTOCOL_JSON_SCHEMA)
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.absolute_path), str(e.path)))
    if errors:
        err = errors[0]
        if err.validator == "oneOf" and list(err.absolute_path)[-1:] in (["start"], ["end"],
                                                                         ["at"]):
            msg = "give either 'after' or both 'earliest' and 'latest'"
        else:
            msg = err.message
        raise ProtocolError(f"protocol {source}: {_where(err.absolute_path)}: {msg}")
    try:
        return _build(data, text=text, path=path)
    except ProtocolError as exc:
        raise ProtocolError(f"protocol {source}: {exc}") from None


def _first_non_finite(value: Any, path: tuple[object, ...]) -> tuple[tuple[object, ...], float] | None:
    """Where the parsed TOML holds ``nan`` or ``inf`` (TOML allows them; kypho does not)."""
    if isinstance(value, float) and not math.isfinite(value):
        return path, value
    if isinstance(value, Mapping):
        items: Iterable[tuple[object, Any]] = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _first_non_finite(item, (*path, key))
        if found is not None:
            return found
    return None


def _boundary(raw: Mapping[str, Any], where: str) -> Boundary:
    if "after" in raw:
        off = Offset.parse(raw["after"], where=f"{where}.after")
        return Boundary(raw["anchor"], off, off)
    lo = Offset.parse(raw["earliest"], where=f"{where}.earliest")
    hi = Offset.parse(raw["latest"], where=f"{where}.latest")
    if lo.day_bounds()[0] > hi.day_bounds()[1] or (lo.unit == hi.unit and lo.amount > hi.amount):
        raise ProtocolError(f"{where}: reversed range: earliest {lo} is after latest {hi}")
    if lo.unit == hi.unit and lo.amount == hi.amount:
        raise ProtocolError(f"{where}: earliest equals latest ({lo}); use 'after' for one time")
    return Boundary(raw["anchor"], lo, hi)


def _unique(items: list[Mapping[str, Any]], section: str) -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item["id"] in seen:
            raise ProtocolError(f"{section}[{i}].id: duplicate id {item['id']!r}")
        seen.add(item["id"])


_NOMINAL = date(2001, 1, 1)


def _window_days(rule: Rule, surgery: date, discharge: date) -> tuple[date, date | None]:
    """Widest span a rule can be in force: from its earliest start to its latest end."""
    start = rule.start.resolve(surgery, discharge)[0]
    end = rule.end.resolve(surgery, discharge)[1] if rule.end is not None else None
    return start, end


def check_rule_windows(rules: Iterable[Rule], surgery: date, discharge: date) -> None:
    """Raise :class:`ProtocolError` for reversed, overlapping or contradictory windows.

    Run with nominal dates when a protocol is loaded and with the patient's dates by the plan.
    """
    rules = tuple(rules)
    by_id = {r.id: r for r in rules}
    for r in rules:
        if r.end is None:
            continue
        s_lo, s_hi = r.start.resolve(surgery, discharge)
        e_lo, e_hi = r.end.resolve(surgery, discharge)
        if e_hi <= s_lo:
            raise ProtocolError(
                f"rule {r.id!r}: reversed window: it ends ({r.end.describe()}) "
                f"before it starts ({r.start.describe()})"
            )
        if e_lo < s_hi:
            raise ProtocolError(
                f"rule {r.id!r}: overlapping windows: its start ({r.start.describe()}) "
                f"overlaps its end ({r.end.describe()})"
            )
    for r in rules:
        if r.follows is None:
            continue
        prev = by_id[r.follows]
        if prev.end is None or prev.end.resolve(surgery, discharge) != r.start.resolve(
            surgery, discharge
        ):
            raise ProtocolError(
                f"rule {r.id!r} follows {prev.id!r}, so it must start when {prev.id!r} ends "
                f"({prev.end.describe() if prev.end else 'never'}); it starts "
                f"{r.start.describe()}: the windows overlap or leave a gap"
            )
    permissive = {"encouraged", "allowed"}
    for i, a in enumerate(rules):
        for b in rules[i + 1:]:
            if a.activity != b.activity or a.when != b.when:
                continue
            if (a.status in permissive) == (b.status in permissive):
                continue
            a0, a1 = _window_days(a, surgery, discharge)
            b0, b1 = _window_days(b, surgery, discharge)
            if (a1 is None or b0 < a1) and (b1 is None or a0 < b1):
                raise ProtocolError(
                    f"rules {a.id!r} ({a.status}) and {b.id!r} ({b.status}) overlapping windows "
                    f"contradict each other for activity {a.activity!r}"
                )


def _build(data: Mapping[str, Any], *, text: str, path: Path | None) -> Protocol:
    meta = data["protocol"]
    tz = meta.get("time_zone", "UTC")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ProtocolError(f"protocol.time_zone: unknown time zone {tz!r}") from None
    hh, mm = (int(x) for x in meta.get("reminder_time", "09:00").split(":"))

    raw_acts = list(data["activities"])
    _unique(raw_acts, "activities")
    activities = []
    for i, a in enumerate(raw_acts):
        if a["id"] not in ACTIVITY_IDS:
            raise ProtocolError(
                f"activities[{i}].id: unknown activity {a['id']!r} "
                f"(known: {', '.join(ACTIVITY_IDS)})"
            )
        activities.append(Activity(a["id"], a["name"], a.get("text", "")))
    act_ids = {a.id for a in activities}

    raw_clear = list(data.get("clearances", []))
    _unique(raw_clear, "clearances")
    clearances = tuple(Clearance(c["id"], c["text"]) for c in raw_clear)
    clear_ids = {c.id for c in clearances}

    raw_rules = list(data["rules"])
    _unique(raw_rules, "rules")
    rule_ids = {r["id"] for r in raw_rules}
    rules: list[Rule] = []
    for i, r in enumerate(raw_rules):
        where = f"rules[{i}] ({r['id']})"
        if r["activity"] not in act_ids:
            known = ", ".join(sorted(act_ids))
            raise ProtocolError(f"{where}.activity: unknown activity {r['activity']!r} "
                                f"(defined: {known})")
        start = _boundary(r["start"], f"{where}.start")
        end = _boundary(r["end"], f"{where}.end") if "end" in r else None
        limit = None
        if "limit" in r:
            limit = _limit(r["limit"], r, where)
        if r.get("released_by") is not None:
            if r["released_by"] not in clear_ids:
                raise ProtocolError(f"{where}.released_by: unknown clearance {r['released_by']!r}"
                                    f" (defined: {', '.join(sorted(clear_ids)) or 'none'})")
            if end is not None and not end.is_range and r["status"] != "ask_doctor":
                raise ProtocolError(
                    f"{where}.released_by: a clearance may end a rule only inside its end range "
                    "(earliest-latest), or a rule with no end, or an 'ask_doctor' rule; this rule "
                    f"ends exactly {end.describe()}"
                )
        if r.get("follows") is not None:
            if r["follows"] not in rule_ids or r["follows"] == r["id"]:
                raise ProtocolError(f"{where}.follows: unknown rule {r['follows']!r}")
            prev = next(x for x in raw_rules if x["id"] == r["follows"])
            if prev["activity"] != r["activity"]:
                raise ProtocolError(f"{where}.follows: {r['follows']!r} is a rule of another "
                                    f"activity ({prev['activity']!r})")
        rules.append(Rule(
            id=r["id"], activity=r["activity"], status=r["status"], text=r["text"], start=start,
            end=end, limit=limit, when=r.get("when"), released_by=r.get("released_by"),
            follows=r.get("follows"), interpretation=r.get("interpretation", ""),
        ))
    # Validation only (not a medical number): a same-day discharge and a 30-day stay; the plan
    # checks again with the patient's own dates.
    check_rule_windows(rules, _NOMINAL, _NOMINAL)
    check_rule_windows(rules, _NOMINAL, _NOMINAL + timedelta(days=30))

    raw_instr = list(data.get("instruments", []))
    _unique(raw_instr, "instruments")
    instruments = []
    for i, ins in enumerate(raw_instr):
        if not ins["min"] < ins["max"]:
            raise ProtocolError(f"instruments[{i}] ({ins['id']}): min {ins['min']} must be below "
                                f"max {ins['max']}")
        instruments.append(Instrument(ins["id"], ins["name"], float(ins["min"]), float(ins["max"]),
                                      bool(ins.get("integer", False)), ins.get("better", "lower"),
                                      ins.get("source", "")))
    instr_ids = {i.id for i in instruments}

    raw_fu = list(data.get("followup", []))
    _unique(raw_fu, "followup")
    followups = []
    for i, fu in enumerate(raw_fu):
        where = f"followup[{i}] ({fu['id']})"
        for name in fu["instruments"]:
            if name not in instr_ids:
                raise ProtocolError(f"{where}.instruments: unknown instrument {name!r}")
        at = _boundary(fu["at"], f"{where}.at")
        if at.is_range:
            raise ProtocolError(f"{where}.at: a follow-up needs one due time ('after')")
        followups.append(FollowUp(fu["id"], fu["label"], at, tuple(fu["instruments"]),
                                  fu.get("source", "")))

    raw_flags = list(data.get("red_flags", []))
    _unique(raw_flags, "red_flags")
    red_flags = tuple(RedFlag(f["id"], f["text"], f["action"], f.get("source", ""))
                      for f in raw_flags)

    walking = _walking(data.get("walking", {}))
    return Protocol(
        id=meta["id"], version=meta["version"], title=meta["title"],
        source=meta.get("source", ""), time_zone=tz, reminder_time=time(hh, mm),
        activities=tuple(activities), clearances=clearances, rules=tuple(rules),
        instruments=tuple(instruments), followups=tuple(followups), red_flags=red_flags,
        walking=walking, text=text, path=path,
    )


def _limit(raw: Mapping[str, Any], rule: Mapping[str, Any], where: str) -> Limit:
    if rule["status"] != "limited":
        raise ProtocolError(f"{where}.limit: only a 'limited' rule has a limit "
                            f"(status is {rule['status']!r})")
    kind = ACTIVITY_QUANTITY.get(rule["activity"])
    if kind is None:
        raise ProtocolError(f"{where}.limit: activity {rule['activity']!r} takes no amount")
    unit = str(raw["unit"])
    if unit not in UNITS:
        raise ProtocolError(f"{where}.limit.unit: unknown unit {unit!r} "
                            f"(known: {', '.join(UNITS)})")
    if UNITS[unit][0] != kind:
        ok = ", ".join(u for u, (k, _) in UNITS.items() if k == kind)
        raise ProtocolError(f"{where}.limit.unit: {unit!r} is a {UNITS[unit][0]} unit; "
                            f"{rule['activity']!r} needs a {kind} unit ({ok})")
    mx = raw["max"]
    try:
        lo, hi = (to_fraction(mx[0]), to_fraction(mx[1])) if isinstance(mx, list) else (
            to_fraction(mx), to_fraction(mx))
    except UnitError as exc:
        raise ProtocolError(f"{where}.limit.max: {exc}") from None
    if lo < 0 or hi < 0:
        raise ProtocolError(f"{where}.limit.max: negative amount {format_number(min(lo, hi))} "
                            f"{unit}")
    if lo > hi:
        raise ProtocolError(f"{where}.limit.max: reversed range [{format_number(lo)}, "
                            f"{format_number(hi)}]")
    if isinstance(mx, list) and lo == hi:
        raise ProtocolError(f"{where}.limit.max: a range needs two different numbers")
    return Limit(lo, hi, unit, bool(raw.get("approximate", False)))


def _walking(raw: Mapping[str, Any]) -> WalkingSettings:
    targets: list[WalkingTarget] = []
    for i, t in enumerate(raw.get("targets", [])):
        where = f"walking.targets[{i}]"
        start = Offset.parse(t["from"], where=f"{where}.from")
        until = Offset.parse(t["until"], where=f"{where}.until") if "until" in t else None
        for key in ("minutes_per_day", "distance_km_per_day"):
            if key in t and t[key] < 0:
                raise ProtocolError(f"{where}.{key}: negative value {t[key]}")
        if until is not None and until.apply(_NOMINAL) <= start.apply(_NOMINAL):
            raise ProtocolError(f"{where}: reversed window: until {until} is not after "
                                f"from {start}")
        targets.append(WalkingTarget(start, until, t.get("minutes_per_day"),
                                     t.get("distance_km_per_day")))
    ordered = sorted(targets, key=lambda t: t.start.apply(_NOMINAL))
    for a, b in itertools.pairwise(ordered):
        if a.until is None or a.until.apply(_NOMINAL) > b.start.apply(_NOMINAL):
            raise ProtocolError(
                f"walking.targets: overlapping windows: the target from {a.start} "
                f"(until {a.until or 'no end'}) overlaps the target from {b.start}"
            )
    pct = raw.get("max_weekly_increase_percent")
    if pct is not None and pct <= 0:
        raise ProtocolError(f"walking.max_weekly_increase_percent: must be positive, got {pct}")
    return WalkingSettings(raw.get("note", ""), tuple(ordered), pct)
