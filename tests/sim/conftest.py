"""Small synthetic vertebral bodies shared by the simulator tests."""

from __future__ import annotations

import pytest

from kypho.sim.bone import BoneModel, build_bone_model
from kypho.sim.synthetic import BreakSpec, synthetic_body


@pytest.fixture(scope="session")
def uniform_box() -> BoneModel:
    """A large, sealed, homogeneous, isotropic body for analytic Darcy checks (1 mm grid)."""
    g = synthetic_body(width_mm=36, depth_mm=36, height_mm=30, bmd_mg_cc=80)
    return build_bone_model(g, heterogeneity_sigma=0.0, transverse_ratio=1.0, venous_exits=False)


@pytest.fixture(scope="session")
def posterior_break_body() -> BoneModel:
    """An osteoporotic body with a posterior-wall break behind the midline (no venous exits)."""
    g = synthetic_body(
        width_mm=36, depth_mm=28, height_mm=20, bmd_mg_cc=70,
        breaks=[BreakSpec("posterior_wall", 2.5)],
    )
    return build_bone_model(g, heterogeneity_sigma=0.3, seed=3, venous_exits=False)
