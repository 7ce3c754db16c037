"""Issue 19's regression corpus: every case ends in one clean error line (exit 2) or the
correct result, within the time limit and the memory limit (see ``corpus.py``)."""

from __future__ import annotations

import pytest
from corpus import CASES, TIMEOUT_S
from harness import run_case


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case, fork_server, tmp_path):
    outcome, runs = run_case(fork_server, case, tmp_path)
    detail = "\n".join(f"rc={r['rc']} signal={r['signal']} {r['seconds']} s\n"
                       f"stdout: {r['stdout'][-800:]}\nstderr: {r['stderr'][-1500:]}"
                       for r in runs[:2])
    want = "clean error" if case.expect == "error" else "ok"
    assert outcome == want, detail
    assert all(r["seconds"] < TIMEOUT_S for r in runs)
    if case.expect == "error":
        err = runs[0]["stderr"].strip()
        assert "\n" not in err and err.startswith("error: ")
        assert "\x1b" not in err  # ANSI escapes in user text are shown, never sent


def test_the_corpus_covers_the_issue():
    """Every reader and store the issue names has cases (a guard against a shrinking corpus)."""
    ids = " ".join(c.id for c in CASES)
    for word in ("nii", "nii.gz", "NIfTI-2", "nrrd", "dicom", "case.json", "truth.json",
                 "record", "concurrent", "FIFO", "--lift", "--surgery", "--cleared", "TOML",
                 "[/x]", "phantom"):
        assert word in ids, word
    assert len(CASES) >= 120
