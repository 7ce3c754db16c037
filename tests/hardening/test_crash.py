"""Crash safety: a command killed (SIGKILL) just before each of its file-system mutations
leaves the old data or the new data, never a mix and never nothing; the next run succeeds and
cleans the killed run's temporaries."""

from __future__ import annotations

import pytest
from crashes import CRASH_SCENARIOS
from harness import crash_loop


@pytest.mark.parametrize("name", list(CRASH_SCENARIOS))
def test_killed_at_every_step_loses_nothing(name, fork_server, tmp_path):
    results = crash_loop(fork_server, tmp_path, rerun=True, **CRASH_SCENARIOS[name](tmp_path))
    problems = [(k, p) for k, p in results if p]
    assert not problems, problems
    assert results[-1][0] == 0  # ended with an uninterrupted, successful run
    assert len(results) >= 4  # the command was killed at several steps
