"""Shared phantoms for the phantom tests: coarse voxels, no trunk, so each builds in about a second."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from kypho.phantom import FractureSpec, PhantomSpec, make_phantom

VOXEL_MM = 1.0


def _build(**kwargs):
    spec = PhantomSpec(voxel_mm=kwargs.pop("voxel_mm", VOXEL_MM), soft_tissue=False, **kwargs)
    return make_phantom(spec)


@pytest.fixture(scope="session")
def all_levels_case():
    """Every level the phantom has a table for, no fracture."""
    return _build(first_level="T10", last_level="L5")


@pytest.fixture(scope="session")
def normal_t12_l2():
    return _build(first_level="T12", last_level="L2")


@pytest.fixture(scope="session")
def wedge_l1():
    """Genant grade 2 wedge at L1 (32.5 % anterior height loss)."""
    return _build(
        first_level="T12", last_level="L2", fractures=(FractureSpec("L1", "wedge", grade=2),)
    )


@pytest.fixture(scope="session")
def biconcave_l1():
    return _build(
        first_level="T12",
        last_level="L2",
        fractures=(FractureSpec("L1", "biconcave", height_loss_pct=35),),
    )


@pytest.fixture(scope="session")
def crush_l1():
    return _build(
        first_level="T12",
        last_level="L2",
        fractures=(FractureSpec("L1", "crush", grade=3, retropulsion_mm=4.0, cleft=True),),
    )
