"""Fixtures of the hardening suite: a fork server per test worker, a memory limit in-process."""

from __future__ import annotations

import resource
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import ForkServer


@pytest.fixture(scope="session")
def fork_server():
    """One ``forkrun.py`` per worker: kypho imported once, every command forked from it."""
    server = ForkServer()
    yield server
    server.close()


def _vm_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


@pytest.fixture()
def memory_limit():
    """Limit this process's address space to what it uses now plus 1 GiB during the test.

    A reader that allocates what a hostile header claims then fails with MemoryError (a test
    failure) instead of taking the machine down; the limit is lifted after the test.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _vm_bytes() + (1 << 30)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield limit
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
