"""kypho's data model: CT volumes, vertebra label maps, cases and level names."""

from kypho.core.case import Case
from kypho.core.levels import (
    LEVEL_IDS,
    LEVELS,
    TOTALSEGMENTATOR_V2_IDS,
    VERSE_IDS,
    level_from_id,
    level_range,
    parse_level,
)
from kypho.core.volume import LabelMap, Volume, affine_from_spacing, check_same_grid

__all__ = [
    "LEVELS",
    "LEVEL_IDS",
    "TOTALSEGMENTATOR_V2_IDS",
    "VERSE_IDS",
    "Case",
    "LabelMap",
    "Volume",
    "affine_from_spacing",
    "check_same_grid",
    "level_from_id",
    "level_range",
    "parse_level",
]
