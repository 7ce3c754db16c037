"""Quantities with units for the after-care engine: masses, durations and distances.

Values are kept as exact fractions so that a question asked in pounds and the same question asked
in kilograms get the same answer (no rounding at the limit).

Sources
-------
- 1 lb = 0.45359237 kg exactly: the definition of the international avoirdupois pound
  (international yard and pound agreement, 1959).
- 1 mi = 1609.344 m exactly: same agreement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Literal

from kypho.aftercare.errors import UnitError
from kypho.core.params import normalize_digits

__all__ = [
    "AMOUNT_DIGITS_LIMIT",
    "AMOUNT_EXPONENT_LIMIT",
    "KG_PER_LB",
    "UNITS",
    "Quantity",
    "QuantityKind",
    "format_number",
    "parse_quantity",
    "to_fraction",
]

QuantityKind = Literal["mass", "duration", "distance"]

#: Exact kilograms per pound (international avoirdupois pound, 1959).
KG_PER_LB = Fraction(45359237, 100000000)
#: Exact metres per international mile (1959).
_M_PER_MI = Fraction(1609344, 1000)

#: unit -> (kind, factor to the kind's base unit: kg, minutes, metres)
UNITS: dict[str, tuple[QuantityKind, Fraction]] = {
    "kg": ("mass", Fraction(1)),
    "lb": ("mass", KG_PER_LB),
    "h": ("duration", Fraction(60)),
    "min": ("duration", Fraction(1)),
    "km": ("distance", Fraction(1000)),
    "m": ("distance", Fraction(1)),
    "mi": ("distance", _M_PER_MI),
}

_ALIASES = {
    "kgs": "kg", "kilogram": "kg", "kilograms": "kg",
    "lbs": "lb", "pound": "lb", "pounds": "lb",
    "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
    "mins": "min", "minute": "min", "minutes": "min",
    "kilometre": "km", "kilometres": "km", "kilometer": "km", "kilometers": "km",
    "metre": "m", "metres": "m", "meter": "m", "meters": "m",
    "mile": "mi", "miles": "mi",
}  # fmt: skip

_QTY_RE = re.compile(
    r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z]+)\s*$", re.ASCII
)


#: Amounts are accepted from 10**-12 to 10**12 in any unit (zero too).  Model choice: a lifted
#: weight, a duration or a walk outside these bounds is a typo; the bound is checked on the
#: decimal exponent, so ``1e999999999`` is refused before any arithmetic (an exact fraction of
#: it would take forever to compute).
AMOUNT_EXPONENT_LIMIT = 12
#: Most significant digits accepted in an amount (model choice; a float has 17).
AMOUNT_DIGITS_LIMIT = 30


def _bounded(d: Decimal, value: object, what: str) -> Fraction:
    if d.is_zero():
        return Fraction(0)
    shown = str(value) if len(str(value)) <= 40 else str(value)[:40] + "..."
    if len(d.as_tuple().digits) > AMOUNT_DIGITS_LIMIT:
        raise UnitError(f"{what}: {shown!r} has more than {AMOUNT_DIGITS_LIMIT} digits")
    if not -AMOUNT_EXPONENT_LIMIT <= d.adjusted() <= AMOUNT_EXPONENT_LIMIT:
        size = "too large" if d.adjusted() > 0 else "too small"
        raise UnitError(
            f"{what}: {shown!r} is {size} (kypho reads amounts of 0 and from "
            f"1e-{AMOUNT_EXPONENT_LIMIT} to 1e{AMOUNT_EXPONENT_LIMIT})"
        )
    return Fraction(d)


def to_fraction(value: object, *, what: str = "value") -> Fraction:
    """Exact fraction of an int, float, Decimal, Fraction or decimal string.

    Amounts beyond :data:`AMOUNT_EXPONENT_LIMIT` orders of magnitude or with more than
    :data:`AMOUNT_DIGITS_LIMIT` digits are a :class:`UnitError` (checked before any arithmetic).
    """
    if isinstance(value, bool):
        raise UnitError(f"{what}: expected a number, got {value!r}")
    if isinstance(value, Fraction):
        if value != 0 and not (Fraction(1, 10**AMOUNT_EXPONENT_LIMIT) <= abs(value)
                               <= 10**(AMOUNT_EXPONENT_LIMIT + 1)):
            raise UnitError(f"{what}: {float(value):g} is out of range")
        return value
    if isinstance(value, int):
        if abs(value) >= 10 ** (AMOUNT_EXPONENT_LIMIT + 1):
            raise UnitError(f"{what}: a {len(str(abs(value)))}-digit number is out of range")
        return Fraction(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise UnitError(f"{what}: expected a finite number, got {value!r}")
        return _bounded(Decimal(repr(value)), value, what)
    if isinstance(value, Decimal | str):
        text = normalize_digits(str(value)).strip()
        if len(text) > 100:
            raise UnitError(f"{what}: {text[:40]!r}... is not a number (too long)")
        try:
            d = Decimal(text)
        except InvalidOperation:
            raise UnitError(f"{what}: {value!r} is not a number") from None
        if not d.is_finite():
            raise UnitError(f"{what}: expected a finite number, got {value!r}")
        return _bounded(d, value, what)
    raise UnitError(f"{what}: expected a number, got {value!r}")


def _canonical_unit(unit: str, *, what: str) -> str:
    u = unit.strip()
    key = u if u in UNITS else _ALIASES.get(u.lower(), u.lower())
    if key not in UNITS:
        raise UnitError(f"{what}: unknown unit {unit!r} (known: {', '.join(UNITS)})")
    return key


@dataclass(frozen=True)
class Quantity:
    """A non-negative amount with a unit (``Quantity(15, "lb")``).

    Parameters
    ----------
    value : Fraction
        The amount, exact (ints, floats, Decimals and decimal strings are converted).
    unit : str
        One of :data:`UNITS` (aliases such as ``"pounds"`` are normalised).
    """

    value: Fraction
    unit: str

    def __post_init__(self) -> None:
        unit = _canonical_unit(str(self.unit), what="quantity")
        value = to_fraction(self.value, what=f"quantity in {unit}")
        if value < 0:
            raise UnitError(f"quantity: {format_number(value)} {unit} is negative")
        try:
            float(value * UNITS[unit][1])
        except OverflowError:
            raise UnitError(f"quantity: the amount in {unit} is too large to be real") from None
        object.__setattr__(self, "unit", unit)
        object.__setattr__(self, "value", value)

    @property
    def kind(self) -> QuantityKind:
        """``"mass"``, ``"duration"`` or ``"distance"``."""
        return UNITS[self.unit][0]

    @property
    def base(self) -> Fraction:
        """Exact value in the kind's base unit (kg, minutes or metres)."""
        return self.value * UNITS[self.unit][1]

    def to(self, unit: str) -> Fraction:
        """Exact value in ``unit`` (which must measure the same kind)."""
        unit = _canonical_unit(unit, what="conversion")
        kind, factor = UNITS[unit]
        if kind != self.kind:
            raise UnitError(f"cannot convert {self} ({self.kind}) to {unit} ({kind})")
        return self.base / factor

    def __str__(self) -> str:
        return f"{format_number(self.value)} {self.unit}"


def format_number(value: Fraction | float, *, digits: int = 1) -> str:
    """Short decimal text: ``10``, ``4.5``, ``2.3`` (at most ``digits`` decimals, no trailing 0)."""
    try:
        x = round(float(value), digits)
    except OverflowError:
        return "a very large number"
    if abs(x) >= 1e6:
        return f"{x:.3g}"
    text = f"{x:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def parse_quantity(text: str | Quantity, *, kind: QuantityKind | None = None,
                   what: str = "quantity") -> Quantity:
    """Parse ``"15lb"``, ``"7 kg"``, ``"2.5h"``, ``"90 min"``, ``"1.2km"``.

    Raises
    ------
    UnitError
        For text that is not a number followed by a known unit, a negative number, or a unit of
        another kind than ``kind``.
    """
    if isinstance(text, Quantity):
        q = text
    else:
        # Fullwidth (１５ｌｂ) and Arabic-Indic (٣kg) digits read as the digits they are.
        m = _QTY_RE.match(normalize_digits(str(text))) if len(str(text)) <= 200 else None
        if not m:
            shown = str(text) if len(str(text)) <= 60 else str(text)[:60] + "..."
            raise UnitError(f"{what}: {shown!r} is not a number followed by a unit (e.g. 15lb, "
                            "7kg)")
        number, unit = m.groups()
        unit = _canonical_unit(unit, what=f"{what} {text!r}")
        value = to_fraction(number, what=what)
        if value < 0:
            raise UnitError(f"{what}: {text!r} is negative")
        q = Quantity(value, unit)
    if kind is not None and q.kind != kind:
        expected = ", ".join(u for u, (k, _) in UNITS.items() if k == kind)
        raise UnitError(f"{what}: {text!s} is a {q.kind}; expected a {kind} ({expected})")
    return q
