"""``kypho aftercare``: plan, check (exit codes), log-walk, answer, clear, progress, protocol,
validate; bad input exits 2 and writes nothing."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from icalendar import Calendar
from typer.testing import CliRunner

from kypho.aftercare import validate_fhir_json
from kypho.cli.main import app

runner = CliRunner()
DATES = ["--surgery", "2026-11-20", "--discharge", "2026-11-21"]
TODAY = ["--today", "2026-11-25"]


def run(*args):
    return runner.invoke(app, ["aftercare", *args])


def test_plan_writes_all_exports(tmp_path):
    out = tmp_path / "out"
    res = run("plan", *DATES, "-o", str(out), "--patient", "p1", "--level", "T12,L1",
              "--tz", "America/New_York", *TODAY)
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == [
        "aftercare.ics", "careplan.fhir.json", "handout.pdf", "plan.json", "timeline.png"]
    assert (out / "handout.pdf").read_bytes().startswith(b"%PDF")
    cal = Calendar.from_ical((out / "aftercare.ics").read_bytes())
    assert {str(t.get("tzid")) for t in cal.walk("VTIMEZONE")} == {"America/New_York"}
    validate_fhir_json((out / "careplan.fhir.json").read_text(encoding="utf-8"))
    summary = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    assert summary["patient"]["levels"] == ["T12", "L1"]
    assert len(summary["phases"]) == 6 and "6 phases" in res.output
    assert (out / "timeline.png").read_bytes().startswith(b"\x89PNG")
    again = tmp_path / "again"
    run("plan", *DATES, "-o", str(again), "--patient", "p1", "--level", "T12,L1",
        "--tz", "America/New_York", *TODAY)
    for name in ("aftercare.ics", "careplan.fhir.json", "handout.pdf", "plan.json"):
        assert (out / name).read_bytes() == (again / name).read_bytes(), name


@pytest.mark.parametrize(
    ("args", "code", "word"),
    [(["--date", "2026-12-10", "--lift", "15lb"], 1, "No:"),
     (["--date", "2026-12-10", "--lift", "4lb"], 0, "Yes:"),
     (["--date", "2026-12-10", "--lift", "8lb"], 3, "Ask your doctor"),
     (["--date", "2026-12-20", "--lift", "15lb"], 3, "Ask your doctor"),
     (["--date", "2026-12-20", "--lift", "6.8kg", "--cleared", "lift_increase"], 0, "Yes:"),
     (["--date", "2027-01-01", "--lift", "15lb"], 0, "Yes:"),
     (["--date", "2027-02-17", "--lift", "21lb"], 1, "No:"),
     (["--date", "2027-02-18", "--lift", "21lb"], 0, "Yes:"),
     (["--date", "2026-11-27", "--drive", "--comfortable", "--no-pain-medication"], 3, "Ask"),
     (["--date", "2026-11-28", "--drive", "--comfortable", "--no-pain-medication"], 0, "Yes"),
     (["--date", "2026-11-29", "--drive", "--comfortable", "--pain-medication"], 1, "No"),
     (["--date", "2026-11-29", "--drive"], 1, "Not confirmed"),
     (["--date", "2026-11-25", "--sit", "1h"], 4, "Limited"),
     (["--date", "2026-11-25", "--car-ride", "3h"], 1, "No"),
     (["--date", "2026-11-25", "--bend-twist"], 4, "Limited"),
     (["--date", "2026-11-25", "--fall-contact"], 1, "No"),
     (["--date", "2026-11-25", "--walk"], 0, "Yes")],
)
def test_check_exit_codes(args, code, word):
    res = run("check", *DATES, *args)
    assert res.exit_code == code, res.output
    assert word in res.output


def test_check_json():
    res = run("check", *DATES, "--date", "2026-12-10", "--lift", "15lb", "--json")
    data = json.loads(res.stdout)
    assert (data["verdict"], data["exit_code"]) == ("not_allowed", 1)
    assert data["rules"] == ["lift-first-weeks"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [(["--surgery", "2026-11-22", "--discharge", "2026-11-21", "--drive"], "before the surgery"),
     ([*DATES, "--lift", "-5lb"], "negative"),
     ([*DATES, "--lift", "5 stone"], "unknown unit"),
     ([*DATES, "--lift", "5lb", "--drive"], "exactly one"),
     ([*DATES, "--date", "2031-01-01", "--walk"], "far in the future"),
     ([*DATES, "--date", "2026-11-19", "--walk"], "before surgery"),
     ([*DATES, "--date", "2026-31-12", "--walk"], "not a date"),
     ([*DATES, "--walk", "--cleared", "golf"], "unknown clearance"),
     (["--walk"], "no patient: run 'kypho aftercare plan"),
     (["--surgery", "2031-01-01", "--discharge", "2031-01-02", "--walk"], "far in the future")],
)
def test_check_bad_input_exits_2(args, fragment):
    res = run("check", *args, *TODAY)
    assert res.exit_code == 2, res.output
    assert fragment in res.output


def test_bad_plan_writes_nothing(tmp_path, protocol):
    out = tmp_path / "out"
    res = run("plan", "--surgery", "2026-11-20", "--discharge", "2026-11-10", "-o", str(out))
    assert res.exit_code == 2 and "before the surgery" in res.output
    broken = tmp_path / "broken.toml"
    broken.write_text(protocol.text.replace('unit = "h"', 'unit = "parsec"'), encoding="utf-8")
    res = run("plan", *DATES, "-o", str(out), "--protocol", str(broken))
    assert res.exit_code == 2 and "unknown unit 'parsec'" in res.output
    far = (date.today() + timedelta(days=800)).isoformat()
    res = run("plan", "--surgery", far, "--discharge", far, "-o", str(out))
    assert res.exit_code == 2 and "far in the future" in res.output
    assert not out.exists()


def test_patient_workflow(tmp_path):
    store = ["--store", str(tmp_path / "store")]
    res = run("plan", *DATES, "-o", str(tmp_path / "out"), "--patient", "anna", *store, *TODAY)
    assert res.exit_code == 0, res.output
    for d, minutes in (("2026-11-21", "5"), ("2026-11-22", "6"), ("2026-11-28", "10"),
                       ("2026-11-29", "12")):
        res = run("log-walk", "--patient", "anna", *store, "--date", d, "--minutes", minutes,
                  "--today", "2026-11-30")
        assert res.exit_code == 0, res.output
    assert "increasing" in res.output
    res = run("log-walk", "--patient", "anna", *store, "--date", "2026-12-25", "--minutes", "5",
              "--today", "2026-11-30")
    assert res.exit_code == 2 and "in the future" in res.output
    res = run("answer", "--patient", "anna", *store, "--time-point", "1w", "--score",
              "pain_nrs=4", "--score", "rmdq=11", "--date", "2026-11-27", "--today", "2026-11-30")
    assert res.exit_code == 0, res.output
    res = run("answer", "--patient", "anna", *store, "--time-point", "1w", "--score",
              "pain_nrs=12", "--today", "2026-11-30")
    assert res.exit_code == 2 and "outside 0-10" in res.output
    res = run("clear", "--patient", "anna", *store, "--clearance", "lift_increase", "--date",
              "2026-11-30", "--today", "2026-11-30")
    assert res.exit_code == 0, res.output
    res = run("clear", "--patient", "anna", *store, "--clearance", "golf", "--today",
              "2026-11-30")
    assert res.exit_code == 2
    # The stored clearance counts from week 4 on, not before.
    later = ["--today", "2026-11-30"]
    assert run("check", "--patient", "anna", *store, "--date", "2026-12-17", "--lift",
               "15lb", *later).exit_code == 1
    assert run("check", "--patient", "anna", *store, "--date", "2026-12-18", "--lift",
               "15lb", *later).exit_code == 0
    res = run("progress", "--patient", "anna", *store, "-o", str(tmp_path / "prog"),
              "--today", "2026-11-30")
    assert res.exit_code == 0, res.output
    assert "1 week (due 2026-11-27): done" in res.output
    assert (tmp_path / "prog" / "walking.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "prog" / "questionnaires.png").read_bytes().startswith(b"\x89PNG")
    res = run("status", "--patient", "anna", *store, "--date", "2026-12-01", *later)
    assert res.exit_code == 0 and "Lifting: limited" in res.output
    record = json.loads((tmp_path / "store" / "anna.json").read_text(encoding="utf-8"))
    assert len(record["walks"]) == 4 and record["patient"]["clearances"] == {
        "lift_increase": "2026-11-30"}
    assert run("log-walk", "--patient", "bob", *store, "--minutes", "3").exit_code == 2


def test_protocol_copy_and_validate(tmp_path):
    path = tmp_path / "clinic.toml"
    assert run("protocol", "-o", str(path)).exit_code == 0
    assert run("protocol", "-o", str(path)).exit_code == 2  # no silent overwrite
    res = run("validate", str(path))
    assert res.exit_code == 0 and "11 rules" in res.output
    path.write_text(path.read_text(encoding="utf-8").replace('latest = "6w"', 'latest = "3w"'),
                    encoding="utf-8")
    res = run("validate", str(path))
    assert res.exit_code == 2 and "reversed range" in res.output
    assert run("validate", str(tmp_path / "none.toml")).exit_code == 2


def test_plan_then_check_without_repeating_the_dates(tmp_path, _record_folder):
    """The issue's flow: 'plan --surgery --discharge -o DIR', then 'check --date --lift 15lb'."""
    assert run("check", "--date", "2026-12-10", "--lift", "15lb", *TODAY).exit_code == 2
    res = run("plan", *DATES, "-o", str(tmp_path / "out"), *TODAY)
    assert res.exit_code == 0, res.output
    assert (_record_folder / "patient.json").is_file()
    res = run("check", "--date", "2026-12-10", "--lift", "15lb", *TODAY)
    assert res.exit_code == 1 and "No:" in res.output
    res = run("check", "--date", "2027-02-18", "--lift", "9.6kg", *TODAY)
    assert res.exit_code == 0 and "no longer applies: it ended on Thu 18 Feb 2027" in res.output
    assert run("log-walk", "--minutes", "10", "--date", "2026-11-22", *TODAY).exit_code == 0
    assert run("status", "--date", "2026-11-22", *TODAY).exit_code == 0


def test_replanning_keeps_or_protects_tracking_data(tmp_path, _record_folder):
    out = str(tmp_path / "out")
    assert run("plan", *DATES, "-o", out, *TODAY).exit_code == 0
    assert run("log-walk", "--minutes", "10", "--date", "2026-11-22", *TODAY).exit_code == 0
    assert run("clear", "--clearance", "drive", "--date", "2026-11-23", *TODAY).exit_code == 0
    record = _record_folder / "patient.json"
    before = record.read_bytes()
    res = run("plan", "--surgery", "2026-11-21", "--discharge", "2026-11-22", "-o",
              str(tmp_path / "other"), *TODAY)
    assert res.exit_code == 2 and "1 walk, 1 clearance" in res.output
    assert record.read_bytes() == before and not (tmp_path / "other").exists()
    # Same dates again (new levels): the handouts are replaced only with --force; walks and
    # clearances are kept.
    res = run("plan", *DATES, "-o", out, "--level", "L1", *TODAY)
    assert res.exit_code == 2 and "--force" in res.output
    assert run("plan", *DATES, "-o", out, "--level", "L1", "--force", *TODAY).exit_code == 0
    data = json.loads(record.read_text(encoding="utf-8"))
    assert data["patient"]["levels"] == ["L1"] and len(data["walks"]) == 1
    assert data["patient"]["clearances"] == {"drive": "2026-11-23"}
    res = run("check", "--date", "2026-11-24", "--drive", "--comfortable",
              "--no-pain-medication", *TODAY)
    assert res.exit_code == 0 and "ended by your doctor's clearance from Mon 23 Nov" in res.output


def test_unwritable_or_absurd_input_is_one_line_exit_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    res = run("plan", *DATES, "-o", str(blocker / "sub"), *TODAY)  # parent is a file
    assert res.exit_code == 2 and "cannot write" in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    res = run("check", *DATES, "--date", "2026-12-10", "--lift", "1e400lb", *TODAY)
    assert res.exit_code == 2 and "too large" in res.output


def test_report_command_writes_the_aftercare_section(tmp_path):
    assert run("plan", *DATES, "-o", str(tmp_path / "out"), *TODAY).exit_code == 0
    html_path = tmp_path / "report.html"
    res = run("report", "-o", str(html_path), *TODAY)
    assert res.exit_code == 0, res.output
    text = html_path.read_text(encoding="utf-8")
    assert '<section id="aftercare">' in text and "data:image/png;base64," in text
    assert "not a medical device" in text.lower()
    assert run("report", "-o", str(tmp_path), *TODAY).exit_code == 2  # a folder
