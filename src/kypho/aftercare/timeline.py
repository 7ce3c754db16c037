"""A picture of the plan: each activity's status over the first months, with the patient's dates.

One row per activity, coloured by status phase by phase (the same phases as the handout); a
hatched bar marks a status that also depends on the patient's own report (pain medication,
comfort).  Vertical lines mark discharge and the follow-up due dates inside the window; later
follow-ups are listed under the axis.  The picture shows the statuses as the plan states them;
it adds no number of its own.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from kypho.aftercare.engine import ActivityStatus, AftercarePlan, Status, format_date

__all__ = ["STATUS_COLOURS", "plot_timeline", "timeline_window"]

#: Colour and legend label per status (colour-blind-safe palette: Okabe-Ito).
STATUS_COLOURS: dict[Status, tuple[str, str]] = {
    Status.ENCOURAGED: ("#009E73", "encouraged"),
    Status.ALLOWED: ("#B8E0D2", "allowed"),
    Status.LIMITED: ("#E69F00", "limited"),
    Status.ASK_DOCTOR: ("#56B4E9", "ask your doctor"),
    Status.AVOID: ("#D55E00", "avoid"),
}


def timeline_window(plan: AftercarePlan) -> tuple[date, date]:
    """First and last (exclusive) day drawn: surgery to two weeks after the last phase change.

    Two weeks of margin is a drawing choice, not a medical number.
    """
    last_change = max(ph.start for ph in plan.phases)
    return plan.patient.surgery, last_change + timedelta(days=14)


def _fits(text: str, width_days: float, days_per_char: float) -> bool:
    return len(text) * days_per_char + 1.0 <= width_days


def _bar_text(status: Status, limit: str | None, width_days: float,
              days_per_char: float) -> str:
    """The longest label that fits the bar: status and limit, then shorter forms."""
    label = STATUS_COLOURS[status][1]
    candidates = [label]
    if limit and status in (Status.LIMITED, Status.ASK_DOCTOR):
        no_kg = re.sub(r" \([^()]*\b(kg|lb)\)", "", limit)
        candidates = [f"{label}: up to {limit}", f"{label}: up to {no_kg}", f"up to {no_kg}",
                      label]
    return next((c for c in candidates if _fits(c, width_days, days_per_char)), "")


def _segments(plan: AftercarePlan, activity: str,
              stop: date) -> list[tuple[date, date, ActivityStatus]]:
    """Consecutive phases with the same status, limit and conditions merged into one bar."""
    out: list[tuple[date, date, ActivityStatus]] = []
    for ph in plan.phases:
        if ph.start >= stop:
            break
        end = min(ph.end or stop, stop)
        st = next(s for s in ph.statuses if s.activity == activity)
        key = (st.status, st.limit, st.conditions)
        if out and out[-1][1] == ph.start:
            prev = out[-1][2]
            if (prev.status, prev.limit, prev.conditions) == key:
                out[-1] = (out[-1][0], end, prev)
                continue
        out.append((ph.start, end, st))
    return out


def plot_timeline(plan: AftercarePlan):
    """Matplotlib figure of the plan's statuses over time (see the module docstring)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    p = plan.patient
    start, stop = timeline_window(plan)
    span = (stop - start).days
    acts = plan.protocol.activities
    fig, ax = plt.subplots(figsize=(11, 0.5 * len(acts) + 2.6))
    # Approximate width of one character of 7.5 pt text in days (axes about 8 inches wide).
    days_per_char = span / (8.0 * 72 / (7.5 * 0.55))
    conditional = False
    for row, act in enumerate(acts):
        y = len(acts) - 1 - row
        for seg_start, seg_end, st in _segments(plan, act.id, stop):
            x0, x1 = (seg_start - start).days, (seg_end - start).days
            colour = STATUS_COLOURS[st.status][0]
            hatch = "///" if st.conditions else None
            conditional = conditional or hatch is not None
            ax.barh(y, x1 - x0, left=x0, height=0.72, color=colour, edgecolor="white",
                    linewidth=1.2, hatch=hatch)
            text = _bar_text(st.status, st.limit, x1 - x0, days_per_char)
            if text:
                dark = st.status in (Status.ENCOURAGED, Status.AVOID)
                ax.text((x0 + x1) / 2, y, text, ha="center", va="center", fontsize=7.5,
                        color="white" if dark else "#1b1f24", clip_on=True,
                        bbox={"facecolor": colour, "edgecolor": "none", "pad": 0.6}
                        if hatch else None)
    ax.set_yticks(range(len(acts)))
    ax.set_yticklabels([a.name for a in reversed(acts)], fontsize=9)
    ax.set_xlim(0, span)
    ax.set_ylim(-0.6, len(acts) - 0.2)

    marks: list[tuple[float, str]] = []

    def vline(d: date, label: str, colour: str, style: str) -> None:
        x = (d - start).days
        ax.axvline(x, color=colour, linestyle=style, linewidth=1.1, zorder=3)
        marks.append((x, label))

    vline(p.discharge, f"discharge {_short(p.discharge)}", "#333333", "-")
    later = []
    for fu in plan.followups:
        if fu.due < stop:
            vline(fu.due, f"{fu.followup.label} questionnaire {_short(fu.due)}", "#6a3d9a", "--")
        else:
            later.append(f"{fu.followup.label} questionnaire: {format_date(fu.due)}")
    merged: list[tuple[float, str]] = []
    for x, lab in sorted(marks):
        if merged and x - merged[-1][0] < 0.05 * span:  # labels too close to read: join them
            merged[-1] = (merged[-1][0], f"{merged[-1][1]}; {lab}")
        else:
            merged.append((x, lab))
    top = ax.secondary_xaxis("top")
    top.set_xticks([x for x, _ in merged])
    top.set_xticklabels([lab for _, lab in merged], rotation=30, ha="left", fontsize=7.5,
                        rotation_mode="anchor")
    ticks = list(range(0, span + 1, 7))
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"wk {t // 7}\n{_short(start + timedelta(days=t))}" for t in ticks],
                       fontsize=7)
    ax.set_xlabel("weeks after surgery (day of surgery = week 0)", fontsize=9)
    who = p.name or f"patient {p.patient_id}"
    ax.set_title(f"After-care timeline: {who}, surgery {format_date(p.surgery)}, discharge "
                 f"{format_date(p.discharge)}", fontsize=10, pad=14, loc="left")
    handles = [Patch(facecolor=c, label=lab) for c, lab in STATUS_COLOURS.values()]
    if conditional:
        handles.append(Patch(facecolor="white", edgecolor="#555555", hatch="///",
                             label="only if the patient's own report allows"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=6,
              fontsize=8, frameon=False)
    note = f"Statuses from {format_date(plan.phases[-1].start)} hold onwards."
    if later:
        note += " Later: " + "; ".join(later) + "."
    note += " Research/education software, not a medical device."
    fig.text(0.01, 0.005, note, fontsize=7.5, color="#555555", va="bottom")
    ax.grid(axis="x", alpha=0.25)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def _short(d: date) -> str:
    return f"{d.day} {format_date(d).split()[2]}"
