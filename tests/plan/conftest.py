"""Coarse phantoms for the planning tests (1 mm voxels, 2-3 levels)."""

from __future__ import annotations

import pytest

from kypho.phantom import FractureSpec, PhantomSpec, make_phantom


@pytest.fixture(scope="session")
def phantom_normal():
    return make_phantom(PhantomSpec(first_level="T10", last_level="T12", voxel_mm=1.0,
                                    soft_tissue=False, noise_hu=0))


@pytest.fixture(scope="session")
def phantom_fractured():
    """Osteoporotic L1 wedge fracture, with the trunk (for skin points and fluoroscopy)."""
    return make_phantom(PhantomSpec(
        first_level="T12", last_level="L2", voxel_mm=1.0, bone_density="osteoporotic",
        fractures=(FractureSpec("L1", "wedge", grade=2),), soft_tissue=True,
    ))


@pytest.fixture(scope="session")
def plan_l1(phantom_fractured):
    from kypho.plan import plan_level

    return plan_level(phantom_fractured, "L1", n_options=2)
