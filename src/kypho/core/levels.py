"""Vertebral levels: kypho's names and ids, and the TotalSegmentator and VerSe label ids.

kypho's label ids follow the VerSe numbering for C1 to L5 (1-7 cervical, 8-19 thoracic, 20-24
lumbar) and use 26 (VerSe's "sacrum") for S1.  TotalSegmentator ids are mapped by *name*, never
by arithmetic (its rib ids are not in order).

Sources
-------
- TotalSegmentator v2 task "total": ``totalsegmentator/map_to_binary.py`` (wasserth/TotalSegmentator).
- VerSe: ``README.md`` and ``utils/data_utilities.py`` (anjany/verse): 1-7 C1-C7, 8-19 T1-T12,
  20-25 L1-L6, 26 sacrum, 27 coccyx, 28 T13.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import MappingProxyType

from kypho.errors import InvalidParameterError

__all__ = [
    "LEVELS",
    "LEVEL_IDS",
    "TOTALSEGMENTATOR_V2_IDS",
    "VERSE_IDS",
    "level_from_id",
    "level_range",
    "parse_level",
    "parse_levels",
]

#: Vertebral levels kypho knows, cranial to caudal.
LEVELS: tuple[str, ...] = (
    *(f"C{i}" for i in range(1, 8)),
    *(f"T{i}" for i in range(1, 13)),
    *(f"L{i}" for i in range(1, 6)),
    "S1",
)

#: kypho label id of each level (VerSe ids for C1-L5, 26 for S1).
LEVEL_IDS: MappingProxyType[str, int] = MappingProxyType(
    {name: (i + 1 if name != "S1" else 26) for i, name in enumerate(LEVELS)}
)

_ID_TO_LEVEL = {v: k for k, v in LEVEL_IDS.items()}

#: TotalSegmentator v2 ("total" task) label id of each level, read from map_to_binary.py.
TOTALSEGMENTATOR_V2_IDS: MappingProxyType[str, int] = MappingProxyType(
    {
        "S1": 26,
        "L5": 27,
        "L4": 28,
        "L3": 29,
        "L2": 30,
        "L1": 31,
        "T12": 32,
        "T11": 33,
        "T10": 34,
        "T9": 35,
        "T8": 36,
        "T7": 37,
        "T6": 38,
        "T5": 39,
        "T4": 40,
        "T3": 41,
        "T2": 42,
        "T1": 43,
        "C7": 44,
        "C6": 45,
        "C5": 46,
        "C4": 47,
        "C3": 48,
        "C2": 49,
        "C1": 50,
    }
)

#: VerSe label id of each level kypho knows (VerSe 25 = L6 and 28 = T13 have no kypho level).
VERSE_IDS: MappingProxyType[str, int] = MappingProxyType(dict(LEVEL_IDS))


def parse_level(name: str) -> str:
    """Return the canonical level name for ``name`` (case-insensitive, e.g. ``"l1"`` -> ``"L1"``).

    Raises
    ------
    InvalidParameterError
        If ``name`` is not a level kypho knows.
    """
    canonical = str(name).strip().upper()
    if canonical not in LEVEL_IDS:
        raise InvalidParameterError(
            f"unknown vertebral level {name!r}: expected one of C1-C7, T1-T12, L1-L5, S1"
        )
    return canonical


def level_from_id(label_id: int) -> str | None:
    """Return the level name of a kypho label id, or ``None`` if the id is not a vertebra."""
    return _ID_TO_LEVEL.get(int(label_id))


def level_range(first: str, last: str) -> tuple[str, ...]:
    """Levels from ``first`` to ``last`` inclusive, cranial to caudal.

    >>> level_range("T10", "L3")
    ('T10', 'T11', 'T12', 'L1', 'L2', 'L3')
    """
    a, b = LEVELS.index(parse_level(first)), LEVELS.index(parse_level(last))
    if a > b:
        raise InvalidParameterError(f"level range {first}..{last} runs caudal to cranial")
    return LEVELS[a : b + 1]


def parse_levels(texts: str | Iterable[str]) -> tuple[str, ...]:
    """Levels named by ``texts``: single levels (``"L1"``), ranges (``"T10-L3"``) or lists of
    either separated by commas; cranial to caudal, each once.

    >>> parse_levels(["T12", "L1-L2"])
    ('T12', 'L1', 'L2')
    >>> parse_levels("t10-t11,L1")
    ('T10', 'T11', 'L1')

    Raises
    ------
    InvalidParameterError
        For an unknown level or a range running caudal to cranial.
    """
    items = [texts] if isinstance(texts, str) else list(texts)
    found: set[str] = set()
    for item in items:
        for part in str(item).replace(";", ",").split(","):
            part = part.strip()
            if not part:
                continue
            first, sep, last = part.partition("-")
            found.update(level_range(first, last) if sep else (parse_level(part),))
    if not found:
        raise InvalidParameterError(f"no level named in {texts!r}")
    return tuple(lv for lv in LEVELS if lv in found)
