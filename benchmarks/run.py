"""Run every benchmark in this folder and print their tables, then a summary table.

Usage: ``python benchmarks/run.py [--quick] [NAME ...]``.  Each benchmark is a script
``benchmarks/<name>.py`` that prints its own table and accepts ``--quick``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs for a smoke check")
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    args = parser.parse_args(argv)
    scripts = sorted(p for p in HERE.glob("*.py") if p.name != "run.py" and not p.name.startswith("_"))
    if args.names:
        scripts = [p for p in scripts if p.stem in args.names]
    summary = []
    for script in scripts:
        print(f"\n=== {script.stem} ===", flush=True)
        t0 = time.perf_counter()
        cmd = [sys.executable, str(script), *(["--quick"] if args.quick else [])]
        rc = subprocess.call(cmd)
        summary.append((script.stem, time.perf_counter() - t0, rc))
    print("\n| benchmark | wall s | status |\n|---|---:|---|")
    for name, secs, rc in summary:
        print(f"| {name} | {secs:.1f} | {'ok' if rc == 0 else f'failed ({rc})'} |")
    return 0 if all(rc == 0 for *_, rc in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
