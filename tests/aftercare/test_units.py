from fractions import Fraction

import pytest

from kypho.aftercare.errors import UnitError
from kypho.aftercare.units import KG_PER_LB, Quantity, format_number, parse_quantity


def test_pound_is_exactly_0_45359237_kg():
    assert Quantity(1, "lb").to("kg") == Fraction("0.45359237")
    assert KG_PER_LB == Fraction(45359237, 10**8)
    # 10 lb and 4.5359237 kg are the same amount, exactly.
    assert parse_quantity("10lb").base == parse_quantity("4.5359237 kg").base


@pytest.mark.parametrize(
    ("text", "value", "unit"),
    [("15lb", 15, "lb"), ("7 kg", 7, "kg"), ("2.5h", Fraction(5, 2), "h"),
     ("90 min", 90, "min"), ("1.2km", Fraction(6, 5), "km"), ("3 Pounds", 3, "lb"),
     (".5mi", Fraction(1, 2), "mi")],
)
def test_parse_quantity(text, value, unit):
    q = parse_quantity(text)
    assert (q.value, q.unit) == (value, unit)


def test_durations_and_distances_convert():
    assert parse_quantity("2h").to("min") == 120
    assert parse_quantity("1mi").to("m") == Fraction("1609.344")


@pytest.mark.parametrize(
    ("text", "kind", "fragment"),
    [("-4lb", "mass", "negative"), ("4stone", "mass", "unknown unit 'stone'"),
     ("15", "mass", "not a number followed by a unit"), ("3h", "mass", "expected a mass"),
     ("lb", "mass", "not a number"), ("nan kg", "mass", "not a number followed")],
)
def test_bad_quantities_raise_clear_errors(text, kind, fragment):
    with pytest.raises(UnitError, match=fragment):
        parse_quantity(text, kind=kind)


def test_quantity_rejects_negative_and_non_numbers():
    with pytest.raises(UnitError, match="negative"):
        Quantity(-1, "kg")
    with pytest.raises(UnitError):
        Quantity("abc", "kg")
    with pytest.raises(UnitError):
        Quantity(float("inf"), "kg")
    with pytest.raises(UnitError, match="cannot convert"):
        Quantity(1, "kg").to("h")


def test_format_number():
    assert format_number(Fraction(10)) == "10"
    assert format_number(Quantity(10, "lb").to("kg")) == "4.5"
    assert format_number(Fraction(-1, 1000)) == "0"
