"""Bounded parsing of user parameters: numbers, points, dates, seeds, amounts of work.

Every helper raises :class:`~kypho.errors.InvalidParameterError` (exit code 2 in the CLI) with
the parameter's name, the value given and the allowed range, e.g. ``--step: 1e-06 is outside
the allowed range 0.05 to 10 mm``.  Nothing here loops or allocates in proportion to the text
it is given: ``1e999999999`` is refused from its exponent, never expanded.

Digits in other scripts are read as the digits they are: fullwidth ``１５`` (what a Japanese
or Chinese input method types) and Arabic-Indic ``٣`` become ``15`` and ``3``; the Arabic
decimal separator ``٫`` a point.  Anything that is still not an ASCII number is refused.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import date
from decimal import Decimal, InvalidOperation

from kypho.core.limits import MEMORY_BUDGET_BYTES, check_memory
from kypho.errors import InvalidParameterError

__all__ = [
    "DATE_MAX",
    "DATE_MIN",
    "MAX_ITERATIONS",
    "MAX_NUMBER_TEXT",
    "MEMORY_BUDGET_BYTES",
    "SEED_MAX",
    "check_iterations",
    "check_memory",
    "check_range",
    "normalize_digits",
    "parse_date",
    "parse_float",
    "parse_int",
    "parse_point",
    "parse_seed",
]

#: Earliest and latest calendar dates kypho accepts anywhere (surgery, discharge, walks,
#: clearances, "today").  Model choice: no patient of kypho's had surgery before 1900, and
#: dates stay far from the ends of Python's calendar (year 1 and 9999), so date arithmetic
#: (a plan runs two years past surgery) can never overflow.
DATE_MIN = date(1900, 1, 1)
DATE_MAX = date(2199, 12, 31)
#: Longest number text accepted, characters.  Model choice: a float64 needs 24.
MAX_NUMBER_TEXT = 40
#: Largest seed: numpy's ``default_rng`` takes any non-negative integer; kypho keeps seeds
#: to 32 bits so they print, store and compare everywhere (model choice).
SEED_MAX = 2**32 - 1
#: Largest number of steps a loop over user input may take (grid points along a path,
#: iterations of a search).  Model choice: 10**8 steps of a cheap numpy step take minutes;
#: anything beyond is a parameter typo (a step of 1e-6 mm), refused before it starts.
MAX_ITERATIONS = 10**8

_ARABIC_DECIMAL_SEPARATOR = "\u066b"


def normalize_digits(text: str) -> str:
    """``text`` with fullwidth forms folded (NFKC) and every decimal digit made ASCII."""
    text = unicodedata.normalize("NFKC", str(text)).replace(_ARABIC_DECIMAL_SEPARATOR, ".")
    return "".join(
        str(unicodedata.decimal(ch)) if not ch.isascii() and ch.isdecimal() else ch for ch in text
    )


def _show(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return repr(text if len(text) <= MAX_NUMBER_TEXT else text[:MAX_NUMBER_TEXT] + "...")


def _num(x: float) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def _range_text(lo: float | None, hi: float | None, unit: str) -> str:
    u = f" {unit}" if unit else ""
    if lo is not None and hi is not None:
        return f"{_num(lo)} to {_num(hi)}{u}"
    if lo is not None:
        return f"at least {_num(lo)}{u}"
    if hi is not None:
        return f"at most {_num(hi)}{u}"
    return "any finite number"


def check_range(
    value: float,
    what: str,
    lo: float | None = None,
    hi: float | None = None,
    *,
    unit: str = "",
    lo_inclusive: bool = True,
    hi_inclusive: bool = True,
) -> float:
    """``value`` if it is finite and within ``lo..hi``; else :class:`InvalidParameterError`.

    For values typer already parsed (``--step 1e-6`` arrives as a float).
    """
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidParameterError(f"{what}: {_show(value)} is not a number") from None
    bad = not math.isfinite(x)
    if lo is not None:
        bad = bad or (x < lo if lo_inclusive else x <= lo)
    if hi is not None:
        bad = bad or (x > hi if hi_inclusive else x >= hi)
    if bad:
        open_lo = "" if lo_inclusive or lo is None else " (exclusive)"
        raise InvalidParameterError(
            f"{what}: {x:g} is outside the allowed range {_range_text(lo, hi, unit)}{open_lo}"
        )
    return x


def _decimal(text: str, what: str) -> Decimal:
    t = normalize_digits(text).strip().replace("_", "")
    if not t or len(t) > MAX_NUMBER_TEXT or not re.fullmatch(
        r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", t, flags=re.ASCII
    ):
        raise InvalidParameterError(f"{what}: {_show(text)} is not a number")
    try:
        return Decimal(t)
    except InvalidOperation:
        raise InvalidParameterError(f"{what}: {_show(text)} is not a number") from None


def parse_float(
    text: str | float,
    what: str,
    lo: float | None = None,
    hi: float | None = None,
    *,
    unit: str = "",
    lo_inclusive: bool = True,
    hi_inclusive: bool = True,
) -> float:
    """A finite float from text (or a number) within ``lo..hi``.

    The exponent is judged before anything is computed, so ``1e999999999`` and
    ``1e-999999999`` are refused at once (as out of range) instead of expanded.
    """
    if isinstance(text, bool):
        raise InvalidParameterError(f"{what}: expected a number, got {text!r}")
    if isinstance(text, int | float):
        return check_range(text, what, lo, hi, unit=unit, lo_inclusive=lo_inclusive,
                           hi_inclusive=hi_inclusive)
    d = _decimal(text, what)
    if d != 0 and not -320 <= d.adjusted() <= 308:  # beyond float64 either way
        raise InvalidParameterError(
            f"{what}: {_show(text)} is outside the allowed range {_range_text(lo, hi, unit)}"
        )
    return check_range(float(d), what, lo, hi, unit=unit, lo_inclusive=lo_inclusive,
                       hi_inclusive=hi_inclusive)


def parse_int(text: str | int, what: str, lo: int | None = None, hi: int | None = None) -> int:
    """A whole number from text (or an int) within ``lo..hi``; ``1e3`` and ``1.5`` are refused."""
    if isinstance(text, bool):
        raise InvalidParameterError(f"{what}: expected a whole number, got {text!r}")
    if isinstance(text, int):
        n = text
    else:
        t = normalize_digits(str(text)).strip().replace("_", "")
        if len(t) > MAX_NUMBER_TEXT or not re.fullmatch(r"[+-]?\d+", t, flags=re.ASCII):
            raise InvalidParameterError(f"{what}: {_show(text)} is not a whole number")
        n = int(t)
    if (lo is not None and n < lo) or (hi is not None and n > hi):
        raise InvalidParameterError(
            f"{what}: {n} is outside the allowed range {_range_text(lo, hi, '')}"
        )
    return n


def parse_seed(value: str | int, what: str = "--seed") -> int:
    """A random seed in ``0..SEED_MAX`` (numpy refuses negative seeds with a traceback)."""
    return parse_int(value, what, 0, SEED_MAX)


def parse_point(text: str, what: str, bound_mm: float, *, unit: str = "mm") -> tuple[float, ...]:
    """Three finite numbers ``"x,y,z"`` (commas or spaces), each within ``+/-bound_mm``."""
    parts = [p for p in re.split(r"[,\s;]+", normalize_digits(str(text)).strip()) if p]
    if len(parts) != 3:
        raise InvalidParameterError(
            f"{what}: {_show(text)} is not a point; give three numbers x,y,z in {unit}"
        )
    return tuple(
        parse_float(p, f"{what} ({axis})", -bound_mm, bound_mm, unit=unit)
        for p, axis in zip(parts, "xyz", strict=True)
    )


def parse_date(
    text: str | date, what: str, lo: date = DATE_MIN, hi: date = DATE_MAX
) -> date:
    """A ``YYYY-MM-DD`` date within ``lo..hi`` (default :data:`DATE_MIN` .. :data:`DATE_MAX`)."""
    if isinstance(text, date):
        d = text
    else:
        t = normalize_digits(str(text)).strip()
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", t, flags=re.ASCII):
                raise ValueError
            d = date.fromisoformat(t)
        except ValueError:
            raise InvalidParameterError(f"{what}: {_show(text)} is not a date (YYYY-MM-DD)") from None
    if not lo <= d <= hi:
        raise InvalidParameterError(
            f"{what}: {d.isoformat()} is outside the dates kypho accepts "
            f"({lo.isoformat()} to {hi.isoformat()})"
        )
    return d


def check_iterations(count: float, what: str, limit: int = MAX_ITERATIONS) -> int:
    """``count`` (steps a loop will take) as an int; more than ``limit`` is refused up front."""
    if not math.isfinite(float(count)) or count > limit:
        shown = f"{count:.3g}" if math.isfinite(float(count)) else str(count)
        raise InvalidParameterError(
            f"{what} would take {shown} steps; kypho's limit is {limit:.0e} (a step too small "
            "or a range too large?)"
        )
    return max(0, math.ceil(count))
