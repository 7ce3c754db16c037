"""Property tests of the clinic's regime itself, written from the instructions' words (issue 6),
not from the protocol file: whatever the dates, clearances, conditions and units, the answers
keep to the instructions.

* lifting: no more than 5-10 lb for the first weeks; about 20 lb after 4-6 weeks (earliest with
  the doctor's agreement); never over 20 lb for the first 3 months (90 days);
* sitting on hard surfaces and car rides over 2 h avoided for 2-4 weeks;
* driving about one week after discharge, only when comfortable, never on pain medication;
* walking encouraged from the day of surgery, and the log tells increasing from decreasing;
* bending and twisting always limited; falls and contact avoided until cleared.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kypho.aftercare import (
    Patient,
    Request,
    Status,
    Verdict,
    activity_status,
    check,
    load_protocol,
    make_plan,
)
from kypho.aftercare.walking import WalkEntry, walk_trend

PROTOCOL = load_protocol()
TODAY = date(2026, 11, 25)
LB_TO_KG = Decimal("0.45359237")  # exact, international pound (1959)
A, N, Q, L = Verdict.ALLOWED, Verdict.NOT_ALLOWED, Verdict.ASK_DOCTOR, Verdict.LIMITED
_PLANS: dict[tuple[date, int], object] = {}

surgeries = st.dates(min_value=date(2021, 1, 1), max_value=date(2027, 6, 1))
stays = st.integers(min_value=0, max_value=21)
days = st.integers(min_value=0, max_value=500)
maybe = st.sampled_from([None, True, False])
clearance_days = st.dictionaries(st.sampled_from(["lift_increase", "drive", "fall_contact"]),
                                 st.integers(min_value=0, max_value=120))
PROPS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _plan(surgery: date, stay: int):
    key = (surgery, stay)
    if key not in _PLANS:
        _PLANS[key] = make_plan(Patient("r", surgery, surgery + timedelta(stay)), PROTOCOL,
                                today=TODAY)
    return _PLANS[key]


def _lift(lb: Decimal, in_kg: bool) -> Request:
    return Request.lift(f"{lb * LB_TO_KG}kg" if in_kg else f"{lb}lb")


def _given(clear: dict[str, int], surgery: date) -> dict[str, date]:
    return {k: surgery + timedelta(v) for k, v in clear.items()}


@PROPS
@given(surgeries, stays, days, clearance_days, maybe, maybe, st.booleans(),
       st.decimals(min_value=0, max_value=80, places=2))
def test_lifting_follows_the_instructions(surgery, stay, n, clear, med, comf, in_kg, lb):
    plan = _plan(surgery, stay)
    on = surgery + timedelta(n)
    clearances = _given(clear, surgery)
    answer = check(plan, _lift(lb, in_kg), on, clearances=clearances, on_pain_medication=med,
                   comfortable=comf)
    agreed = "lift_increase" in clearances and clearances["lift_increase"] <= on
    if n >= 90:  # after the first 3 months no lifting rule is left
        assert answer.verdict == A
    elif lb > 20:  # never over 20 lb in the first 3 months, whatever the doctor cleared
        assert answer.verdict == N
    elif n < 28:  # first weeks (before 4 weeks): 5-10 lb
        assert answer.verdict == (A if lb <= 5 else Q if lb <= 10 else N)
    elif n < 42:  # 4-6 weeks: about 20 lb if the doctor agrees, else ask
        assert answer.verdict == (A if lb <= 5 or agreed else Q)
    else:  # from 6 weeks to 3 months: about 20 lb
        assert answer.verdict == A


@PROPS
@given(surgeries, stays, days, st.decimals(min_value=0, max_value=60, places=3),
       clearance_days)
def test_lb_and_kg_give_the_same_answer_and_status(surgery, stay, n, lb, clear):
    plan = _plan(surgery, stay)
    on = surgery + timedelta(n)
    clearances = _given(clear, surgery)
    a = check(plan, _lift(lb, False), on, clearances=clearances)
    b = check(plan, _lift(lb, True), on, clearances=clearances)
    assert (a.verdict, a.status, a.rule_ids) == (b.verdict, b.status, b.rule_ids)


@PROPS
@given(surgeries, stays, days, st.decimals(min_value=0, max_value=12, places=2),
       st.booleans())
def test_car_rides_and_sitting_for_2_to_4_weeks(surgery, stay, n, hours, in_minutes):
    plan = _plan(surgery, stay)
    on = surgery + timedelta(n)
    duration = f"{hours * 60}min" if in_minutes else f"{hours}h"
    ride = check(plan, Request.car_ride(duration), on).verdict
    sit = check(plan, Request.sit(duration), on).verdict
    if n < 14:  # before 2 weeks: rides over 2 h avoided; prolonged sitting limited (no number)
        assert ride == (A if hours <= 2 else N)
        assert sit == L
    elif n < 28:  # 2-4 weeks: may have ended: ask your doctor
        assert ride == (A if hours <= 2 else Q)
        assert sit == Q
    else:  # after 4 weeks
        assert ride == A and sit == A


@PROPS
@given(surgeries, stays, days, clearance_days, maybe, maybe)
def test_driving(surgery, stay, n, clear, med, comf):
    plan = _plan(surgery, stay)
    on = surgery + timedelta(n)
    clearances = _given(clear, surgery)
    answer = check(plan, Request.drive(), on, on_pain_medication=med, comfortable=comf,
                   clearances=clearances)
    after_discharge = (on - plan.patient.discharge).days
    cleared = "drive" in clearances and clearances["drive"] <= on
    if med is not False or comf is not True:
        # On pain medication, not comfortable, or not told: never "yes".
        assert answer.verdict == N
        if med is True:
            assert "drive-pain-medication" in answer.rule_ids
    elif after_discharge < 7 and not cleared:  # the usual week after discharge
        assert answer.verdict == Q
    else:
        assert answer.verdict == A


@PROPS
@given(surgeries, stays, days, clearance_days)
def test_walking_bending_falls(surgery, stay, n, clear):
    plan = _plan(surgery, stay)
    on = surgery + timedelta(n)
    clearances = _given(clear, surgery)
    walk = activity_status(plan, "walk", on, clearances=clearances)
    assert walk.status == Status.ENCOURAGED
    assert check(plan, Request.walk(), on, clearances=clearances).verdict == A
    assert check(plan, Request.bend_twist(), on, clearances=clearances).verdict == L
    cleared = "fall_contact" in clearances and clearances["fall_contact"] <= on
    assert check(plan, Request.fall_contact(), on, clearances=clearances).verdict == (
        A if cleared else N)


@PROPS
@given(surgeries, stays, days, clearance_days)
def test_stored_and_asked_clearances_agree(surgery, stay, n, clear):
    """A clearance stored with the patient and the same clearance asked about answer alike."""
    clearances = _given(clear, surgery)
    stored = make_plan(Patient("r", surgery, surgery + timedelta(stay), clearances=clearances),
                       PROTOCOL, today=surgery + timedelta(200))
    asked = _plan(surgery, stay)
    on = surgery + timedelta(n)
    for req in (Request.lift("15lb"), Request.drive(), Request.fall_contact()):
        a = check(stored, req, on, on_pain_medication=False, comfortable=True)
        b = check(asked, req, on, on_pain_medication=False, comfortable=True,
                  clearances=clearances)
        assert a.verdict == b.verdict
    phase = stored.phase_on(on)
    assert [s.status for s in phase.statuses] == [
        activity_status(stored, a.id, on).status for a in PROTOCOL.activities]


@PROPS
@given(surgeries, st.lists(st.integers(min_value=1, max_value=120), min_size=2, max_size=6,
                           unique=True), st.booleans())
def test_walk_trend_tells_increasing_from_decreasing(surgery, minutes, rising):
    """One walk a week with different minutes: the trend compares the last two weeks."""
    values = sorted(minutes, reverse=not rising)
    walks = [WalkEntry(surgery + timedelta(7 * i + 1), float(m)) for i, m in enumerate(values)]
    trend = walk_trend(_plan(surgery, 1), walks)
    assert trend.direction == ("increasing" if rising else "decreasing")
    assert trend.change_percent is not None
    assert round(trend.change_percent, 6) == round(100 * (values[-1] - values[-2])
                                                   / values[-2], 6)
