"""The timeline picture: bars follow the plan's phases, merged where nothing changes."""

from __future__ import annotations

from datetime import timedelta

import matplotlib

matplotlib.use("Agg")

from kypho.aftercare import Status
from kypho.aftercare.timeline import _bar_text, _segments, plot_timeline, timeline_window

from .conftest import DISCHARGE, SURGERY


def _days(segments):
    return [((a - SURGERY).days, (b - SURGERY).days, s.status) for a, b, s in segments]


def test_window_ends_two_weeks_after_the_last_change(plan):
    start, stop = timeline_window(plan)
    assert start == SURGERY and stop == SURGERY + timedelta(days=90 + 14)


def test_segments_merge_phases_with_the_same_status(plan):
    _, stop = timeline_window(plan)
    assert _days(_segments(plan, "lift", stop)) == [
        (0, 28, Status.LIMITED), (28, 42, Status.ASK_DOCTOR), (42, 90, Status.LIMITED),
        (90, 104, Status.ALLOWED)]
    assert _days(_segments(plan, "car_ride", stop)) == [
        (0, 14, Status.LIMITED), (14, 28, Status.ASK_DOCTOR), (28, 104, Status.ALLOWED)]
    drive_days = (DISCHARGE + timedelta(days=7) - SURGERY).days
    assert _days(_segments(plan, "drive", stop)) == [
        (0, drive_days, Status.ASK_DOCTOR), (drive_days, 104, Status.ALLOWED)]
    assert _days(_segments(plan, "walk", stop)) == [(0, 104, Status.ENCOURAGED)]
    assert _days(_segments(plan, "fall_contact", stop)) == [(0, 104, Status.AVOID)]


def test_bar_text_shortens_to_fit():
    limit = "5-10 lb (2.3-4.5 kg)"
    assert _bar_text(Status.LIMITED, limit, 60, 0.8) == "limited: up to 5-10 lb (2.3-4.5 kg)"
    assert _bar_text(Status.LIMITED, limit, 20, 0.8) == "limited: up to 5-10 lb"
    assert _bar_text(Status.LIMITED, limit, 14, 0.8) == "up to 5-10 lb"
    assert _bar_text(Status.AVOID, None, 3, 0.8) == ""


def test_timeline_figure_shows_bars_dates_and_limits(plan):
    fig = plot_timeline(plan)
    ax = fig.axes[0]
    texts = {t.get_text() for t in ax.texts}
    assert "limited: up to about 20 lb (9.1 kg)" in texts
    assert "avoid" in texts and "encouraged" in texts
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == "Walking"
    top = [t.get_text() for t in ax.child_axes[0].get_xticklabels()]
    assert top[0] == "discharge 21 Nov" and "1 month questionnaire 20 Dec" in top
    assert "12 months questionnaire: Sat 20 Nov 2027" in fig.texts[0].get_text()
    n_bars = sum(len(_segments(plan, a.id, timeline_window(plan)[1]))
                 for a in plan.protocol.activities)
    assert len(ax.patches) == n_bars
    import matplotlib.pyplot as plt

    plt.close(fig)
