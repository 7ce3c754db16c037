"""Follow-up questionnaires: due dates, answers and a plot of the answers over time.

Time points and instruments come from the protocol (default: back pain 0-10 and the Roland-Morris
Disability Questionnaire at 1 week, 1, 3 and 12 months after surgery, the time points of the
vertebral augmentation trials FREE, VERTOS II and INVEST; see ``docs/references/aftercare.md``).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Literal

from kypho.aftercare.engine import AftercarePlan, DatedFollowUp
from kypho.aftercare.errors import AftercareInputError

__all__ = [
    "FollowUpStatus",
    "QuestionnaireAnswer",
    "check_answer",
    "followup_schedule",
    "plot_answers",
]


@dataclass(frozen=True)
class QuestionnaireAnswer:
    """Scores filled in for one follow-up time point (``{"pain_nrs": 3, "rmdq": 8}``)."""

    time_point: str
    on: date
    scores: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        clean: dict[str, float] = {}
        for key, value in dict(self.scores).items():
            if (isinstance(value, bool) or not isinstance(value, int | float)
                    or not math.isfinite(value)):
                raise AftercareInputError(f"questionnaire {self.time_point!r}: score {key!r} "
                                          f"must be a number, got {value!r}")
            clean[str(key)] = float(value)
        object.__setattr__(self, "scores", MappingProxyType(clean))


def check_answer(plan: AftercarePlan, answer: QuestionnaireAnswer, *,
                 today: date) -> QuestionnaireAnswer:
    """Refuse unknown time points or instruments, out-of-range scores and impossible dates."""
    fu = next((f for f in plan.followups if f.followup.id == answer.time_point), None)
    if fu is None:
        known = ", ".join(f.followup.id for f in plan.followups) or "none"
        raise AftercareInputError(f"unknown follow-up time point {answer.time_point!r} "
                                  f"(known: {known})")
    if not answer.scores:
        raise AftercareInputError(f"questionnaire {answer.time_point!r}: no scores given")
    if answer.on < plan.patient.surgery or answer.on > today:
        raise AftercareInputError(
            f"questionnaire {answer.time_point!r} dated {answer.on.isoformat()}: must be between "
            f"surgery ({plan.patient.surgery.isoformat()}) and today ({today.isoformat()})"
        )
    for key, value in answer.scores.items():
        if key not in fu.followup.instruments:
            raise AftercareInputError(
                f"questionnaire {answer.time_point!r}: instrument {key!r} is not asked at this "
                f"time point (asked: {', '.join(fu.followup.instruments)})"
            )
        ins = plan.protocol.instrument(key)
        if not ins.min <= value <= ins.max:
            raise AftercareInputError(f"{ins.name}: score {value:g} is outside "
                                      f"{ins.min:g}-{ins.max:g}")
        if ins.integer and value != int(value):
            raise AftercareInputError(f"{ins.name}: score {value:g} must be a whole number")
    return answer


@dataclass(frozen=True)
class FollowUpStatus:
    """A follow-up time point on a date: ``done``, ``due`` (due date reached) or ``upcoming``."""

    followup: DatedFollowUp
    state: Literal["done", "due", "upcoming"]
    answer: QuestionnaireAnswer | None


def followup_schedule(plan: AftercarePlan, answers: Sequence[QuestionnaireAnswer], *,
                      on: date) -> tuple[FollowUpStatus, ...]:
    """Each follow-up time point with its state on ``on`` (the latest answer counts)."""
    out = []
    for fu in plan.followups:
        mine = [a for a in answers if a.time_point == fu.followup.id]
        if mine:
            out.append(FollowUpStatus(fu, "done", max(mine, key=lambda a: a.on)))
        else:
            out.append(FollowUpStatus(fu, "due" if on >= fu.due else "upcoming", None))
    return tuple(out)


def plot_answers(plan: AftercarePlan, answers: Sequence[QuestionnaireAnswer]):
    """Matplotlib figure: each instrument's score against days after surgery, due dates marked."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    surgery = plan.patient.surgery
    used = [i for i in plan.protocol.instruments
            if any(i.id in fu.followup.instruments for fu in plan.followups)]
    fig, axes = plt.subplots(1, max(1, len(used)), figsize=(4.0 * max(1, len(used)), 3.4),
                             squeeze=False)
    for ax, ins in zip(axes[0], used, strict=False):
        pts = sorted(((a.on - surgery).days, a.scores[ins.id]) for a in answers
                     if ins.id in a.scores)
        for fu in plan.followups:
            if ins.id in fu.followup.instruments:
                x = (fu.due - surgery).days
                ax.axvline(x, color="#bbbbbb", lw=0.8, zorder=0)
                ax.text(x, ins.max, f" {fu.followup.label}", rotation=90, va="top", fontsize=7,
                        color="#777777")
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color="#1f4e79")
        else:
            ax.text(0.5, 0.5, "no answers yet", transform=ax.transAxes, ha="center",
                    color="#777777")
        ax.set_ylim(ins.min, ins.max)
        ax.set_xlim(left=-5, right=max(((fu.due - surgery).days for fu in plan.followups),
                                       default=0) + 10)
        ax.set_xlabel("days after surgery")
        title = ins.name + (" (lower is better)" if ins.better == "lower" else "")
        ax.set_title(textwrap.fill(title, 40), fontsize=9)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
