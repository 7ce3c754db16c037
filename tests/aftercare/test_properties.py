"""Property tests: no limit loosens before its window; lb and kg answers agree."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kypho.aftercare import Patient, Request, Verdict, check, load_protocol, make_plan
from kypho.aftercare.engine import RuleState, rule_state
from kypho.aftercare.units import KG_PER_LB

PROTOCOL = load_protocol()
TODAY = date(2026, 11, 25)
RANK = {Verdict.ALLOWED: 0, Verdict.LIMITED: 1, Verdict.ASK_DOCTOR: 2, Verdict.NOT_ALLOWED: 3}
_PLANS: dict[tuple[date, int], object] = {}

surgeries = st.dates(min_value=date(2020, 1, 1), max_value=date(2027, 6, 1))
stays = st.integers(min_value=0, max_value=20)
offsets = st.integers(min_value=0, max_value=400)
conditions = st.sampled_from([None, True, False])
amounts_lb = st.decimals(min_value=0, max_value=60, places=3, allow_nan=False)
clearance_sets = st.dictionaries(st.sampled_from(["lift_increase", "drive", "fall_contact"]),
                                 st.integers(min_value=0, max_value=60))

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _plan(surgery: date, stay: int):
    key = (surgery, stay)
    if key not in _PLANS:
        _PLANS[key] = make_plan(Patient("h", surgery, surgery + timedelta(stay)), PROTOCOL,
                                today=TODAY)
    return _PLANS[key]


@FAST
@given(surgeries, stays, offsets, amounts_lb)
def test_lb_and_kg_answers_agree(surgery, stay, n, lb):
    plan = _plan(surgery, stay)
    kg = Decimal(lb) * Decimal(KG_PER_LB.numerator) / Decimal(KG_PER_LB.denominator)
    on = surgery + timedelta(n)
    a = check(plan, Request.lift(f"{lb}lb"), on)
    b = check(plan, Request.lift(f"{kg}kg"), on)
    assert a.verdict == b.verdict
    assert a.rule_ids == b.rule_ids


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(surgeries, stays, st.integers(min_value=0, max_value=100), clearance_sets, conditions,
       conditions, amounts_lb, st.decimals(min_value=0, max_value=10, places=2))
def test_no_limit_loosens_before_its_window(surgery, stay, n, clear_days, med0, comf0, lb,
                                            hours):
    """Before a rule's earliest end (any clearances, any conditions that make it apply), what
    the rule forbids stays forbidden, and what it sends to the doctor is not simply allowed."""
    plan = _plan(surgery, stay)
    clearances = {k: surgery + timedelta(v) for k, v in clear_days.items()}
    on = surgery + timedelta(n)
    for dr in plan.rules:
        _check_rule_holds(plan, dr, on, clearances, med0, comf0, lb, hours)


def _check_rule_holds(plan, dr, on, clearances, med, comf, lb, hours):
    rule = dr.rule
    if on < dr.start_latest or on > plan.horizon:
        return
    if dr.end_earliest is not None and on >= dr.end_earliest:
        return
    if rule.when is not None:  # make the condition hold
        value = not rule.when.startswith("not_")
        if "pain" in rule.when:
            med = value
        else:
            comf = value
    given_on = clearances.get(rule.released_by or "")
    if given_on is not None and given_on <= on and (dr.end_latest is None
                                                    or rule.status == "ask_doctor"):
        return  # "until cleared" rules and "ask your doctor" rules end with the clearance
    event(f"checked {rule.status}" + (" with its clearance given" if given_on else ""))
    assert rule_state(plan, dr, on, clearances) == RuleState.IN_FORCE
    request = {"lift": Request.lift(f"{lb}lb"), "sit": Request.sit(f"{hours}h"),
               "car_ride": Request.car_ride(f"{hours}h"), "drive": Request.drive(),
               "bend_twist": Request.bend_twist(), "fall_contact": Request.fall_contact(),
               "walk": Request.walk()}[rule.activity]
    answer = check(plan, request, on, on_pain_medication=med, comfortable=comf,
                   clearances=clearances)
    if rule.status == "avoid":
        assert answer.verdict == Verdict.NOT_ALLOWED
    elif rule.status == "ask_doctor":
        assert RANK[answer.verdict] >= RANK[Verdict.ASK_DOCTOR]
    elif rule.status == "limited" and rule.limit is not None:
        amount = request.amount.base
        if amount > rule.limit.high_quantity().base:
            assert answer.verdict == Verdict.NOT_ALLOWED
        elif amount > rule.limit.low_quantity().base:
            assert RANK[answer.verdict] >= RANK[Verdict.ASK_DOCTOR]
    elif rule.status == "limited":
        assert RANK[answer.verdict] >= RANK[Verdict.LIMITED]


@FAST
@given(surgeries, stays, amounts_lb, clearance_sets)
def test_lifting_never_gets_stricter_with_time(surgery, stay, lb, clear_days):
    """With fixed clearances, the answer to "lift N lb" only loosens as days pass."""
    plan = _plan(surgery, stay)
    clearances = {k: surgery + timedelta(v) for k, v in clear_days.items()}
    request = Request.lift(f"{lb}lb")
    cuts = sorted({0, 1, 27, 28, 29, 41, 42, 43, 89, 90, 91, 200,
                   *(v for v in clear_days.values()), *(v + 1 for v in clear_days.values())})
    ranks = [RANK[check(plan, request, surgery + timedelta(c), clearances=clearances).verdict]
             for c in cuts]
    assert ranks == sorted(ranks, reverse=True)


@FAST
@given(surgeries, stays, offsets)
def test_phases_partition_time_and_statuses_are_constant_inside(surgery, stay, n):
    plan = _plan(surgery, stay)
    on = surgery + timedelta(n)
    phase = plan.phase_on(on)
    from kypho.aftercare import day_status

    assert tuple((s.activity, s.status, s.limit) for s in day_status(plan, on)) == tuple(
        (s.activity, s.status, s.limit) for s in phase.statuses)
