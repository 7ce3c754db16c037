"""Shared fixtures for the fluoroscopy tests (volumes kept tiny: compile time dominates)."""

from __future__ import annotations

import pytest

from kypho.fluoro.analytic import centred_affine, supersampled_fraction
from kypho.fluoro.render import AttenuationVolume

MU0 = 0.02  # 1/mm, about water at 55 keV


@pytest.fixture(scope="session")
def sphere_volume() -> tuple[AttenuationVolume, float]:
    n, sp, r = 56, 1.0, 20.0
    frac = supersampled_fraction(n, sp, lambda x, y, z: x * x + y * y + z * z <= r * r)
    return AttenuationVolume(frac * MU0, centred_affine(n, sp), 55.0), r
