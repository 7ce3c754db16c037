"""Run the issue-19 corpus and the crash loops once and print the counts (before/after table).

    python tests/hardening/measure.py            # the installed kypho
    PYTHONPATH=/path/to/other/src python tests/hardening/measure.py   # another checkout

Counts: inputs tried, clean errors, correct results, tracebacks, accepted bad input, hangs,
memory blow-ups, data-loss events (corpus checks plus crash-loop states that are neither the
old nor the new data), wrong results.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import CASES
from crashes import CRASH_SCENARIOS
from harness import ForkServer, crash_loop, run_case

__all__ = ["main"]


def main() -> None:
    """Run everything, print one line per non-passing case and the totals."""
    counts: Counter[str] = Counter()
    crash: Counter[str] = Counter()
    t0 = time.perf_counter()
    server = ForkServer()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for n, case in enumerate(CASES):
                folder = Path(tmp) / f"c{n}"
                folder.mkdir()
                outcome, runs = run_case(server, case, folder)
                counts[outcome] += 1
                if outcome not in ("clean error", "ok"):
                    tail = runs[0]["stderr"].strip().splitlines()[-1:] if runs else []
                    print(f"{outcome:12s} {case.id}: {tail[0][:150] if tail else ''}")
            for name, scenario in CRASH_SCENARIOS.items():
                folder = Path(tmp) / name
                folder.mkdir()
                results = crash_loop(server, folder, **scenario(folder))
                for k, problem in results:
                    crash["runs"] += 1
                    if problem:
                        crash["data loss"] += 1
                        print(f"data loss    {name} killed at mutation {k}: {problem[:150]}")
    finally:
        server.close()
    print(f"\ncorpus inputs: {sum(counts.values())} ({time.perf_counter() - t0:.0f} s in all)")
    for key in ("clean error", "ok", "traceback", "not one line", "accepted", "hang", "memory",
                "data loss", "wrong"):
        print(f"  {key:12s} {counts[key]}")
    print(f"crash-loop runs (killed before each file-system mutation): {crash['runs']}, "
          f"states neither old nor new: {crash['data loss']}")

if __name__ == "__main__":
    main()
