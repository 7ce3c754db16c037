"""Client of :mod:`forkrun` and the crash-safety loops shared by the tests and ``measure.py``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from corpus import MEM_LIMIT_BYTES, TIMEOUT_S, Case, classify

__all__ = ["ForkServer", "crash_loop", "hidden_leftovers", "run_case"]

HERE = Path(__file__).resolve().parent


class ForkServer:
    """One ``forkrun.py`` process; :meth:`run` sends a request and returns its answer."""

    def __init__(self, python: str = sys.executable, env: dict[str, str] | None = None) -> None:
        full = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                "MPLBACKEND": "Agg", "NUMBA_NUM_THREADS": "1", **(env or {})}
        self.proc = subprocess.Popen(
            [python, str(HERE / "forkrun.py")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, env=full)

    def run(self, args: list[str], *, cwd: Path, env: dict[str, str] | None = None,
            timeout_s: float = TIMEOUT_S, mem_bytes: int = MEM_LIMIT_BYTES, parallel: int = 1,
            kill_at_call: int | None = None) -> dict:
        req = {"args": args, "cwd": str(cwd), "env": env or {}, "timeout_s": timeout_s,
               "mem_bytes": mem_bytes, "parallel": parallel, "kill_at_call": kill_at_call}
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("fork server died")
        return json.loads(line)

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)
        if self.proc.stdout:
            self.proc.stdout.close()


def run_case(server: ForkServer, case: Case, folder: Path) -> tuple[str, list[dict]]:
    """Build ``case`` in ``folder`` (empty), run it, return (outcome, runs)."""
    args = case.build(folder)
    env = {"KYPHO_AFTERCARE_STORE": str(folder / "records"), **case.env}
    reply = server.run(args, cwd=folder, env=env, parallel=case.parallel)
    return classify(case, folder, reply["runs"]), reply["runs"]


def hidden_leftovers(work: Path) -> list[str]:
    """Hidden temporaries left in ``work`` or ``work/records`` (kypho's own start with '.')."""
    out = []
    for folder in (work, work / "records"):
        if folder.is_dir():
            out += [p.name for p in folder.iterdir() if p.name.startswith(".")]
    return sorted(out)


def crash_loop(server: ForkServer, folder: Path, *, prepare: Callable[[Path], None],
               args: list[str], judge: Callable[[Path], str | None],
               max_calls: int = 400, rerun: bool = False) -> list[tuple[int, str | None]]:
    """Kill the command just before each of its file-system mutations in turn.

    ``prepare(work)`` makes the starting state in an empty folder; after each killed run
    ``judge(work)`` returns ``None`` when the state is whole (old or new) or a problem.  With
    ``rerun`` the command then runs again, uninterrupted, in the same folder: it must succeed,
    be judged whole and leave no hidden temporaries (the killed run's are cleaned up).  Ends
    with a run that is not killed.  Returns ``[(k, problem)]`` for every run, the last being
    the uninterrupted one (``k = 0``).
    """
    results = []
    k = 1
    while k <= max_calls:
        work = folder / f"k{k}"
        work.mkdir()
        prepare(work)
        env = {"KYPHO_AFTERCARE_STORE": str(work / "records")}
        reply = server.run([a.replace("{w}", str(work)) for a in args], cwd=work, env=env,
                           kill_at_call=k)
        run = reply["runs"][0]
        killed = run["signal"] is not None
        problem = judge(work)
        if not killed:
            if run["rc"] != 0:
                problem = problem or f"exit {run['rc']}: {run['stderr'][-300:]}"
            results.append((0, problem))
            shutil.rmtree(work, ignore_errors=True)
            break
        if rerun and problem is None:
            again = server.run([a.replace("{w}", str(work)) for a in args], cwd=work,
                               env=env)["runs"][0]
            if again["rc"] != 0:
                problem = f"rerun after the kill: exit {again['rc']}: {again['stderr'][-300:]}"
            else:
                problem = judge(work) or (
                    f"rerun left hidden files {hidden_leftovers(work)}"
                    if hidden_leftovers(work) else None)
        results.append((k, problem))
        shutil.rmtree(work, ignore_errors=True)
        k += 1
    return results
