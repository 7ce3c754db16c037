"""The after-care section of the case report (key ``"aftercare"``)."""

from __future__ import annotations

import html
from datetime import date

from kypho.aftercare.engine import AftercarePlan, Status, format_date
from kypho.aftercare.followup import followup_schedule, plot_answers
from kypho.aftercare.timeline import plot_timeline
from kypho.aftercare.walking import plot_walks, walk_trend
from kypho.report import Section, figure_from_matplotlib

__all__ = ["aftercare_section"]

_CLASS = {Status.ENCOURAGED: "ok", Status.ALLOWED: "ok", Status.AVOID: "flag",
          Status.ASK_DOCTOR: "", Status.LIMITED: ""}


def aftercare_section(plan: AftercarePlan, *, record: object | None = None,
                      on: date | None = None) -> Section:
    """Report section: timeline, phases and statuses, follow-ups, red flags, walking, answers.

    Parameters
    ----------
    plan : AftercarePlan
        The patient's plan.
    record : PatientRecord, optional
        Walks and questionnaire answers to summarise and plot.
    on : date, optional
        Date the follow-up states refer to (default: the last logged date, else the surgery date).
    """
    e = html.escape
    p = plan.patient
    walks = tuple(getattr(record, "walks", ()) or ())
    answers = tuple(getattr(record, "answers", ()) or ())
    logged = [w.on for w in walks] + [a.on for a in answers]
    on = on or (max(logged) if logged else p.surgery)
    parts = [
        f"<p>Patient <strong>{e(p.patient_id)}</strong>; surgery {e(format_date(p.surgery))}; "
        f"discharge {e(format_date(p.discharge))}; treated levels "
        f"{e(', '.join(p.levels) or 'not given')}; time zone {e(plan.time_zone)}. Protocol "
        f"<code>{e(plan.protocol.id)}</code> version {e(plan.protocol.version)} "
        f"(sha256 {e(plan.protocol.digest[:12])}).</p>",
    ]
    acts = plan.protocol.activities
    head = "".join(f"<th>{e(a.name)}</th>" for a in acts)
    rows = []
    for ph in plan.phases:
        end = format_date(ph.last_day) if ph.last_day else "onwards"
        cells = []
        for st in ph.statuses:
            label = st.status.value.replace("_", " ")
            if st.limit and st.status in (Status.LIMITED, Status.ASK_DOCTOR):
                label += f" ({st.limit})"
            if st.conditions:
                label += "; " + "; ".join(st.conditions)
            cls = _CLASS[st.status]
            cells.append(f'<td class="{cls}">{e(label)}</td>' if cls else f"<td>{e(label)}</td>")
        rows.append(f"<tr><td>{ph.index}: {e(format_date(ph.start))} to {e(end)}</td>"
                    f"{''.join(cells)}</tr>")
    parts.append(f"<table><tr><th>phase</th>{head}</tr>{''.join(rows)}</table>")
    parts.append("<p>Statuses assume nothing about pain medication or comfort unless the patient "
                 "reported it; the conditions are listed where they matter.</p>")
    fu_rows = []
    for fs in followup_schedule(plan, answers, on=on):
        fu = fs.followup
        scores = ", ".join(f"{k} {v:g}" for k, v in fs.answer.scores.items()) if fs.answer else ""
        fu_rows.append(f"<tr><td>{e(fu.followup.label)}</td><td>{e(format_date(fu.due))}</td>"
                       f"<td>{e(', '.join(fu.followup.instruments))}</td><td>{e(fs.state)}</td>"
                       f"<td>{e(scores)}</td></tr>")
    if fu_rows:
        parts.append("<h3>Follow-up questionnaires</h3><table><tr><th>time point</th><th>due</th>"
                     "<th>instruments</th><th>state</th><th>scores</th></tr>"
                     + "".join(fu_rows) + "</table>")
    if plan.protocol.red_flags:
        items = "".join(f"<li>{e(f.text)} <em>({e(f.action.replace('_', ' '))})</em></li>"
                        for f in plan.protocol.red_flags)
        parts.append(f'<h3>Red flags</h3><ul class="flag">{items}</ul>')
    figures = [figure_from_matplotlib(
        plot_timeline(plan),
        "After-care timeline: each activity's status by week after surgery (hatched: only if "
        "the patient's own report allows, e.g. not on pain medication); lines mark discharge and "
        "questionnaire due dates.",
    )]
    if walks:
        trend = walk_trend(plan, walks)
        parts.append(f"<h3>Walking</h3><p>{e(trend.message)}</p>")
        figures.append(figure_from_matplotlib(
            plot_walks(plan, walks),
            "Walking log: logged per day (bars), weekly mean of logged days (line), clinic "
            "targets if the clinic set any (dashed).",
        ))
    else:
        parts.append(f"<h3>Walking</h3><p>No walks logged. {e(plan.protocol.walking.note)}</p>")
    if answers:
        figures.append(figure_from_matplotlib(
            plot_answers(plan, answers),
            "Questionnaire scores against days after surgery; grey lines mark the due dates.",
        ))
    return Section(key="aftercare", title="After-care plan", html="\n".join(parts),
                   figures=tuple(figures))
