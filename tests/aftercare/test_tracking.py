"""Walking log and trend, follow-up questionnaires, the patient store and the report section."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from kypho.aftercare import (
    AftercareInputError,
    JsonPatientStore,
    PatientRecord,
    PatientStore,
    QuestionnaireAnswer,
    WalkEntry,
    aftercare_section,
    check_answer,
    check_walk,
    followup_schedule,
    make_plan,
    make_walk,
    parse_protocol,
    walk_trend,
)
from kypho.aftercare.store import record_from_json, record_to_json
from kypho.aftercare.walking import daily_totals, plot_walks
from kypho.errors import FormatError, InputFileError

from .conftest import SURGERY, TODAY

PNG = b"\x89PNG\r\n\x1a\n"


def _walks(per_week: list[list[float]]) -> list[WalkEntry]:
    out = []
    for wk, days in enumerate(per_week):
        for i, minutes in enumerate(days):
            out.append(WalkEntry(SURGERY + timedelta(days=7 * wk + i), minutes=minutes))
    return out


# -- walking -------------------------------------------------------------------------------------
def test_make_walk_parses_distance_and_checks_dates(plan):
    w = make_walk("2026-11-22", minutes=12, distance="1.2km")
    assert (w.minutes, w.distance_m) == (12.0, 1200.0)
    assert make_walk(SURGERY, distance="0.5mi").distance_m == pytest.approx(804.672)
    with pytest.raises(AftercareInputError, match="before surgery"):
        check_walk(plan, make_walk(SURGERY - timedelta(1), minutes=5), today=TODAY)
    with pytest.raises(AftercareInputError, match="in the future"):
        check_walk(plan, make_walk(TODAY + timedelta(1), minutes=5), today=TODAY)
    with pytest.raises(AftercareInputError, match="minutes, a distance"):
        WalkEntry(SURGERY)
    with pytest.raises(AftercareInputError, match=">= 0"):
        WalkEntry(SURGERY, minutes=-3)
    with pytest.raises(AftercareInputError, match="more than a day"):
        WalkEntry(SURGERY, minutes=2000)


def test_daily_totals_add_walks_of_one_day():
    walks = [WalkEntry(SURGERY, minutes=5), WalkEntry(SURGERY, minutes=7, distance_m=300),
             WalkEntry(SURGERY + timedelta(1), distance_m=500)]
    assert daily_totals(walks) == {SURGERY: (12.0, 300.0), SURGERY + timedelta(1): (None, 500.0)}


@pytest.mark.parametrize(
    ("weeks", "direction", "change"),
    [([[5, 5, 5], [10, 10]], "increasing", 100.0),   # means 5 -> 10 minutes
     ([[10, 20], [15]], "steady", 0.0),
     ([[10, 10], [4, 6]], "decreasing", -50.0),
     ([[10, 10], [], [12]], "increasing", 20.0)],   # a week without logs is skipped
)
def test_walk_trend_compares_weekly_means(plan, weeks, direction, change):
    trend = walk_trend(plan, _walks(weeks))
    assert trend.metric == "minutes" and trend.direction == direction
    assert trend.change_percent == pytest.approx(change)
    assert trend.gradual is None and "no number for 'gradually'" in trend.message


def test_walk_trend_needs_two_weeks(plan):
    trend = walk_trend(plan, _walks([[5, 6, 7]]))
    assert trend.direction == "not enough data" and trend.metric is None


def test_walk_trend_prefers_distance_when_logged(plan):
    walks = [WalkEntry(SURGERY, minutes=30, distance_m=1000),
             WalkEntry(SURGERY + timedelta(8), minutes=20, distance_m=1500)]
    trend = walk_trend(plan, walks)
    assert trend.metric == "distance" and trend.direction == "increasing"


def test_clinic_targets_and_gradual_setting(patient, edit_protocol):
    text = edit_protocol(("targets = []", "max_weekly_increase_percent = 50\n"
                          'targets = [{ from = "0d", until = "7d", minutes_per_day = 5 }, '
                          '{ from = "7d", minutes_per_day = 15 }]'))
    plan = make_plan(patient, parse_protocol(text), today=TODAY)
    assert [(t.start, t.end) for t in plan.walking_targets] == [
        (SURGERY, SURGERY + timedelta(7)), (SURGERY + timedelta(7), None)]
    fast = walk_trend(plan, _walks([[5, 5], [10, 10]]))       # +100 % > 50 %
    assert fast.gradual is False and fast.on_target is False
    slow = walk_trend(plan, _walks([[12, 12], [16, 16]]))     # +33 % <= 50 %, target 15 met
    assert slow.gradual is True and slow.on_target is True
    assert slow.weeks[1].target_minutes == 15 and slow.weeks[0].target_minutes == 5


def test_walk_plot_is_png(plan):
    import io

    fig = plot_walks(plan, _walks([[5, 6], [8, 9]]))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue().startswith(PNG)


# -- follow-up -----------------------------------------------------------------------------------
def test_followup_due_dates(plan):
    assert [(f.followup.id, f.due) for f in plan.followups] == [
        ("1w", date(2026, 11, 27)), ("1mo", date(2026, 12, 20)), ("3mo", date(2027, 2, 20)),
        ("12mo", date(2027, 11, 20))]


def test_followup_schedule_states(plan):
    ans = QuestionnaireAnswer("1w", date(2026, 11, 27), {"pain_nrs": 4, "rmdq": 10})
    states = [s.state for s in followup_schedule(plan, [ans], on=date(2026, 12, 20))]
    assert states == ["done", "due", "upcoming", "upcoming"]


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [(QuestionnaireAnswer("2w", TODAY, {"pain_nrs": 3}), "unknown follow-up time point"),
     (QuestionnaireAnswer("1w", TODAY, {"pain_nrs": 11}), "outside 0-10"),
     (QuestionnaireAnswer("1w", TODAY, {"rmdq": 3.5}), "whole number"),
     (QuestionnaireAnswer("1w", TODAY, {"odi": 30}), "not asked at this time point"),
     (QuestionnaireAnswer("1w", TODAY, {}), "no scores"),
     (QuestionnaireAnswer("1w", TODAY + timedelta(3), {"pain_nrs": 1}), "between surgery")],
)
def test_bad_answers(plan, answer, fragment):
    with pytest.raises(AftercareInputError, match=fragment):
        check_answer(plan, answer, today=TODAY)


def test_answer_rejects_non_numbers():
    with pytest.raises(AftercareInputError, match="must be a number"):
        QuestionnaireAnswer("1w", TODAY, {"pain_nrs": "three"})


# -- store ---------------------------------------------------------------------------------------
def test_json_store_round_trip(tmp_path, patient):
    store = JsonPatientStore(tmp_path)
    assert isinstance(store, PatientStore)
    rec = PatientRecord(patient).with_walk(WalkEntry(SURGERY + timedelta(2), minutes=10))
    rec = rec.with_walk(WalkEntry(SURGERY + timedelta(1), distance_m=400.0))
    rec = rec.with_answer(QuestionnaireAnswer("1w", TODAY, {"pain_nrs": 3.0, "rmdq": 8.0}))
    rec = rec.with_clearance("drive", TODAY)
    store.save(rec)
    back = store.load("p1")
    assert back == rec
    assert [w.on for w in back.walks] == [SURGERY + timedelta(1), SURGERY + timedelta(2)]
    assert record_to_json(back) == (tmp_path / "p1.json").read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["p1.json"]  # no temporary files left


def test_store_errors(tmp_path, patient):
    store = JsonPatientStore(tmp_path)
    with pytest.raises(InputFileError, match="no after-care record"):
        store.load("nobody")
    with pytest.raises(AftercareInputError, match="patient id"):
        store.path_for("../evil")
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(FormatError, match="not valid JSON"):
        store.load("bad")
    good = record_to_json(PatientRecord(patient))
    with pytest.raises(FormatError, match="before the surgery"):
        record_from_json(good.replace('"discharge": "2026-11-21"', '"discharge": "2026-11-01"'))
    with pytest.raises(FormatError, match="'format' must be"):
        record_from_json('{"format": "other"}')


def test_failed_save_keeps_the_old_record(tmp_path, patient, monkeypatch):
    store = JsonPatientStore(tmp_path)
    store.save(PatientRecord(patient))
    before = (tmp_path / "p1.json").read_bytes()
    from pathlib import Path

    real = Path.write_bytes

    def half_then_fail(self, data):
        real(self, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", half_then_fail)
    with pytest.raises(OSError):
        store.save(PatientRecord(patient).with_walk(WalkEntry(SURGERY, minutes=1)))
    monkeypatch.undo()
    assert (tmp_path / "p1.json").read_bytes() == before
    assert len(list(tmp_path.iterdir())) == 1


# -- report --------------------------------------------------------------------------------------
def test_report_section(plan, patient):
    rec = PatientRecord(patient, walks=tuple(_walks([[5, 6], [8, 9]])),
                        answers=(QuestionnaireAnswer("1w", date(2026, 11, 27),
                                                     {"pain_nrs": 4, "rmdq": 10}),))
    sec = aftercare_section(plan, record=rec)
    assert sec.key == "aftercare"
    assert "Fri 20 Nov 2026" in sec.html and "Bladder problems" in sec.html
    assert sec.html.count("<tr><td>") == len(plan.phases) + len(plan.followups)
    assert "increasing" in sec.html
    assert len(sec.figures) == 3 and all(f.png.startswith(PNG) for f in sec.figures)
    assert [f.caption.split(":")[0] for f in sec.figures] == [
        "After-care timeline", "Walking log", "Questionnaire scores against days after surgery; "
        "grey lines mark the due dates."]
    bare = aftercare_section(plan)
    assert len(bare.figures) == 1 and bare.figures[0].caption.startswith("After-care timeline")
    assert "No walks logged" in bare.html


def test_records_are_written_in_the_envelope_and_version_1_is_still_read(patient):
    import json

    from kypho.aftercare.store import PatientRecord

    text = record_to_json(PatientRecord(patient))
    doc = json.loads(text)
    assert doc["format"] == "kypho.aftercare-record/2" and "not a medical device" in doc["disclaimer"]
    legacy = {k: v for k, v in doc.items() if k not in ("kypho_version", "disclaimer")}
    legacy["format"] = "kypho-aftercare-patient/1"
    back = record_from_json(json.dumps(legacy))
    assert back.patient.patient_id == patient.patient_id
    with pytest.raises(FormatError, match="'format' must be"):
        record_from_json(json.dumps({**doc, "format": "kypho.plan/2"}))
