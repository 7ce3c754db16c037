"""The walking programme: logged walks, the weekly trend and the clinic's (optional) targets.

The clinic's instructions say only "get up and walk soon after surgery and gradually increase the
distance"; they give no numbers.  kypho therefore reports what the log shows (weekly means of the
logged days and whether the latest week is above, equal to or below the week before) and compares
with targets or a "gradual" ceiling only when the clinic has set them in its protocol (clinic
settings; the default protocol sets none).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from kypho.aftercare.engine import AftercarePlan, format_date
from kypho.aftercare.errors import AftercareInputError
from kypho.aftercare.units import parse_quantity
from kypho.core.params import parse_date
from kypho.errors import InvalidParameterError

__all__ = [
    "MAX_DISTANCE_M_PER_DAY",
    "MAX_MINUTES_PER_DAY",
    "WalkEntry",
    "WalkTrend",
    "WeekSummary",
    "check_walk",
    "daily_totals",
    "make_walk",
    "plot_walks",
    "walk_trend",
]

#: A day has 1440 minutes; more than that in one log entry is a typing error.
MAX_MINUTES_PER_DAY = 24 * 60
#: Longest walk one log entry may hold, metres.  Model choice: 200 km is beyond any patient's
#: day of walking, so more is a typing error.
MAX_DISTANCE_M_PER_DAY = 200_000.0


@dataclass(frozen=True)
class WalkEntry:
    """One logged walk: date and minutes and/or distance in metres."""

    on: date
    minutes: float | None = None
    distance_m: float | None = None

    def __post_init__(self) -> None:
        if self.minutes is None and self.distance_m is None:
            raise AftercareInputError("walk: give minutes, a distance, or both")
        for name, value in (("minutes", self.minutes), ("distance", self.distance_m)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                      or not math.isfinite(value) or value < 0):
                raise AftercareInputError(f"walk {name}: {value!r} must be a number >= 0")
        if self.minutes is not None and self.minutes > MAX_MINUTES_PER_DAY:
            raise AftercareInputError(f"walk minutes: {self.minutes:g} is more than a day")
        if self.distance_m is not None and self.distance_m > MAX_DISTANCE_M_PER_DAY:
            raise AftercareInputError(f"walk distance: {self.distance_m:g} m is more than anyone "
                                      f"walks in a day ({MAX_DISTANCE_M_PER_DAY / 1000:g} km)")


def make_walk(on: date | str, *, minutes: float | None = None,
              distance: str | None = None) -> WalkEntry:
    """A :class:`WalkEntry` from a date, minutes and a distance text (``"1.2km"``, ``"800 m"``)."""
    if isinstance(on, str):
        try:
            on = parse_date(on, "walk date")
        except InvalidParameterError as exc:
            raise AftercareInputError(str(exc)) from None
    metres = None
    if distance is not None:
        metres = float(parse_quantity(distance, kind="distance", what="walk distance").to("m"))
    return WalkEntry(on, None if minutes is None else float(minutes), metres)


def check_walk(plan: AftercarePlan, entry: WalkEntry, *, today: date) -> WalkEntry:
    """Refuse a walk dated before surgery or after ``today``."""
    if entry.on < plan.patient.surgery:
        raise AftercareInputError(f"walk dated {entry.on.isoformat()} is before surgery "
                                  f"({plan.patient.surgery.isoformat()})")
    if entry.on > today:
        raise AftercareInputError(f"walk dated {entry.on.isoformat()} is in the future "
                                  f"(today is {today.isoformat()})")
    return entry


def daily_totals(walks: Iterable[WalkEntry]) -> dict[date, tuple[float | None, float | None]]:
    """Per day: total minutes and total metres (``None`` when none logged that day)."""
    mins: dict[date, float] = defaultdict(float)
    dist: dict[date, float] = defaultdict(float)
    days: set[date] = set()
    for w in walks:
        days.add(w.on)
        if w.minutes is not None:
            mins[w.on] += w.minutes
        if w.distance_m is not None:
            dist[w.on] += w.distance_m
    return {d: (mins[d] if d in mins else None, dist[d] if d in dist else None)
            for d in sorted(days)}


@dataclass(frozen=True)
class WeekSummary:
    """One week after surgery (week 1 = days 0-6): means over the days with a log."""

    week: int
    start: date
    days_logged: int
    mean_minutes: float | None
    mean_distance_m: float | None
    target_minutes: float | None
    target_distance_km: float | None


@dataclass(frozen=True)
class WalkTrend:
    """What the walking log shows.

    ``direction`` compares the latest week with data against the week before it; ``gradual`` is
    ``None`` unless the clinic set ``max_weekly_increase_percent``; ``on_target`` is ``None``
    unless the clinic set a target for the latest week.
    """

    metric: Literal["distance", "minutes"] | None
    weeks: tuple[WeekSummary, ...]
    direction: Literal["increasing", "steady", "decreasing", "not enough data"]
    change_percent: float | None
    gradual: bool | None
    on_target: bool | None
    message: str


def _target_on(plan: AftercarePlan, d: date) -> tuple[float | None, float | None]:
    for t in plan.walking_targets:
        if t.start <= d and (t.end is None or d < t.end):
            return t.target.minutes_per_day, t.target.distance_km_per_day
    return None, None


def walk_trend(plan: AftercarePlan, walks: Sequence[WalkEntry], *,
               on: date | None = None) -> WalkTrend:
    """Weekly summary of ``walks`` up to ``on`` and whether walking is increasing."""
    surgery = plan.patient.surgery
    totals = {d: v for d, v in daily_totals(walks).items() if on is None or d <= on}
    by_week: dict[int, list[tuple[float | None, float | None]]] = defaultdict(list)
    for d, v in totals.items():
        by_week[(d - surgery).days // 7].append(v)
    weeks = []
    for wk in sorted(by_week):
        vals = by_week[wk]
        m = [x for x, _ in vals if x is not None]
        k = [y for _, y in vals if y is not None]
        start = surgery + timedelta(days=7 * wk)
        tm, tk = _target_on(plan, start)
        weeks.append(WeekSummary(wk + 1, start, len(vals), sum(m) / len(m) if m else None,
                                 sum(k) / len(k) if k else None, tm, tk))
    metric: Literal["distance", "minutes"] | None = None
    pair: list[WeekSummary] = []
    for name, attr in (("distance", "mean_distance_m"), ("minutes", "mean_minutes")):
        have = [w for w in weeks if getattr(w, attr) is not None]
        if len(have) >= 2:
            metric, pair = name, have[-2:]  # type: ignore[assignment]
            break
    if metric is None:
        note = plan.protocol.walking.note
        return WalkTrend(None, tuple(weeks), "not enough data", None, None, None,
                         "Log walks in at least two different weeks to see a trend. " + note)
    attr = "mean_distance_m" if metric == "distance" else "mean_minutes"
    prev, last = (getattr(w, attr) for w in pair)
    change = None if prev == 0 else 100.0 * (last - prev) / prev
    if abs(last - prev) <= 1e-9 * max(1.0, abs(prev)):
        direction: Literal["increasing", "steady", "decreasing", "not enough data"] = "steady"
    else:
        direction = "increasing" if last > prev else "decreasing"
    unit = "m" if metric == "distance" else "min"
    msg = (f"Week {pair[1].week}: {last:.0f} {unit} a day on average against {prev:.0f} {unit} "
           f"in week {pair[0].week}: {direction}.")
    limit = plan.protocol.walking.max_weekly_increase_percent
    gradual = None
    if limit is not None and direction == "increasing":
        gradual = change is not None and change <= limit
        msg += (f" The increase ({change:.0f} %) is within" if gradual else
                f" The increase ({'from 0' if change is None else f'{change:.0f} %'}) is above")
        msg += f" your clinic's setting for a gradual increase ({limit:g} % a week)."
    elif limit is None:
        msg += " Your clinic has set no number for 'gradually'."
    on_target = None
    tgt_min, tgt_km = pair[1].target_minutes, pair[1].target_distance_km
    if metric == "minutes" and tgt_min is not None:
        on_target = last >= tgt_min
    elif metric == "distance" and tgt_km is not None:
        on_target = last >= 1000.0 * tgt_km
    if on_target is not None:
        msg += (f" Your clinic's target from {format_date(pair[1].start)} is "
                f"{'met' if on_target else 'not met yet'}.")
    return WalkTrend(metric, tuple(weeks), direction, change, gradual, on_target, msg)


def plot_walks(plan: AftercarePlan, walks: Sequence[WalkEntry], *, on: date | None = None):
    """Matplotlib figure: daily minutes (bars), weekly means (line) and clinic targets (steps)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    surgery = plan.patient.surgery
    totals = {d: v for d, v in daily_totals(walks).items() if on is None or d <= on}
    trend = walk_trend(plan, walks, on=on)
    use_dist = trend.metric == "distance"
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    xs = [(d - surgery).days for d in totals]
    ys = [((v[1] or 0.0) / 1000.0 if use_dist else (v[0] or 0.0)) for v in totals.values()]
    unit = "km per day" if use_dist else "minutes per day"
    ax.bar(xs, ys, width=0.8, color="#8fb8de", label="logged per day")
    wx, wy = [], []
    for w in trend.weeks:
        val = (w.mean_distance_m / 1000.0 if use_dist and w.mean_distance_m is not None
               else w.mean_minutes if not use_dist else None)
        if val is not None:
            wx.append(7 * (w.week - 1) + 3)
            wy.append(val)
    if wx:
        ax.plot(wx, wy, "o-", color="#1f4e79", label="weekly mean of logged days")
    for t in plan.walking_targets:
        val = t.target.distance_km_per_day if use_dist else t.target.minutes_per_day
        if val is None:
            continue
        x0 = (t.start - surgery).days
        x1 = (t.end - surgery).days if t.end else (max(xs, default=x0) + 7)
        ax.hlines(val, x0, x1, colors="#c0504d", linestyles="--")
    if plan.walking_targets:
        ax.plot([], [], "--", color="#c0504d", label="clinic target (clinic setting)")
    ax.set_xlabel("days after surgery")
    ax.set_ylabel(unit)
    ax.set_title(f"Walking: {trend.direction}")
    ax.set_xlim(left=-1)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig
