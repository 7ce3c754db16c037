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

__all__ = [
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

_QTY_RE = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z]+)\s*$")


def to_fraction(value: object, *, what: str = "value") -> Fraction:
    """Exact fraction of an int, float, Decimal, Fraction or decimal string."""
    if isinstance(value, bool):
        raise UnitError(f"{what}: expected a number, got {value!r}")
    if isinstance(value, Fraction | int):
        return Fraction(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise UnitError(f"{what}: expected a finite number, got {value!r}")
        return Fraction(Decimal(repr(value)))
    if isinstance(value, Decimal | str):
        try:
            d = Decimal(str(value).strip())
        except InvalidOperation:
            raise UnitError(f"{what}: {value!r} is not a number") from None
        if not d.is_finite():
            raise UnitError(f"{what}: expected a finite number, got {value!r}")
        return Fraction(d)
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
        m = _QTY_RE.match(str(text))
        if not m:
            raise UnitError(f"{what}: {text!r} is not a number followed by a unit (e.g. 15lb, 7kg)")
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
