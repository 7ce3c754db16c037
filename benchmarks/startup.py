"""Start-up time of ``kypho`` commands against importing typer and rich alone.

Each command runs in a fresh interpreter, once to warm the bytecode cache (written even where
``PYTHONDONTWRITEBYTECODE`` is set in the caller's environment) and then ``--repeat`` times;
the table gives the median wall time and its ratio to ``python -c "import typer, rich"`` in
the same run.

Usage: ``python benchmarks/startup.py [--quick] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

PY = sys.executable
KYPHO = str(Path(PY).with_name("kypho"))
COMMANDS: list[tuple[str, list[str]]] = [
    ("python -c 'import typer, rich' (baseline)", [PY, "-c", "import typer, rich"]),
    ("python -c 'import kypho.errors'", [PY, "-c", "import kypho.errors"]),
    ("python -c 'import kypho'", [PY, "-c", "import kypho"]),
    ("kypho --help", [KYPHO, "--help"]),
    ("kypho aftercare check --lift 5lb ...", [
        KYPHO, "aftercare", "check", "--surgery", "2026-12-01", "--discharge", "2026-12-02",
        "--lift", "5lb", "--date", "2026-12-05"]),
    ("python -c 'import kypho; kypho.SpineAnatomy'", [
        PY, "-c", "import kypho; kypho.SpineAnatomy"]),
]


def _time(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=False)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="3 runs per command")
    ap.add_argument("--repeat", type=int, default=9)
    args = ap.parse_args(argv)
    n = 3 if args.quick else args.repeat
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    rows = []
    for name, cmd in COMMANDS:
        _time(cmd, env)  # warm: bytecode and file cache
        rows.append((name, statistics.median(_time(cmd, env) for _ in range(n))))
    base = rows[0][1]
    print(f"\n== Start-up, median of {n} runs (each in a fresh interpreter) ==")
    print("| command | wall s | x baseline |\n|---|---:|---:|")
    for name, t in rows:
        print(f"| {name} | {t:.3f} | {t / base:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
