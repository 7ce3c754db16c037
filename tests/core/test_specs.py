"""Specs: defaults in one place, validated once, varied with with_()."""

from __future__ import annotations

import pytest

from kypho.errors import InvalidParameterError
from kypho.fluoro.spec import FluoroSpec
from kypho.plan.spec import PlanSpec
from kypho.sim.spec import SimulationSpec


def test_defaults_and_variations():
    s = SimulationSpec()
    assert s.technique == "kyphoplasty" and s.two_trocars
    v = s.with_(technique="vertebroplasty")
    assert v.technique == "vertebroplasty" and not v.two_trocars and s.technique == "kyphoplasty"
    assert PlanSpec(unipedicular=True).mode == "unipedicular"
    assert FluoroSpec().with_(view="lateral").view == "lateral"


@pytest.mark.parametrize(("make", "match"), [
    (lambda: SimulationSpec(technique="sacroplasty"), "unknown technique"),
    (lambda: SimulationSpec(cement="superglue"), "unknown cement"),
    (lambda: SimulationSpec(balloon="25/5"), "unknown balloon"),
    (lambda: SimulationSpec(volume_ml=-1.0), "cement volume must be positive"),
    (lambda: SimulationSpec(rate_ml_per_min=float("nan")), "injection rate"),
    (lambda: SimulationSpec(seed=-1), "seed must be a non-negative integer"),
    (lambda: SimulationSpec(frame_size=8), "32-1024"),
    (lambda: SimulationSpec(spacing_mm=10.0), "0.2-3 mm"),
    (lambda: SimulationSpec().with_(mode="fast"), "unknown mode"),
    (lambda: PlanSpec(gauge=99), "gauge"),
    (lambda: PlanSpec(side="up"), "left or right"),
    (lambda: PlanSpec(n_options=0), "1-10"),
    (lambda: FluoroSpec(view="sideways"), "unknown view"),
    (lambda: FluoroSpec(energy_kev=20.0), "40-100 keV"),
    (lambda: FluoroSpec(secondary_deg=120.0), "secondary angle"),
])
def test_bad_values_are_refused_with_the_field_named(make, match):
    with pytest.raises(InvalidParameterError, match=match):
        make()
