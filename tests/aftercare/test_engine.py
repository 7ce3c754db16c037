"""The engine: every default rule at its boundaries, range answers, conditions and bad input."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from kypho.aftercare import (
    AftercareInputError,
    Patient,
    Request,
    RuleState,
    Status,
    UnitError,
    Verdict,
    activity_status,
    check,
    day_status,
    make_plan,
    parse_protocol,
)
from kypho.aftercare.engine import MAX_SURGERY_AHEAD_DAYS, PLAN_HORIZON_DAYS, format_date

from .conftest import DISCHARGE, SURGERY, TODAY

A, N, Q, L = Verdict.ALLOWED, Verdict.NOT_ALLOWED, Verdict.ASK_DOCTOR, Verdict.LIMITED
OK = {"on_pain_medication": False, "comfortable": True}


# -- driving: about one week after discharge; comfort; never on pain medication ------------------
@pytest.mark.parametrize(("n", "expected"), [(0, Q), (6, Q), (7, A), (8, A)])
def test_driving_days_after_discharge(plan, day, n, expected):
    answer = check(plan, Request.drive(), day(n, "discharge"), **OK)
    assert answer.verdict == expected, answer.reason
    if expected == Q:
        assert answer.rule_ids == ("drive-usual-time",)
        assert "Fri 27 Nov 2026" in answer.reason  # last day of the usual week


@pytest.mark.parametrize("n", [0, 6, 7, 8, 30, 200, 700])
def test_pain_medication_always_blocks_driving(plan, day, n):
    answer = check(plan, Request.drive(), day(n, "discharge") if n < 700 else day(n),
                   on_pain_medication=True, comfortable=True, clearances={"drive": SURGERY})
    assert answer.verdict == N
    assert "drive-pain-medication" in answer.rule_ids


def test_driving_needs_comfort_and_known_conditions(plan, day):
    assert check(plan, Request.drive(), day(8, "discharge"), on_pain_medication=False,
                 comfortable=False).verdict == N
    unknown = check(plan, Request.drive(), day(8, "discharge"))
    assert unknown.verdict == N and "Not confirmed" in unknown.reason
    st = activity_status(plan, "drive", day(8, "discharge"))
    assert st.status == Status.ALLOWED
    assert st.conditions == ("only when it is comfortable",
                             "never while under the influence of pain medication")


def test_doctor_can_clear_driving_before_the_usual_week(plan, day):
    answer = check(plan, Request.drive(), day(3, "discharge"), clearances={"drive": day(2)}, **OK)
    assert answer.verdict == A


# -- lifting: 5-10 lb first weeks; about 20 lb after 4-6 weeks; nothing over 20 lb for 3 months ---
@pytest.mark.parametrize(
    ("n", "amounts"),
    [
        (21, {"5lb": A, "8lb": Q, "10lb": Q, "10.5lb": N, "20lb": N, "21lb": N}),   # week 3
        (27, {"5lb": A, "8lb": Q, "11lb": N, "20lb": N}),
        (28, {"5lb": A, "8lb": Q, "11lb": Q, "20lb": Q, "21lb": N}),               # week 4
        (41, {"5lb": A, "11lb": Q, "20lb": Q, "21lb": N}),
        (42, {"5lb": A, "11lb": A, "20lb": A, "20.1lb": N, "21lb": N}),            # week 6
        (89, {"20lb": A, "21lb": N, "50lb": N}),
        (90, {"21lb": A, "50lb": A}),                                              # 3 months
        (91, {"21lb": A, "50lb": A}),
    ],
)
def test_lifting_boundaries(plan, day, n, amounts):
    for amount, expected in amounts.items():
        answer = check(plan, Request.lift(amount), day(n))
        assert answer.verdict == expected, (n, amount, answer.reason)


def test_lifting_range_answer_says_earliest_and_latest(plan, day):
    answer = check(plan, Request.lift("15lb"), day(30))
    assert answer.verdict == Q
    assert "From Fri 18 Dec 2026 this may end if your doctor agrees" in answer.reason
    assert "it ends by Fri 1 Jan 2027 at the latest (4-6 weeks after surgery)" in answer.reason
    before = check(plan, Request.lift("15lb"), day(21))
    assert ("From Fri 18 Dec 2026 at the earliest it may end, if your doctor agrees; it ends by "
            "Fri 1 Jan 2027") in before.reason


def test_lifting_clearance_works_only_inside_its_window(plan, day):
    early = {"lift_increase": day(10)}
    # Given at day 10: no effect before week 4 ...
    assert check(plan, Request.lift("15lb"), day(27), clearances=early).verdict == N
    # ... takes effect from the earliest end (day 28), never above the 20 lb ceiling.
    assert check(plan, Request.lift("15lb"), day(28), clearances=early).verdict == A
    assert check(plan, Request.lift("21lb"), day(28), clearances=early).verdict == N
    assert check(plan, Request.lift("15lb"), day(33),
                 clearances={"lift_increase": day(35)}).verdict == Q
    assert check(plan, Request.lift("15lb"), day(35),
                 clearances={"lift_increase": day(35)}).verdict == A


def test_lifting_status_limits(plan, day):
    assert activity_status(plan, "lift", day(3)).limit == "5-10 lb (2.3-4.5 kg)"
    st = activity_status(plan, "lift", day(30))
    assert st.status == Status.ASK_DOCTOR
    assert st.limit == "5-10 lb (2.3-4.5 kg), or about 20 lb (9.1 kg) if your doctor agrees"
    cleared = activity_status(plan, "lift", day(30), clearances={"lift_increase": day(29)})
    assert cleared.status == Status.LIMITED and cleared.limit == "about 20 lb (9.1 kg)"
    assert activity_status(plan, "lift", day(50)).status == Status.LIMITED
    late = activity_status(plan, "lift", day(90))
    assert late.status == Status.ALLOWED and late.limit is None and late.findings == ()


def test_kg_and_lb_questions_match(plan, day):
    # 10 lb = 4.5359237 kg exactly: both inside the 5-10 lb range, one ounce over is not.
    assert check(plan, Request.lift("4.5359237kg"), day(3)).verdict == Q
    assert check(plan, Request.lift("4.54kg"), day(3)).verdict == N
    assert check(plan, Request.lift("2.26796185kg"), day(3)).verdict == A  # exactly 5 lb


# -- sitting and car rides: 2-4 weeks ------------------------------------------------------------
@pytest.mark.parametrize(("n", "sit", "car3h"), [(13, L, N), (14, Q, Q), (27, Q, Q), (28, A, A)])
def test_sitting_and_car_rides(plan, day, n, sit, car3h):
    assert check(plan, Request.sit("1h"), day(n)).verdict == sit
    assert check(plan, Request.car_ride("3h"), day(n)).verdict == car3h
    assert check(plan, Request.car_ride("2h"), day(n)).verdict == A
    assert check(plan, Request.car_ride("120min"), day(n)).verdict == A


def test_prolonged_sitting_has_no_invented_number(plan, day):
    answer = check(plan, Request.sit("10min"), day(3))
    assert answer.verdict == L and "no number" in answer.reason


# -- bending, falls/contact, walking -------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 50, 400])
def test_bending_is_always_limited(plan, day, n):
    answer = check(plan, Request.bend_twist(), day(n))
    assert answer.verdict == L and "no end date" in answer.reason


def test_fall_and_contact_until_cleared(plan, day):
    assert check(plan, Request.fall_contact(), day(300)).verdict == N
    cleared = {"fall_contact": day(60)}
    assert check(plan, Request.fall_contact(), day(59), clearances=cleared).verdict == N
    assert check(plan, Request.fall_contact(), day(60), clearances=cleared).verdict == A


def test_walking_is_encouraged_from_surgery_day(plan, day):
    assert activity_status(plan, "walk", day(0)).status == Status.ENCOURAGED
    assert check(plan, Request.walk(), day(0)).verdict == A


# -- the plan ------------------------------------------------------------------------------------
def test_phases_cut_at_every_rule_change(plan):
    starts = [ph.start for ph in plan.phases]
    assert starts == [SURGERY, DISCHARGE + timedelta(7), SURGERY + timedelta(14),
                      SURGERY + timedelta(28), SURGERY + timedelta(42), SURGERY + timedelta(90)]
    assert plan.phases[-1].end is None
    assert plan.phase_on(SURGERY + timedelta(30)).index == 4
    assert {s.activity for s in plan.phases[0].statuses} == {a.id for a in plan.protocol.activities}


def test_day_status_covers_all_activities(plan, day):
    statuses = {s.activity: s.status for s in day_status(plan, day(1))}
    assert statuses == {"walk": Status.ENCOURAGED, "lift": Status.LIMITED, "sit": Status.LIMITED,
                        "car_ride": Status.LIMITED, "drive": Status.ASK_DOCTOR,
                        "bend_twist": Status.LIMITED, "fall_contact": Status.AVOID}


def test_rule_state_in_ranges(plan, day):
    from kypho.aftercare.engine import rule_state

    dr = plan.dated("lift-increase")
    assert rule_state(plan, dr, day(27), {}) == RuleState.NOT_STARTED
    assert rule_state(plan, dr, day(28), {}) == RuleState.STARTING
    assert rule_state(plan, dr, day(28), {"lift_increase": day(28)}) == RuleState.IN_FORCE
    assert rule_state(plan, dr, day(90), {}) == RuleState.ENDED


def test_format_date():
    assert format_date(date(2026, 12, 18)) == "Fri 18 Dec 2026"


def test_protocol_without_an_activity_says_ask_your_doctor(protocol, patient):
    text = protocol.text.replace('[[activities]]\nid = "bend_twist"', '[[activities]]\nid = "x"')
    # remove the bend_twist activity and its rule entirely
    start = text.index('[[activities]]\nid = "x"')
    text = text[:start] + text[text.index("[[activities]]", start + 5):]
    start = text.index('[[rules]]\nid = "bend-twist-limited"')
    text = text[:start] + text[text.index("[[rules]]", start + 5):]
    plan = make_plan(patient, parse_protocol(text), today=TODAY)
    answer = check(plan, Request.bend_twist(), date(2026, 12, 1))
    assert answer.verdict == Q and "no instruction about this" in answer.reason


# -- bad input -----------------------------------------------------------------------------------
def test_discharge_before_surgery():
    with pytest.raises(AftercareInputError,
                       match="discharge date 2026-11-19 is before the surgery"):
        Patient("p", date(2026, 11, 20), date(2026, 11, 19))


def test_surgery_far_in_the_future(protocol):
    far = TODAY + timedelta(days=MAX_SURGERY_AHEAD_DAYS + 1)
    with pytest.raises(AftercareInputError, match="far in the future"):
        make_plan(Patient("p", far, far), protocol, today=TODAY)
    ok = TODAY + timedelta(days=MAX_SURGERY_AHEAD_DAYS)
    make_plan(Patient("p", ok, ok), protocol, today=TODAY)


def test_query_dates_out_of_range(plan):
    with pytest.raises(AftercareInputError, match="before surgery"):
        check(plan, Request.walk(), SURGERY - timedelta(1))
    with pytest.raises(AftercareInputError, match="far in the future"):
        check(plan, Request.walk(), SURGERY + timedelta(PLAN_HORIZON_DAYS + 1))
    with pytest.raises(AftercareInputError, match="not a date"):
        check(plan, Request.walk(), "2026-13-01")


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [({"patient_id": "../etc"}, "patient id"), ({"levels": ("T13x",)}, "treated levels"),
     ({"time_zone": "Nowhere/City"}, "unknown time zone"),
     ({"discharge": date(2028, 1, 1)}, "more than 365 days"),
     ({"clearances": {"drive": date(2026, 1, 1)}}, "before surgery")],
)
def test_bad_patients(kwargs, fragment):
    args = {"patient_id": "p", "surgery": SURGERY, "discharge": DISCHARGE, **kwargs}
    with pytest.raises(AftercareInputError, match=fragment):
        Patient(**args)


def test_bad_requests_and_clearances(plan, day):
    with pytest.raises(UnitError, match="negative"):
        Request.lift("-5lb")
    with pytest.raises(UnitError, match="unknown unit"):
        Request.lift("5 stone")
    with pytest.raises(UnitError, match="expected a mass"):
        Request.lift("2h")
    with pytest.raises(UnitError, match="takes no amount"):
        Request("drive", "3h")
    with pytest.raises(AftercareInputError, match="unknown activity"):
        Request("swim")
    with pytest.raises(AftercareInputError, match="unknown clearance 'golf'"):
        check(plan, Request.walk(), day(3), clearances={"golf": day(1)})
    with pytest.raises(AftercareInputError, match="unknown clearance"):
        make_plan(Patient("p", SURGERY, DISCHARGE, clearances={"golf": SURGERY}), today=TODAY)
