"""Cement viscosity curves and the cannula resistance."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kypho.errors import InvalidParameterError
from kypho.sim.cement import CEMENTS, Cannula, Cement, get_cement


def test_viscosity_rises_with_time_and_orders_the_cements():
    t = np.linspace(1.0, 10.5, 40)
    for c in CEMENTS.values():
        mu = np.array([c.viscosity_at(x) for x in t])
        assert np.all(np.diff(mu) >= 0)
        assert c.viscosity_at(c.set_time_min) == pytest.approx(7.5e4)
        assert c.has_set(c.set_time_min) and not c.has_set(c.set_time_min - 0.1)
    for x in (2.0, 3.5, 5.0, 6.5, 9.5):
        lo = get_cement("low_viscosity").viscosity_at(x)
        std = get_cement("standard").viscosity_at(x)
        hi = get_cement("high_viscosity").viscosity_at(x)
        assert lo < std < hi


def test_low_viscosity_is_half_the_standard_in_the_working_time():
    # Ferracane 1981: a low-viscosity cement about half as viscous during 2-5 min
    for x in (2.0, 3.0, 4.0, 5.0):
        ratio = get_cement("low_viscosity").viscosity_at(x) / get_cement("standard").viscosity_at(x)
        assert ratio == pytest.approx(0.5, rel=1e-9)


def test_interpolation_is_log_linear_between_table_points():
    c = Cement("t", (0.0, 2.0), (10.0, 1000.0))
    assert c.viscosity_at(1.0) == pytest.approx(100.0)
    assert c.viscosity_at(-5.0) == pytest.approx(10.0)


def test_bad_cements_are_refused():
    with pytest.raises(InvalidParameterError, match="unknown cement 'glue'"):
        get_cement("glue")
    with pytest.raises(InvalidParameterError, match="increase"):
        Cement("x", (2.0, 1.0), (1.0, 2.0))
    assert get_cement("High-Viscosity").name == "high_viscosity"


def test_hagen_poiseuille_known_answer():
    c = Cannula(inner_diameter_mm=2.0, length_mm=120.0)
    # 128 mu L Q / (pi d^4), SI
    mu, q = 100.0, 50.0  # Pa*s, mm^3/s (3 mL/min)
    expected = 128 * mu * 0.12 * 50e-9 / (math.pi * 0.002**4)
    assert c.pressure_drop_pa(mu, q) == pytest.approx(expected, rel=1e-12)
    # doubling the bore divides the drop by 16 (Baroud & Steffen: wider cannula, lower pressure)
    assert Cannula(4.0, 120.0).pressure_drop_pa(mu, q) == pytest.approx(expected / 16)
    with pytest.raises(InvalidParameterError):
        Cannula(0.0, 100.0)
