"""Shared fixtures of the after-care tests: the issue's example patient, fixed 'today'."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from kypho.aftercare import Patient, load_protocol, make_plan

SURGERY = date(2026, 11, 20)
DISCHARGE = date(2026, 11, 21)
TODAY = date(2026, 11, 25)


@pytest.fixture(autouse=True)
def _record_folder(tmp_path, monkeypatch):
    """Patient records go to a temporary folder, never to the user's data folder."""
    folder = tmp_path / "records"
    monkeypatch.setenv("KYPHO_AFTERCARE_STORE", str(folder))
    return folder


@pytest.fixture(scope="session")
def protocol():
    return load_protocol()


@pytest.fixture(scope="session")
def patient():
    return Patient("p1", SURGERY, DISCHARGE, levels=("T12", "L1"), name="Test Patient",
                   time_zone="Europe/Berlin")


@pytest.fixture(scope="session")
def plan(patient, protocol):
    return make_plan(patient, protocol, today=TODAY)


@pytest.fixture()
def day():
    """Date ``n`` days after an anchor: ``day(21)`` (surgery) or ``day(7, 'discharge')``."""

    def _day(n: int, anchor: str = "surgery") -> date:
        return (SURGERY if anchor == "surgery" else DISCHARGE) + timedelta(days=n)

    return _day


@pytest.fixture()
def edit_protocol(protocol):
    """Default protocol text with replacements applied (each must match exactly once)."""

    def _edit(*pairs: tuple[str, str]) -> str:
        text = protocol.text
        for old, new in pairs:
            assert text.count(old) == 1, old
            text = text.replace(old, new)
        return text

    return _edit
