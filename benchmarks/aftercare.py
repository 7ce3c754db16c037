"""Benchmark the after-care engine and exports.

Usage: ``python benchmarks/aftercare.py [--quick]`` (quick: fewer repetitions).  No network.
Prints a Markdown table of wall-clock milliseconds per operation (median of the repetitions).
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date, timedelta

from kypho.aftercare import (
    Patient,
    Request,
    aftercare_section,
    check,
    load_protocol,
    make_plan,
    plan_to_fhir_json,
    plan_to_ics,
    plan_to_pdf,
)
from kypho.aftercare.timeline import plot_timeline
from kypho.report import figure_from_matplotlib


def _median_ms(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 repetitions instead of 15")
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    reps = 3 if args.quick else 15
    protocol = load_protocol()
    patient = Patient("bench", date(2026, 11, 20), date(2026, 11, 21), levels=("L1",),
                      time_zone="Europe/Berlin")
    today = date(2026, 11, 25)
    plan = make_plan(patient, protocol, today=today)
    days = [patient.surgery + timedelta(days=d) for d in range(0, 120)]

    def lift_checks() -> None:
        for d in days:
            check(plan, Request.lift("15lb"), d)

    def timeline_png() -> None:
        figure_from_matplotlib(plot_timeline(plan), "timeline")

    rows = [
        ("load default protocol (TOML + schema + checks)", _median_ms(load_protocol, reps)),
        ("make_plan (6 phases)", _median_ms(lambda: make_plan(patient, protocol, today=today),
                                            reps)),
        ("check lift 15 lb, 120 days", _median_ms(lift_checks, reps)),
        ("iCalendar export", _median_ms(lambda: plan_to_ics(plan), reps)),
        ("FHIR export + validation", _median_ms(lambda: plan_to_fhir_json(plan), reps)),
        ("PDF handout (7 pages)", _median_ms(lambda: plan_to_pdf(plan), reps)),
        ("timeline figure to PNG", _median_ms(timeline_png, reps)),
        ("report section (timeline, no logs)", _median_ms(lambda: aftercare_section(plan),
                                                          reps)),
    ]
    print(f"| operation (median of {reps}) | ms |")
    print("|---|---:|")
    for name, ms in rows:
        print(f"| {name} | {ms:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
