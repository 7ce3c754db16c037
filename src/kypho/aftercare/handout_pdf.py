"""A printable after-care handout (PDF, fpdf2): large clear type, one page per phase, the
patient's own dates, then a page of warning signs and follow-up dates.

Type sizes: body 14 pt, headings 16-22 pt (the request for older readers: at least 14 pt body).
The font is DejaVu Sans shipped with matplotlib (Unicode, so "°F" and dashes print).  Every page
carries the disclaimer: research/education software, not a medical device; follow your own clinic's
instructions.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from kypho.aftercare.engine import (
    ActivityStatus,
    AftercarePlan,
    DatedRule,
    Finding,
    Phase,
    RuleState,
    Status,
    format_date,
)
from kypho.core.atomic import write_bytes_atomic

__all__ = ["BODY_PT", "HANDOUT_DISCLAIMER", "plan_to_pdf", "rule_date_phrase", "write_handout"]

#: Body type size in points.
BODY_PT = 14
HANDOUT_DISCLAIMER = (
    "Made with kypho, research and education software. It is not a medical device. "
    "Follow your own clinic's instructions; if this sheet and your clinic differ, your clinic is "
    "right."
)

_STATUS_LABEL = {
    Status.ENCOURAGED: ("ENCOURAGED", (24, 121, 78)),
    Status.ALLOWED: ("ALLOWED", (24, 121, 78)),
    Status.LIMITED: ("LIMITED", (160, 100, 0)),
    Status.ASK_DOCTOR: ("ASK YOUR DOCTOR", (31, 78, 121)),
    Status.AVOID: ("AVOID", (176, 0, 32)),
}


def _font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def rule_date_phrase(plan: AftercarePlan, dr: DatedRule, state: RuleState) -> str:
    """Short dated phrase for a rule on the handout (``"Until Wed 17 Feb 2027."``)."""
    rule = dr.rule
    if state == RuleState.STARTING:
        prev = plan.dated(rule.follows) if rule.follows else None
        agree = " if your doctor agrees" if prev is not None and prev.rule.released_by else ""
        return (f"From {format_date(dr.start_earliest)} at the earliest{agree}; "
                f"by {format_date(dr.start_latest)} at the latest.")
    if dr.end_latest is None or dr.end_earliest is None:
        if rule.released_by:
            return "" if "clear" in rule.text.lower() else "Until your doctor clears you."
        if rule.when is not None or rule.status in ("encouraged", "allowed"):
            return ""
        return "No end date is given: ask your doctor."
    last = format_date(dr.end_latest - timedelta(days=1))
    if dr.end_earliest == dr.end_latest:
        if rule.status == "ask_doctor":
            return f"Until {last}: ask your doctor first."
        return f"Until {last}."
    e1, e2 = format_date(dr.end_earliest), format_date(dr.end_latest)
    if state == RuleState.ENDING:
        if rule.released_by:
            return f"May end now if your doctor agrees; it ends by {e2}."
        return f"May have ended now: ask your doctor. It ends by {e2}."
    first = format_date(dr.end_earliest - timedelta(days=1))
    if rule.released_by:
        return f"Until at least {first}; from {e1} if your doctor agrees; it ends by {e2}."
    return f"Until at least {first}; it ends between {e1} and {e2}: ask your doctor."


class _Handout(FPDF):
    def __init__(self, plan: AftercarePlan) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.plan = plan
        fonts = _font_dir()
        self.add_font("DejaVu", "", os.fspath(fonts / "DejaVuSans.ttf"))
        self.add_font("DejaVu", "B", os.fspath(fonts / "DejaVuSans-Bold.ttf"))
        self.set_margins(16, 11, 16)
        self.set_auto_page_break(True, margin=22)
        s = plan.patient.surgery
        self.set_creation_date(datetime(s.year, s.month, s.day, tzinfo=UTC))
        self.set_producer("kypho")
        self.set_title(f"{plan.protocol.title} - {plan.patient.patient_id}")
        self.set_author("kypho (research and education software, not a medical device)")

    def footer(self) -> None:
        self.set_y(-19)
        self.set_font("DejaVu", "", 11)
        self.set_text_color(90, 90, 90)
        self.multi_cell(0, 4.6, f"{HANDOUT_DISCLAIMER}  Page {self.page_no()} of {{nb}}",
                        align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(0, 0, 0)


def _header(pdf: _Handout) -> None:
    plan = pdf.plan
    p = plan.patient
    who = p.name or f"Patient ID {p.patient_id}"
    pdf.set_font("DejaVu", "B", BODY_PT)
    pdf.set_fill_color(236, 241, 246)
    levels = f"  \u2022  levels {', '.join(p.levels)}" if p.levels else ""
    pdf.multi_cell(0, 6.6, f"{who}  \u2022  surgery {_short_date(p.surgery)}  \u2022  discharge "
                   f"{_short_date(p.discharge)}{levels}", fill=True, align="L",
                   new_x=XPos.LMARGIN, new_y=YPos.NEXT, padding=(1.2, 2, 1.2, 2))
    pdf.ln(1.5)


def _short_date(d: date) -> str:
    return format_date(d).split(" ", 1)[1]


def _status_line(st: ActivityStatus) -> tuple[str, str]:
    label, _ = _STATUS_LABEL[st.status]
    extra = []
    if st.limit and st.status in (Status.LIMITED, Status.ASK_DOCTOR):
        extra.append(f"up to {st.limit}")
    extra.extend(st.conditions)
    return label, "; ".join(extra)


def _finding_line(plan: AftercarePlan, f: Finding) -> str:
    dr = plan.dated(f.rule_id)
    phrase = rule_date_phrase(plan, dr, f.state)
    return f"{dr.rule.text} {phrase}".strip()


def _phase_page(pdf: _Handout, phase: Phase, n_phases: int) -> None:
    plan = pdf.plan
    surgery = plan.patient.surgery
    pdf.add_page()
    _header(pdf)
    d0 = (phase.start - surgery).days
    if phase.last_day is None:
        span = f"from {format_date(phase.start)} onwards"
        days = f"day {d0} after surgery onwards"
    else:
        d1 = (phase.last_day - surgery).days
        span = f"{format_date(phase.start)} to {format_date(phase.last_day)}"
        days = f"days {d0} to {d1} after surgery"
    pdf.set_font("DejaVu", "B", 18)
    pdf.multi_cell(0, 8.5, f"Phase {phase.index} of {n_phases}: {span}", align="L",
                   new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("DejaVu", "", BODY_PT)
    pdf.multi_cell(0, 6.4, f"({days})", align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1.5)
    for st in phase.statuses:
        label, extra = _status_line(st)
        colour = _STATUS_LABEL[st.status][1]
        pdf.set_font("DejaVu", "B", BODY_PT)
        pdf.set_text_color(0, 0, 0)
        pdf.write(6.6, f"{st.name}:  ")
        pdf.set_text_color(*colour)
        pdf.write(6.6, label)
        pdf.set_text_color(0, 0, 0)
        if extra:
            pdf.set_font("DejaVu", "", BODY_PT)
            pdf.write(6.6, f"  ({extra})")
        pdf.ln(6.6)
        pdf.set_font("DejaVu", "", BODY_PT)
        lines = [_finding_line(plan, f) for f in st.findings]
        if not lines:
            lines = [f"No limit in your clinic's instructions from {format_date(phase.start)}."]
        for line in lines:
            pdf.set_x(pdf.l_margin + 5)
            pdf.multi_cell(0, 6.1, line, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(1.2)
    pdf.set_font("DejaVu", "B", BODY_PT)
    pdf.set_text_color(176, 0, 32)
    pdf.multi_cell(0, 7, "Warning signs (last page): call straight away if you have any of them.",
                   align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0, 0, 0)


def _last_page(pdf: _Handout) -> None:
    plan = pdf.plan
    pdf.add_page()
    _header(pdf)
    flags = plan.protocol.red_flags
    groups = (("emergency", "Call your emergency number right away if you have:"),
              ("call_clinic", "Call your clinic now if you have:"))
    pdf.set_font("DejaVu", "B", 22)
    pdf.set_text_color(176, 0, 32)
    pdf.multi_cell(0, 10, "Warning signs", align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0, 0, 0)
    for action, heading in groups:
        items = [f for f in flags if f.action == action]
        if not items:
            continue
        pdf.set_font("DejaVu", "B", BODY_PT)
        pdf.multi_cell(0, 7, heading, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font("DejaVu", "", BODY_PT)
        for f in items:
            pdf.set_x(pdf.l_margin + 5)
            pdf.multi_cell(0, 6.6, f"\u2022 {f.text}", align="L", new_x=XPos.LMARGIN,
                           new_y=YPos.NEXT)
        pdf.ln(2)
    if plan.followups:
        pdf.set_font("DejaVu", "B", 18)
        pdf.multi_cell(0, 9, "Follow-up questionnaires", align="L", new_x=XPos.LMARGIN,
                       new_y=YPos.NEXT)
        pdf.set_font("DejaVu", "", BODY_PT)
        for fu in plan.followups:
            names = ", ".join(plan.protocol.instrument(i).name for i in fu.followup.instruments)
            pdf.set_x(pdf.l_margin + 5)
            pdf.multi_cell(0, 6.6, f"\u2022 {fu.followup.label}: {format_date(fu.due)} - {names}",
                           align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(2)
    pdf.set_font("DejaVu", "B", 18)
    pdf.multi_cell(0, 9, "Walking", align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("DejaVu", "", BODY_PT)
    walk = plan.protocol.activity("walk")
    if walk and walk.text:
        pdf.multi_cell(0, 6.6, walk.text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if plan.walking_targets:
        for t in plan.walking_targets:
            what = (f"{t.target.minutes_per_day:g} minutes a day" if t.target.minutes_per_day
                    is not None else f"{t.target.distance_km_per_day:g} km a day")
            until = f" to {format_date(t.end - timedelta(days=1))}" if t.end else " onwards"
            pdf.set_x(pdf.l_margin + 5)
            pdf.multi_cell(0, 6.6, f"\u2022 From {format_date(t.start)}{until}: {what} "
                           "(your clinic's target)", align="L", new_x=XPos.LMARGIN,
                           new_y=YPos.NEXT)
    elif plan.protocol.walking.note:
        pdf.multi_cell(0, 6.6, plan.protocol.walking.note, align="L", new_x=XPos.LMARGIN,
                       new_y=YPos.NEXT)
    pdf.ln(3)
    pdf.set_font("DejaVu", "B", BODY_PT)
    pdf.multi_cell(0, 7, "About this sheet", align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("DejaVu", "", BODY_PT)
    pdf.multi_cell(0, 6.6, f"{HANDOUT_DISCLAIMER} Protocol: {plan.protocol.id}, version "
                   f"{plan.protocol.version}.", align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def plan_to_pdf(plan: AftercarePlan) -> bytes:
    """The handout as PDF bytes: one page per phase, then warning signs and follow-up dates."""
    pdf = _Handout(plan)
    for phase in plan.phases:
        _phase_page(pdf, phase, len(plan.phases))
    _last_page(pdf)
    return bytes(pdf.output())


def write_handout(plan: AftercarePlan, path: str | Path) -> Path:
    """Write :func:`plan_to_pdf` atomically."""
    return write_bytes_atomic(path, plan_to_pdf(plan))
