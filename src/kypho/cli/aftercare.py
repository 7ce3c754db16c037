"""``kypho aftercare``: the after-care plan (plan, check, status, log-walk, answer, clear,
progress, report, protocol, validate).

``kypho aftercare check`` exit codes: 0 allowed, 1 not allowed (or a condition not confirmed),
3 ask your doctor, 4 limited (allowed only within a limit the instructions do not quantify),
2 bad input.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from kypho.cli.app import DISCLAIMER, app, err_console, handle_errors, out_console, safe_text
from kypho.cli.options import ForceOpt, LevelsOpt, levels_of

if TYPE_CHECKING:
    from kypho.aftercare.engine import ActivityStatus, AftercarePlan, Patient
    from kypho.aftercare.store import JsonPatientStore, PatientRecord

__all__ = ["aftercare_app"]

aftercare_app = typer.Typer(
    name="aftercare",
    help=f"After-care plan after kyphoplasty: plan, check, log walks and questionnaires. "
    f"{DISCLAIMER}",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(aftercare_app, name="aftercare")

_STORE_ENV = "KYPHO_AFTERCARE_STORE"
#: Patient id used when none is given ('plan' saves under it; the others read it).
DEFAULT_PATIENT = "patient"
_STORE_HELP = (f"Folder of patient records (default: ${_STORE_ENV}, else kypho's user data "
               "folder).")


def _date(text: str | None, what: str, default: date | None = None) -> date:
    """A date option within kypho's calendar (:func:`kypho.core.params.parse_date`)."""
    from kypho.aftercare.errors import AftercareInputError
    from kypho.core.params import parse_date

    if text is None:
        if default is None:
            raise AftercareInputError(f"--{what} is required (YYYY-MM-DD)")
        return default
    return parse_date(text, f"--{what}")


def _store(folder: Path | None) -> JsonPatientStore:
    from kypho.aftercare.store import JsonPatientStore

    if folder is None:
        env = os.environ.get(_STORE_ENV)
        if env:
            folder = Path(env)
        else:
            import platformdirs

            folder = Path(platformdirs.user_data_dir("kypho")) / "aftercare"
    return JsonPatientStore(folder)


def _plan_from(record: PatientRecord, today: date | None) -> AftercarePlan:
    from kypho.aftercare.engine import make_plan
    from kypho.aftercare.protocol import load_protocol

    return make_plan(record.patient, load_protocol(record.protocol_path), today=today)


def _load(patient: str, store: Path | None, today: date | None) -> tuple[
        PatientRecord, AftercarePlan, JsonPatientStore]:
    st = _store(store)
    record = st.load(patient)
    return record, _plan_from(record, today), st


def _today(plan: AftercarePlan, today: str | None) -> date:
    from kypho.aftercare.engine import today_in

    return _date(today, "today", today_in(plan.time_zone))


@aftercare_app.command("plan")
@handle_errors
def plan_cmd(
    surgery: str = typer.Option(..., help="Day of surgery, YYYY-MM-DD."),
    discharge: str = typer.Option(..., help="Day of discharge from hospital, YYYY-MM-DD."),
    out: Path = typer.Option(..., "-o", "--out", help="Folder for handout.pdf, aftercare.ics, "
                             "careplan.fhir.json, plan.json and timeline.png."),
    protocol: Path | None = typer.Option(None, help="Protocol TOML (default: kypho's)."),
    patient: str = typer.Option(DEFAULT_PATIENT, help="Patient id (letters, digits, _ . -)."),
    name: str = typer.Option("", help="Name printed on the handout."),
    level: LevelsOpt = None,
    force: ForceOpt = False,
    tz: str | None = typer.Option(None, "--tz", help="Patient's IANA time zone (default: the "
                                  "protocol's)."),
    store: Path | None = typer.Option(None, help=_STORE_HELP + " The patient is saved there."),
    today: str | None = typer.Option(None, help="Pretend today is this date (testing).",
                                     hidden=True),
) -> None:
    """Make a patient's plan: PDF handout, calendar, FHIR CarePlan, JSON summary, timeline.

    The patient is saved in the record folder, so that 'check', 'status' and 'log-walk' work
    without repeating the dates. Re-planning a patient keeps their walks, answers and
    clearances; moving them to other dates is refused.
    """
    from kypho.aftercare.engine import Patient, format_date, make_plan
    from kypho.aftercare.outputs import AFTERCARE_FILES, render_outputs
    from kypho.aftercare.protocol import load_protocol
    from kypho.aftercare.store import PatientRecord
    from kypho.core.outputs import output_folder

    output_folder(out, AFTERCARE_FILES, force=force)
    proto = load_protocol(protocol)
    st = _store(store)
    pat = Patient(patient, _date(surgery, "surgery"), _date(discharge, "discharge"),
                  levels=levels_of(level), name=name, time_zone=tz)
    old = st.load(patient) if st.exists(patient) else None  # refuses a broken record early
    if old is not None:
        _check_replan(old, pat)
        pat = replace(pat, clearances=dict(old.patient.clearances))
    plan = make_plan(pat, proto, today=_date(today, "today") if today else None)
    # Build everything in memory first: an error leaves no file behind.
    files = render_outputs(plan)
    protocol_path = str(protocol.resolve()) if protocol else None

    def replan(current: PatientRecord | None) -> PatientRecord:
        # Under the record's lock: the record as it is now (another process may have logged
        # a walk since it was read above).
        if current is None:
            return PatientRecord(pat, protocol_path)
        _check_replan(current, pat)
        return PatientRecord(replace(pat, clearances=dict(current.patient.clearances)),
                             protocol_path, current.walks, current.answers)

    # The record first (the patient's data), then the handouts, all or none of them.
    _update(st, patient, replan)
    _write_files(out, files, saved=f"the patient record {pat.patient_id!r} was saved")
    out_console.print(f"After-care plan for {pat.patient_id}: {len(plan.phases)} phases from "
                      f"{format_date(pat.surgery)}; wrote {', '.join(files)} to "
                      f"{safe_text(out)}", highlight=False, markup=False)
    for ph in plan.phases:
        end = format_date(ph.last_day) if ph.last_day else "onwards"
        summary = ", ".join(_status_text(s) for s in ph.statuses)
        out_console.print(f"  phase {ph.index}: {format_date(ph.start)} to {end}: {summary}",
                          highlight=False, markup=False)
    err_console.print(f"saved patient record {pat.patient_id!r} in {safe_text(st.folder)} (use "
                      f"'kypho aftercare check --patient {pat.patient_id} ...', 'log-walk', "
                      "'status')", highlight=False, markup=False)


def _status_text(st: ActivityStatus) -> str:
    text = f"{st.activity} {st.status.value}"
    if st.conditions:
        text += f" ({'; '.join(st.conditions)})"
    return text


def _check_replan(old: PatientRecord, new: Patient) -> None:
    """Refuse to move logged walks, answers or clearances onto other dates (no lost data)."""
    from kypho.aftercare.errors import AftercareInputError

    o = old.patient
    if (o.surgery, o.discharge) == (new.surgery, new.discharge):
        return
    logged = []
    for n, what in ((len(old.walks), "walk"), (len(old.answers), "questionnaire"),
                    (len(o.clearances), "clearance")):
        if n:
            logged.append(f"{n} {what}{'s' if n > 1 else ''}")
    if logged:
        raise AftercareInputError(
            f"patient {o.patient_id!r} already has a record with surgery "
            f"{o.surgery.isoformat()} and discharge {o.discharge.isoformat()} holding "
            f"{', '.join(logged)}; to plan other dates use another --patient id (nothing was "
            "changed)"
        )


def _write_files(out: Path, files: dict[str, bytes], *, saved: str = "") -> None:
    """Write the files into ``out`` all or none (:func:`kypho.core.atomic.write_files_atomic`);
    an unwritable folder is one clear error (exit 2)."""
    from kypho.core.atomic import write_files_atomic
    from kypho.errors import InputFileError

    if out.exists() and not out.is_dir():
        raise InputFileError(f"cannot write to {out}: it is a file, not a folder")
    try:
        write_files_atomic(out, files)
    except OSError as exc:
        note = f" ({saved}; no file was written)" if saved else " (no file was written)"
        raise InputFileError(f"cannot write {exc.filename or out}: "
                             f"{exc.strerror or exc}{note}") from None


def _update(st: JsonPatientStore, patient: str,
            change: Callable[[PatientRecord | None], PatientRecord]) -> PatientRecord:
    """Load-modify-save of one record under its lock; an unwritable folder is one error."""
    from kypho.errors import InputFileError

    try:
        return st.update(patient, change)
    except OSError as exc:
        raise InputFileError(f"cannot save the patient record in {st.folder}: "
                             f"{exc.strerror or exc} (the record was left unchanged)") from None


def _existing(patient: str) -> Callable[[PatientRecord | None], PatientRecord]:
    """``change`` for :func:`_update` that needs the record to exist."""

    def need(current: PatientRecord | None) -> PatientRecord:
        from kypho.errors import InputFileError

        if current is None:
            raise InputFileError(f"the after-care record of patient {patient!r} was removed "
                                 "meanwhile")
        return current

    return need


def _clearances(items: list[str], default_day: date) -> dict[str, date]:
    """``--cleared ID`` (given on the day asked about) or ``--cleared ID=YYYY-MM-DD``."""
    from kypho.aftercare.errors import AftercareInputError

    out = {}
    for item in items:
        key, sep, when = item.partition("=")
        if not key.strip():
            raise AftercareInputError(f"--cleared {item!r}: give the clearance id, e.g. "
                                      "drive or drive=2026-12-20")
        if sep and not when.strip():
            raise AftercareInputError(f"--cleared {item!r}: give the date after '=' "
                                      "(YYYY-MM-DD) or leave out '='")
        out[key.strip()] = _date(when, "cleared", None) if sep else default_day
    return out


@aftercare_app.command("check")
@handle_errors
def check_cmd(
    on: str | None = typer.Option(None, "--date", help="Date asked about (default: today)."),
    lift: str | None = typer.Option(None, help="Lift this much, e.g. 15lb or 7kg."),
    sit: str | None = typer.Option(None, help="Sit upright for this long, e.g. 3h or 45min."),
    car_ride: str | None = typer.Option(None, help="Ride in a car for this long, e.g. 2.5h."),
    drive: bool = typer.Option(False, "--drive", help="Drive a car."),
    bend_twist: bool = typer.Option(False, "--bend-twist", help="Bend or twist."),
    fall_contact: bool = typer.Option(False, "--fall-contact",
                                      help="An activity with a risk of a fall or contact."),
    walk: bool = typer.Option(False, "--walk", help="Walk."),
    patient: str | None = typer.Option(None, help="Stored patient id (default: the one "
                                       "'plan' saved without --patient)."),
    store: Path | None = typer.Option(None, help=_STORE_HELP),
    surgery: str | None = typer.Option(None, help="Day of surgery (without --patient)."),
    discharge: str | None = typer.Option(None, help="Day of discharge (without --patient)."),
    protocol: Path | None = typer.Option(None, help="Protocol TOML (without --patient)."),
    pain_medication: bool | None = typer.Option(
        None, "--pain-medication/--no-pain-medication", help="Whether you take pain medication."),
    comfortable: bool | None = typer.Option(
        None, "--comfortable/--not-comfortable", help="Whether it feels comfortable."),
    cleared: list[str] = typer.Option([], "--cleared", help="A clearance your doctor gave, "
                                      "ID or ID=YYYY-MM-DD. Repeatable."),
    as_json: bool = typer.Option(False, "--json", help="Print the answer as JSON."),
    today: str | None = typer.Option(None, hidden=True),
) -> None:
    """Answer "may I do this on this date?" (exit 0 yes, 1 no, 3 ask your doctor, 4 limited).

    Exit code 2 means bad input. A condition you do not give (--pain-medication,
    --comfortable) is not assumed: driving then answers "not confirmed" (exit 1).
    """
    from kypho.aftercare.engine import EXIT_CODES, Request, check
    from kypho.aftercare.errors import AftercareInputError

    asked = [x for x in (
        Request.lift(lift) if lift is not None else None,
        Request.sit(sit) if sit is not None else None,
        Request.car_ride(car_ride) if car_ride is not None else None,
        Request.drive() if drive else None, Request.bend_twist() if bend_twist else None,
        Request.fall_contact() if fall_contact else None, Request.walk() if walk else None,
    ) if x is not None]
    if len(asked) != 1:
        raise AftercareInputError("ask exactly one of --lift, --sit, --car-ride, --drive, "
                                  "--bend-twist, --fall-contact, --walk")
    plan = _plan_for_query(patient, store, surgery, discharge, protocol, today)
    day = _date(on, "date", _today(plan, today))
    answer = check(plan, asked[0], day, on_pain_medication=pain_medication,
                   comfortable=comfortable, clearances=_clearances(cleared, day))
    if as_json:
        out_console.print_json(json.dumps({
            "request": asked[0].describe(), "date": day.isoformat(),
            "verdict": answer.verdict.value, "status": answer.status.value,
            "exit_code": answer.exit_code, "reason": answer.reason,
            "rules": list(answer.rule_ids),
        }))
    else:
        out_console.print(f"{day.isoformat()}: {asked[0].describe()}? {answer.reason}",
                          highlight=False, markup=False, soft_wrap=True)
    assert EXIT_CODES[answer.verdict] == answer.exit_code
    raise typer.Exit(answer.exit_code)


def _plan_for_query(patient: str | None, store: Path | None, surgery: str | None,
                    discharge: str | None, protocol: Path | None,
                    today: str | None) -> AftercarePlan:
    from kypho.aftercare.engine import Patient, make_plan
    from kypho.aftercare.errors import AftercareInputError
    from kypho.aftercare.protocol import load_protocol

    fixed_today = _date(today, "today") if today else None
    if patient is not None:
        if surgery or discharge or protocol:
            raise AftercareInputError("give either --patient or --surgery/--discharge, not both")
        return _load(patient, store, fixed_today)[1]
    if surgery is None and discharge is None and protocol is None:
        st = _store(store)
        if st.exists(DEFAULT_PATIENT):
            return _load(DEFAULT_PATIENT, store, fixed_today)[1]
        raise AftercareInputError(
            f"no patient: run 'kypho aftercare plan --surgery YYYY-MM-DD --discharge YYYY-MM-DD "
            f"-o DIR' first (record folder {st.folder}), or give --patient ID or both "
            "--surgery and --discharge"
        )
    if surgery is None or discharge is None:
        raise AftercareInputError("give both --surgery and --discharge (or --patient ID)")
    pat = Patient("patient", _date(surgery, "surgery"), _date(discharge, "discharge"))
    return make_plan(pat, load_protocol(protocol), today=fixed_today)


@aftercare_app.command("status")
@handle_errors
def status_cmd(
    on: str | None = typer.Option(None, "--date", help="Date (default: today)."),
    patient: str | None = typer.Option(None, help="Stored patient id (default: the one "
                                       "'plan' saved without --patient)."),
    store: Path | None = typer.Option(None, help=_STORE_HELP),
    surgery: str | None = typer.Option(None, help="Day of surgery (without --patient)."),
    discharge: str | None = typer.Option(None, help="Day of discharge (without --patient)."),
    protocol: Path | None = typer.Option(None, help="Protocol TOML (without --patient)."),
    pain_medication: bool | None = typer.Option(None, "--pain-medication/--no-pain-medication"),
    comfortable: bool | None = typer.Option(None, "--comfortable/--not-comfortable"),
    today: str | None = typer.Option(None, hidden=True),
) -> None:
    """Every activity's status on a date, with the reasons."""
    from kypho.aftercare.engine import day_status, format_date

    plan = _plan_for_query(patient, store, surgery, discharge, protocol, today)
    day = _date(on, "date", _today(plan, today))
    out_console.print(f"{format_date(day)} (day {(day - plan.patient.surgery).days} after "
                      "surgery)", highlight=False, markup=False)
    for st in day_status(plan, day, on_pain_medication=pain_medication, comfortable=comfortable):
        extra = f" ({st.limit})" if st.limit else ""
        cond = f" ({'; '.join(st.conditions)})" if st.conditions else ""
        out_console.print(f"- {st.name}: {st.status.value}{extra}{cond}. {st.summary}",
                          highlight=False, markup=False, soft_wrap=True)


@aftercare_app.command("log-walk")
@handle_errors
def log_walk_cmd(
    patient: str = typer.Option(DEFAULT_PATIENT, help="Stored patient id."),
    store: Path | None = typer.Option(None, help=_STORE_HELP),
    on: str | None = typer.Option(None, "--date", help="Day of the walk (default: today)."),
    minutes: float | None = typer.Option(None, help="Minutes walked."),
    distance: str | None = typer.Option(None, help="Distance walked, e.g. 1.2km, 800m, 0.5mi."),
    today: str | None = typer.Option(None, hidden=True),
) -> None:
    """Log a walk (minutes and/or distance) in the patient's record."""
    from kypho.aftercare.walking import check_walk, make_walk, walk_trend

    record, plan, st = _load(patient, store, _date(today, "today") if today else None)
    now = _today(plan, today)
    entry = check_walk(plan, make_walk(_date(on, "date", now), minutes=minutes,
                                       distance=distance), today=now)
    need = _existing(patient)
    record = _update(st, patient, lambda current: need(current).with_walk(entry))
    out_console.print(f"Logged walk on {entry.on.isoformat()} for {patient}. "
                      f"{walk_trend(plan, record.walks).message}", highlight=False, markup=False)


@aftercare_app.command("answer")
@handle_errors
def answer_cmd(
    patient: str = typer.Option(DEFAULT_PATIENT, help="Stored patient id."),
    time_point: str = typer.Option(..., help="Follow-up time point id, e.g. 1w, 1mo, 3mo, 12mo."),
    score: list[str] = typer.Option(..., "--score", help="INSTRUMENT=VALUE, e.g. pain_nrs=3. "
                                    "Repeatable."),
    store: Path | None = typer.Option(None, help=_STORE_HELP),
    on: str | None = typer.Option(None, "--date", help="Day answered (default: today)."),
    today: str | None = typer.Option(None, hidden=True),
) -> None:
    """Record a follow-up questionnaire's scores."""
    from kypho.aftercare.errors import AftercareInputError
    from kypho.aftercare.followup import QuestionnaireAnswer, check_answer
    from kypho.core.params import parse_float

    _, plan, st = _load(patient, store, _date(today, "today") if today else None)
    now = _today(plan, today)
    scores = {}
    for item in score:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise AftercareInputError(f"--score {item!r}: use INSTRUMENT=NUMBER")
        scores[key.strip()] = parse_float(value, f"--score {key.strip()}")
    ans = check_answer(plan, QuestionnaireAnswer(time_point, _date(on, "date", now), scores),
                       today=now)
    need = _existing(patient)
    _update(st, patient, lambda current: need(current).with_answer(ans))
    out_console.print(f"Recorded {time_point} questionnaire for {patient}.", highlight=False,
                      markup=False)


@aftercare_app.command("clear")
@handle_errors
def clear_cmd(
    patient: str = typer.Option(DEFAULT_PATIENT, help="Stored patient id."),
    clearance: str = typer.Option(..., help="Clearance id from the protocol, e.g. "
                                  "lift_increase, drive, fall_contact."),
    store: Path | None = typer.Option(None, help=_STORE_HELP),
    on: str | None = typer.Option(None, "--date", help="Day the doctor gave it (default: today)."),
    today: str | None = typer.Option(None, hidden=True),
) -> None:
    """Record a clearance the doctor gave (it never ends a limit before its window)."""
    from kypho.aftercare.engine import format_date, make_plan

    _, plan, st = _load(patient, store, _date(today, "today") if today else None)
    now = _today(plan, today)
    given_on = _date(on, "date", now)
    need = _existing(patient)

    def add_clearance(current: PatientRecord | None) -> PatientRecord:
        new = need(current).with_clearance(clearance, given_on)
        make_plan(new.patient, plan.protocol, today=now)  # validates the id and date
        return new

    new = _update(st, patient, add_clearance)
    new_plan = make_plan(new.patient, plan.protocol, today=now)
    given = new.patient.clearances[clearance]
    effects = []
    for dr in new_plan.rules:
        if dr.rule.released_by != clearance:
            continue
        early = None if dr.rule.status == "ask_doctor" else dr.end_earliest
        from_day = max(d for d in (given, early) if d is not None)
        effects.append(f"'{dr.rule.text}' can end from {format_date(from_day)}")
    out_console.print(f"Recorded clearance {clearance!r} for {patient} on "
                      f"{format_date(given)}. " + "; ".join(effects) + ".",
                      highlight=False, markup=False)


@aftercare_app.command("progress")
@handle_errors
def progress_cmd(
    patient: str = typer.Option(DEFAULT_PATIENT, help="Stored patient id."),
    out: Path = typer.Option(..., "-o", "--out", help="Folder for walking.png and "
                             "questionnaires.png."),
    store: Path | None = typer.Option(None, help=_STORE_HELP),
    today: str | None = typer.Option(None, hidden=True),
) -> None:
    """Walking trend and questionnaire answers, with plots."""
    from kypho.aftercare.followup import followup_schedule, plot_answers
    from kypho.aftercare.walking import plot_walks, walk_trend
    from kypho.core.outputs import figure_png

    record, plan, _ = _load(patient, store, _date(today, "today") if today else None)
    now = _today(plan, today)
    pngs = {"walking.png": figure_png(plot_walks(plan, record.walks), tight=True),
            "questionnaires.png": figure_png(plot_answers(plan, record.answers), tight=True)}
    _write_files(out, pngs)
    out_console.print(walk_trend(plan, record.walks).message, highlight=False, markup=False)
    for fs in followup_schedule(plan, record.answers, on=now):
        out_console.print(f"- {fs.followup.followup.label} (due {fs.followup.due.isoformat()}): "
                          f"{fs.state}", highlight=False, markup=False)
    err_console.print(f"wrote {', '.join(pngs)} to {safe_text(out)}", highlight=False,
                      markup=False)


@aftercare_app.command("report")
@handle_errors
def report_cmd(
    out: Path = typer.Option(..., "-o", "--out", help="HTML file to write."),
    patient: str = typer.Option(DEFAULT_PATIENT, help="Stored patient id."),
    store: Path | None = typer.Option(None, help=_STORE_HELP),
    today: str | None = typer.Option(None, hidden=True),
) -> None:
    """Write the after-care section of the case report (timeline, phases, follow-ups) as HTML."""
    from kypho.aftercare.report import aftercare_section
    from kypho.errors import InputFileError
    from kypho.report import write_report

    record, plan, _ = _load(patient, store, _date(today, "today") if today else None)
    section = aftercare_section(plan, record=record, on=_today(plan, today))
    if out.is_dir():
        raise InputFileError(f"cannot write {out}: it is a folder (give a file name)")
    try:
        write_report(out, f"After-care: {patient}", [section])
    except OSError as exc:
        raise InputFileError(f"cannot write {out}: {exc.strerror or exc}") from None
    out_console.print(f"wrote {safe_text(out)}", highlight=False, markup=False)


@aftercare_app.command("protocol")
@handle_errors
def protocol_cmd(
    out: Path = typer.Option(..., "-o", "--out", help="Where to write the default protocol."),
    force: bool = typer.Option(False, "--force", help="Replace an existing file."),
) -> None:
    """Write kypho's default protocol (TOML) for a clinic to copy and edit."""
    from kypho.aftercare.errors import AftercareInputError
    from kypho.aftercare.protocol import default_protocol_text
    from kypho.core.atomic import write_text_atomic

    if out.exists() and not force:
        raise AftercareInputError(f"{out} exists (use --force to replace it)")
    try:
        write_text_atomic(out, default_protocol_text())
    except OSError as exc:
        from kypho.errors import InputFileError

        raise InputFileError(f"cannot write {out}: {exc.strerror or exc}") from None
    out_console.print(f"wrote {safe_text(out)}", highlight=False, markup=False)


@aftercare_app.command("validate")
@handle_errors
def validate_cmd(file: Path = typer.Argument(..., help="Protocol TOML to check.")) -> None:
    """Check an edited protocol; prints a summary or one clear error (exit 2)."""
    from kypho.aftercare.protocol import load_protocol

    proto = load_protocol(file)
    out_console.print(f"{safe_text(file)}: valid protocol {proto.id} version {proto.version}: "
                      f"{len(proto.activities)} activities, {len(proto.rules)} rules, "
                      f"{len(proto.followups)} follow-ups, {len(proto.red_flags)} red flags",
                      highlight=False, markup=False)
