"""A fork server that runs ``kypho`` commands in child processes, each under limits.

Started once per test worker (``python forkrun.py``): it imports kypho's CLI once (about 1.5 s),
then reads one JSON request per line on stdin and answers one JSON line on stdout.  Each command
runs in a forked child that sets an address-space limit (``RLIMIT_AS``), changes to its folder,
sets its environment and calls the real entry point; the parent kills it after ``timeout_s``.
Forking after the import keeps a case at a few tens of milliseconds instead of a fresh
interpreter's 1.5 s, so a corpus of a hundred commands stays within seconds.

Request: ``{"args": [...], "cwd": str, "env": {...}, "timeout_s": float, "mem_bytes": int,
"parallel": int, "kill_at_call": int|null}``.  Answer: ``{"runs": [{"rc", "signal", "stdout",
"stderr", "seconds", "timed_out"}], "calls": int}``.  ``parallel`` forks that many children at
once (concurrent writers); ``kill_at_call`` makes the child SIGKILL itself just before its n-th
file-system mutation (``os.replace``, ``os.rename``, ``os.unlink``...), to test crash safety.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import tempfile
import time
import traceback

__all__ = ["main"]

#: File-system mutations a crash test can interrupt (``kill_at_call``).
_MUTATIONS = ("replace", "rename", "unlink", "remove", "rmdir", "link", "symlink", "mkdir")


def _arm_kill(n: int, counter_path: str) -> None:
    """Make the n-th call of any of :data:`_MUTATIONS` kill this process before it runs."""
    count = [0]

    def wrap(name: str):
        real = getattr(os, name)

        def inner(*args, **kwargs):
            count[0] += 1
            with open(counter_path, "w") as f:
                f.write(str(count[0]))
            if count[0] == n:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)

        return inner

    for name in _MUTATIONS:
        setattr(os, name, wrap(name))


def _child(req: dict, out_path: str, err_path: str, counter_path: str) -> None:
    code = 1
    try:
        os.setsid()
        mem = int(req.get("mem_bytes") or 0)
        if mem:
            resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        os.chdir(req["cwd"])
        os.environ.update(req.get("env") or {})
        fd_in = os.open(os.devnull, os.O_RDONLY)
        os.dup2(fd_in, 0)
        os.dup2(os.open(out_path, os.O_WRONLY | os.O_TRUNC), 1)
        os.dup2(os.open(err_path, os.O_WRONLY | os.O_TRUNC), 2)
        if req.get("kill_at_call"):
            _arm_kill(int(req["kill_at_call"]), counter_path)
        from kypho.cli.main import app

        sys.argv = ["kypho", *req["args"]]
        try:
            app(args=list(req["args"]), prog_name="kypho")
            code = 0
        except SystemExit as exc:
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _run(req: dict) -> dict:
    n = max(1, int(req.get("parallel") or 1))
    timeout = float(req.get("timeout_s") or 10.0)
    tmp = tempfile.mkdtemp(prefix="kypho-forkrun-")
    kids = []
    for i in range(n):
        paths = [os.path.join(tmp, f"{i}.{s}") for s in ("out", "err", "calls")]
        for p in paths:
            open(p, "w").close()
        pid = os.fork()
        if pid == 0:
            _child(req, *paths)
        kids.append((pid, paths, time.monotonic()))
    runs = []
    deadline = time.monotonic() + timeout
    pending = {pid: (paths, t0) for pid, paths, t0 in kids}
    done: dict[int, dict] = {}
    while pending:
        for pid in list(pending):
            got, status = os.waitpid(pid, os.WNOHANG)
            if got:
                paths, t0 = pending.pop(pid)
                done[pid] = {"status": status, "seconds": time.monotonic() - t0,
                             "timed_out": False}
        if pending and time.monotonic() > deadline:
            for pid in list(pending):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                _, status = os.waitpid(pid, 0)
                paths, t0 = pending.pop(pid)
                done[pid] = {"status": status, "seconds": time.monotonic() - t0,
                             "timed_out": True}
        if pending:
            time.sleep(0.005)
    calls = 0
    for pid, paths, _ in kids:
        d = done[pid]
        status = d["status"]
        with open(paths[0], encoding="utf-8", errors="replace") as f:
            out = f.read()
        with open(paths[1], encoding="utf-8", errors="replace") as f:
            err = f.read()
        with open(paths[2]) as f:
            text = f.read().strip()
            calls = max(calls, int(text) if text else 0)
        runs.append({
            "rc": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "stdout": out[-20000:], "stderr": err[-20000:],
            "seconds": round(d["seconds"], 3), "timed_out": d["timed_out"],
        })
    for name in os.listdir(tmp):
        os.unlink(os.path.join(tmp, name))
    os.rmdir(tmp)
    return {"runs": runs, "calls": calls}


def main() -> None:
    """Serve requests from stdin until it closes."""
    # Import once, before forking: the CLI and the libraries its commands load lazily.
    import importlib

    for name in ("kypho.cli.main", "kypho.aftercare", "kypho.aftercare.store", "kypho.io",
                 "kypho.phantom", "jsonschema", "nibabel", "pydicom", "nrrd", "matplotlib.pyplot"):
        try:
            importlib.import_module(name)
        except ImportError:  # an older checkout (the "before" measurement)
            pass

    for line in sys.stdin:
        if not line.strip():
            continue
        reply = _run(json.loads(line))
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
