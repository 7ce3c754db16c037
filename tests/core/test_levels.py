import pytest
from hypothesis import given
from hypothesis import strategies as st

from kypho.core import (
    LEVEL_IDS,
    LEVELS,
    TOTALSEGMENTATOR_V2_IDS,
    VERSE_IDS,
    level_from_id,
    level_range,
    parse_level,
)
from kypho.errors import InvalidParameterError


def test_levels_cover_spine_in_order():
    assert LEVELS[0] == "C1" and LEVELS[-1] == "S1" and len(LEVELS) == 25
    assert LEVELS.index("T12") + 1 == LEVELS.index("L1")


def test_verse_ids_match_published_numbering():
    # VerSe README: 1-7 C1-C7, 8-19 T1-T12, 20-24 L1-L5, 26 sacrum.
    assert VERSE_IDS["C1"] == 1 and VERSE_IDS["C7"] == 7
    assert VERSE_IDS["T1"] == 8 and VERSE_IDS["T12"] == 19
    assert VERSE_IDS["L1"] == 20 and VERSE_IDS["L5"] == 24 and VERSE_IDS["S1"] == 26


def test_totalsegmentator_ids_by_name():
    # map_to_binary.py, task "total" v2.
    assert TOTALSEGMENTATOR_V2_IDS["L1"] == 31
    assert TOTALSEGMENTATOR_V2_IDS["T12"] == 32
    assert TOTALSEGMENTATOR_V2_IDS["C1"] == 50
    assert TOTALSEGMENTATOR_V2_IDS["S1"] == 26
    assert set(TOTALSEGMENTATOR_V2_IDS) == set(LEVELS)
    assert len(set(TOTALSEGMENTATOR_V2_IDS.values())) == len(LEVELS)


@given(st.sampled_from(LEVELS))
def test_id_round_trip(level):
    assert level_from_id(LEVEL_IDS[level]) == level
    assert parse_level(level.lower()) == level


def test_level_range_and_errors():
    assert level_range("T10", "L3") == ("T10", "T11", "T12", "L1", "L2", "L3")
    with pytest.raises(InvalidParameterError, match="T13"):
        parse_level("T13")
    with pytest.raises(InvalidParameterError, match="caudal to cranial"):
        level_range("L3", "T10")
    assert level_from_id(0) is None and level_from_id(999) is None
