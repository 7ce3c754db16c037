"""Small volumes and hand-built files for the I/O tests."""

from __future__ import annotations

import socket

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from kypho.core import LEVEL_IDS, LabelMap, Volume


def axis_affine(axcodes: str, spacing=(0.8, 0.9, 1.5), origin=(10.0, -20.0, 30.0)) -> np.ndarray:
    """Axis-aligned voxel->RAS affine whose voxel axes point along ``axcodes`` (e.g. ``"PIR"``)."""
    direction = {"R": (0, 1), "L": (0, -1), "A": (1, 1), "P": (1, -1), "S": (2, 1), "I": (2, -1)}
    a = np.eye(4)
    a[:3, :3] = 0.0
    for col, code in enumerate(axcodes):
        row, sign = direction[code]
        a[row, col] = sign * spacing[col]
    a[:3, 3] = origin
    return a


def oblique_affine(
    angles_deg=(12.0, -20.0, 35.0), spacing=(0.7, 0.8, 1.25), origin=(-5.0, 12.0, 3.0)
) -> np.ndarray:
    """Rotated (not axis-aligned) voxel->RAS affine with orthogonal axes."""
    a = np.eye(4)
    a[:3, :3] = Rotation.from_euler("xyz", angles_deg, degrees=True).as_matrix() @ np.diag(spacing)
    a[:3, 3] = origin
    return a


def marked_volume(affine: np.ndarray, shape=(9, 7, 6), seed: int = 0) -> Volume:
    """int16 CT with random HU and one bright marker voxel (5000 HU) at ijk (6, 2, 4)."""
    rng = np.random.default_rng(seed)
    data = rng.integers(-1000, 2000, size=shape).astype(np.int16)
    data[6, 2, 4] = 5000
    return Volume(data, affine)


MARKER_IJK = (6, 2, 4)


def labels_like(volume: Volume, levels=("T12", "L1")) -> LabelMap:
    """Two slabs of vertebra labels along k on the volume's grid."""
    data = np.zeros(volume.shape, np.int16)
    k = volume.shape[2]
    for n, level in enumerate(levels):
        data[1:-1, 1:-1, n * k // len(levels) : (n + 1) * k // len(levels)] = LEVEL_IDS[level]
    return LabelMap(data, volume.affine)


def bright_ras(volume: Volume) -> np.ndarray:
    """RAS+ mm of the single brightest voxel."""
    ijk = np.unravel_index(int(np.argmax(volume.data)), volume.shape)
    return volume.ijk_to_ras(np.asarray(ijk, dtype=float))


def same_image(a: Volume, b: Volume, atol_mm: float = 1e-3) -> bool:
    """True when every voxel of ``a`` has the same value at the same RAS point in ``b``."""
    idx = np.indices(a.shape).reshape(3, -1).T.astype(float)
    q = b.ras_to_ijk(a.ijk_to_ras(idx))
    qi = np.rint(q).astype(int)
    if not np.allclose(q, qi, atol=atol_mm / min(b.spacing_mm)):
        return False
    if np.any(qi < 0) or np.any(qi >= np.asarray(b.shape)):
        return False
    return bool(np.array_equal(b.data[qi[:, 0], qi[:, 1], qi[:, 2]], a.data.reshape(-1)))


@pytest.fixture(scope="session")
def pypi_online() -> bool:
    """True when pypi.org answers a TCP connection within 3 s."""
    try:
        with socket.create_connection(("pypi.org", 443), timeout=3):
            return True
    except OSError:
        return False


class _Helpers:
    """Helper functions handed to tests as the ``h`` fixture (importlib mode forbids imports)."""

    axis_affine = staticmethod(axis_affine)
    oblique_affine = staticmethod(oblique_affine)
    marked_volume = staticmethod(marked_volume)
    labels_like = staticmethod(labels_like)
    bright_ras = staticmethod(bright_ras)
    same_image = staticmethod(same_image)
    MARKER_IJK = MARKER_IJK


@pytest.fixture(scope="session")
def h() -> type[_Helpers]:
    return _Helpers
