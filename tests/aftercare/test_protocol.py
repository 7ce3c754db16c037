"""The protocol file: the default encodes the clinic's instructions exactly; edits are validated."""

from __future__ import annotations

import re

import pytest

from kypho.aftercare import ProtocolError, load_protocol, parse_protocol
from kypho.aftercare.protocol import PROTOCOL_JSON_SCHEMA, Offset, add_months
from kypho.errors import InputFileError

# The clinic's instructions, copied from the issue.
CLINIC = [
    "Walking is the best exercise after the surgery: get up and walk soon after surgery and "
    "gradually increase the distance (it builds muscle and endurance, relieves stress, keeps "
    "blood flowing and the bowels moving, and keeps fluid out of the lungs).",
    "Do not lift more than 5-10 pounds for the first few weeks. This may be increased to about "
    "20 pounds after 4-6 weeks. Do not lift anything over 20 pounds for the first 3 months.",
    "Avoid prolonged upright sitting on hard surfaces, and car rides over 2 hours, for 2-4 weeks.",
    "Drive as soon as it is comfortable, usually about one week after discharge from the "
    "hospital; never while under the influence of pain medication.",
    "Limited bending or twisting of the cervical or lumbar spine.",
    "Avoid activities with a potential for a fall or physical contact until cleared by the "
    "doctors.",
]


def test_default_protocol_reproduces_each_instruction_verbatim(protocol):
    texts = [a.text for a in protocol.activities]
    for sentence in CLINIC:
        assert sentence in texts, sentence


def test_default_rules_use_only_numbers_from_the_instructions(protocol):
    # 5, 10, 20 lb; 2 h; 2-4, 4-6 weeks; one week (7 days); 3 months counted as 90 days.
    allowed = {0, 2, 4, 5, 6, 7, 10, 20, 90}
    for rule in protocol.rules:
        nums = set()
        if rule.limit is not None:
            nums |= {rule.limit.low, rule.limit.high}
        for b in (rule.start, rule.end):
            if b is not None:
                nums |= {b.earliest.amount, b.latest.amount}
        assert nums <= allowed, (rule.id, nums)
    assert protocol.walking.targets == ()  # no invented walking number
    assert "clinic setting" in protocol.walking.note.lower()


def test_ranges_stay_ranges(protocol):
    first = protocol.rule("lift-first-weeks")
    assert first.limit.is_range and (first.limit.low, first.limit.high) == (5, 10)
    assert first.end.is_range and (str(first.end.earliest), str(first.end.latest)) == ("4w", "6w")
    sit = protocol.rule("sit-hard-surfaces")
    assert (str(sit.end.earliest), str(sit.end.latest)) == ("2w", "4w")
    assert protocol.rule("drive-usual-time").end.anchor == "discharge"
    assert protocol.rule("lift-ceiling").end.earliest == Offset(90, "d")


def test_red_flags_and_followups_cite_sources(protocol):
    assert {f.id for f in protocol.red_flags} >= {"fever", "new-numbness-weakness", "wound",
                                                 "bladder"}
    assert all(f.source for f in protocol.red_flags)
    assert [f.id for f in protocol.followups] == ["1w", "1mo", "3mo", "12mo"]
    assert all(f.source for f in protocol.followups)
    rmdq = protocol.instrument("rmdq")
    assert (rmdq.min, rmdq.max, rmdq.integer) == (0, 24, True)


def test_schema_is_json_schema():
    assert PROTOCOL_JSON_SCHEMA["required"] == ["schema", "protocol", "activities", "rules"]


def test_add_months_clamps_day():
    from datetime import date

    assert add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert add_months(date(2026, 11, 20), 12) == date(2027, 11, 20)
    assert add_months(date(2026, 12, 15), 1) == date(2027, 1, 15)


def test_missing_file_is_input_error(tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        load_protocol(tmp_path / "nope.toml")


def test_edited_protocol_round_trips(tmp_path, edit_protocol):
    text = edit_protocol(('limit = { max = 2, unit = "h" }', 'limit = { max = 90, unit = "min" }'))
    path = tmp_path / "clinic.toml"
    path.write_text(text, encoding="utf-8")
    proto = load_protocol(path)
    assert proto.rule("car-ride-2h").limit.describe() == "90 min"
    assert proto.path == path


BROKEN = [
    # (replacement pairs, expected message fragment)
    ((('schema = "kypho-aftercare-protocol/1"', 'schema = "kypho-aftercare-protocol/1'),),
     "not valid TOML"),
    ((('id = "sit"\nname', 'id = "swim"\nname'),), "unknown activity 'swim'"),
    ((('activity = "sit"\n', 'activity = "sitting"\n'),), r"rules\[4\] \(sit-hard-surfaces\)"
     r"\.activity: unknown activity 'sitting'"),
    ((('limit = { max = 20, unit = "lb" }', 'limit = { max = 20, unit = "stone" }'),),
     "unknown unit 'stone'"),
    ((('limit = { max = 2, unit = "h" }', 'limit = { max = 2, unit = "kg" }'),),
     "'kg' is a mass unit; 'car_ride' needs a duration unit"),
    ((('limit = { max = 20, unit = "lb" }', 'limit = { max = -20, unit = "lb" }'),),
     "negative amount"),
    ((('max = [5, 10]', 'max = [10, 5]'),), "reversed range"),
    ((('end = { anchor = "surgery", earliest = "2w", latest = "4w" }\ninterpretation',
       'end = { anchor = "surgery", earliest = "4w", latest = "2w" }\ninterpretation'),),
     "reversed range: earliest 4w is after latest 2w"),
    ((('end = { anchor = "surgery", after = "90d" }\ninterpretation',
       'end = { anchor = "surgery", after = "0d" }\ninterpretation'),),
     "rule 'lift-ceiling': reversed window"),
    ((('start = { anchor = "surgery", earliest = "4w", latest = "6w" }',
       'start = { anchor = "surgery", earliest = "3w", latest = "5w" }'),),
     "follows 'lift-first-weeks'.*overlap or leave a gap"),
    ((('end = { anchor = "surgery", after = "90d" }\nfollows',
       'end = { anchor = "surgery", after = "5w" }\nfollows'),),
     "overlapping windows: its start"),
    ((('released_by = "fall_contact"', 'released_by = "doctor_ok"'),), "unknown clearance"),
    ((('time_zone = "UTC"', 'time_zone = "Mars/Olympus"'),), "unknown time zone"),
    ((('status = "encouraged"', 'status = "great"'),), r"rules\[0\]\.status"),
    ((('interpretation = "\'Usually', 'colour = "red"\ninterpretation = "\'Usually'),),
     "Additional properties are not allowed"),
    ((('after = "90d" }\ninterpretation', 'after = "3 months" }\ninterpretation'),),
     r"rules\[3\]\.end"),
    ((('targets = []', 'targets = [{ from = "0d", until = "14d", minutes_per_day = 10 }, '
       '{ from = "7d", minutes_per_day = 20 }]'),), "walking.targets: overlapping windows"),
    ((('id = "drive-comfortable"\nactivity = "drive"\nstatus = "avoid"\nwhen = "not_comfortable"',
       'id = "drive-comfortable"\nactivity = "walk"\nstatus = "avoid"'),),
     "overlapping windows contradict"),
    ((('id = "lift-ceiling"\nactivity = "lift"\nstatus = "limited"',
       'id = "lift-ceiling"\nactivity = "lift"\nstatus = "limited"\nreleased_by = "drive"'),),
     "a clearance may end a rule only inside its end range"),
    ((('instruments = ["pain_nrs", "rmdq"]\nsource = "FREE: back',
       'instruments = ["pain_nrs", "eq5d"]\nsource = "FREE: back'),), "unknown instrument"),
]


@pytest.mark.parametrize(("pairs", "fragment"), BROKEN)
def test_broken_protocols_give_clear_errors(tmp_path, edit_protocol, pairs, fragment):
    path = tmp_path / "broken.toml"
    path.write_text(edit_protocol(*pairs), encoding="utf-8")
    with pytest.raises(ProtocolError) as info:
        load_protocol(path)
    msg = str(info.value)
    assert msg.startswith(f"protocol {path}: ")
    assert re.search(fragment, msg), msg


def test_validated_nominal_and_real_dates(edit_protocol):
    # A rule that starts a week after discharge and ends 10 days after surgery is fine for a
    # same-day discharge but reversed for a patient discharged a week later.
    text = edit_protocol((
        'id = "bend-twist-limited"\nactivity = "bend_twist"\nstatus = "limited"\n'
        'text = "Limited bending or twisting of the cervical or lumbar spine."\n'
        'start = { anchor = "surgery", after = "0d" }',
        'id = "bend-twist-limited"\nactivity = "bend_twist"\nstatus = "limited"\n'
        'text = "Limited bending or twisting of the cervical or lumbar spine."\n'
        'start = { anchor = "discharge", after = "1d" }\n'
        'end = { anchor = "surgery", after = "40d" }',
    ))
    proto = parse_protocol(text)
    from datetime import date

    from kypho.aftercare import Patient, make_plan

    make_plan(Patient("a", date(2026, 11, 20), date(2026, 11, 21)), proto,
              today=date(2026, 11, 25))
    with pytest.raises(ProtocolError, match="reversed window"):
        make_plan(Patient("a", date(2026, 11, 20), date(2027, 1, 5)), proto,
                  today=date(2026, 11, 25))
