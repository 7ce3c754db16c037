"""Synthetic spines with known geometry for the assessment tests.

Each vertebra is built analytically in its own frame ``(u, v, w)`` = (right, anterior,
superior), centred on its body: an elliptic body whose height profile along ``v`` passes
exactly through the requested (Hp, Hm, Ha) at the six-point positions, and a posterior ring
(pedicles and laminae) around a circular canal with a spinous process.  Vertebrae are tilted
along a sagittal curve and optionally rotated, then voxelised at voxel centres.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial.transform import Rotation

from kypho.anatomy.morphometry import LANDMARK_INSET_MM
from kypho.core import LEVEL_IDS, Case, LabelMap, Volume, affine_from_spacing


@dataclass
class SynthVertebra:
    level: str
    heights: tuple[float, float, float]  # Ha, Hm, Hp
    centre: np.ndarray
    rot: np.ndarray  # rows: right, anterior, superior (RAS)
    width: float
    depth: float
    canal_radius: float
    retropulsion_mm: float = 0.0

    @property
    def positions(self) -> dict[str, float]:
        d = LANDMARK_INSET_MM
        return {"p": -self.depth / 2 + d, "m": 0.0, "a": self.depth / 2 - d}

    def height_at(self, v: np.ndarray) -> np.ndarray:
        """Quadratic height profile through (v_p, Hp), (0, Hm), (v_a, Ha)."""
        ha, hm, hp = self.heights
        p = self.positions
        coef = np.polyfit([p["p"], p["m"], p["a"]], [hp, hm, ha], 2)
        return np.polyval(coef, v)

    def landmarks(self) -> dict[str, np.ndarray]:
        out = {}
        for k, v in self.positions.items():
            h = float(self.height_at(np.array(v)))
            out[f"s{k}"] = self.centre + np.array([0.0, v, h / 2]) @ self.rot
            out[f"i{k}"] = self.centre + np.array([0.0, v, -h / 2]) @ self.rot
        return out

    def inside(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(body, posterior elements) membership of RAS points ``(N, 3)``."""
        u, v, w = ((p - self.centre) @ self.rot.T).T
        ell = (u / (self.width / 2)) ** 2 + (v / (self.depth / 2)) ** 2
        h = self.height_at(v)
        body = (ell <= 1.0) & (np.abs(w) <= h / 2)
        hp = self.heights[2]
        rc = self.canal_radius
        vc = -self.depth / 2 - rc
        d = np.hypot(u, v - vc)
        ring = (d >= rc) & (d <= rc + 6.0) & (np.abs(w) <= 0.35 * hp) & (v <= -self.depth / 2 + 4)
        spinous = (
            (np.abs(u) <= 3.0) & (v <= vc - rc) & (v >= vc - rc - 30.0) & (np.abs(w) <= 0.3 * hp)
        )
        post = (ring | spinous) & ~body
        if self.retropulsion_mm > 0:
            # a fragment bulging from the posterior wall into the canal, upper part of the body
            frag = (
                (np.abs(u) <= 4.0)
                & (v < -self.depth / 2 + 1.0)
                & (v >= -self.depth / 2 - self.retropulsion_mm)
                & (w >= 0.0)
                & (w <= hp / 2 - 3.0)
            )
            body = body | frag
            post = post & ~frag
        return body, post


@dataclass
class SynthSpine:
    case: Case
    vertebrae: dict[str, SynthVertebra] = field(default_factory=dict)


def make_spine(
    levels: tuple[str, ...] = ("T12", "L1", "L2"),
    *,
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0),
    heights: dict[str, tuple[float, float, float]] | None = None,
    sagittal_step_deg: float = 4.0,
    axial_rot_deg: float = 0.0,
    coronal_deg: float = 0.0,
    width: float = 40.0,
    depth: float = 30.0,
    canal_radius: float = 8.0,
    disc_mm: float = 8.0,
    hu_trabecular: float = 150.0,
    retropulsion: dict[str, float] | None = None,
    pad_mm: float = 12.0,
    noise_hu: float = 0.0,
    seed: int = 0,
) -> SynthSpine:
    """A short synthetic spine on an axis-aligned grid."""
    heights = heights or {}
    retropulsion = retropulsion or {}
    verts: list[SynthVertebra] = []
    centre = np.zeros(3)
    prev = None
    for i, lv in enumerate(levels):
        hts = heights.get(lv, (25.0, 25.0, 25.0))
        theta = np.radians(sagittal_step_deg * (i - (len(levels) - 1) / 2))
        rot = Rotation.from_euler(
            "zyx", [axial_rot_deg, coronal_deg, -np.degrees(theta)], degrees=True
        )
        rows = rot.as_matrix().T  # rows: rotated x (right), y (anterior), z (superior)
        if prev is not None:
            centre = (
                prev.centre
                - prev.rot[2] * (max(prev.heights) / 2 + disc_mm / 2)
                - rows[2] * (max(hts) / 2 + disc_mm / 2)
            )
        v = SynthVertebra(
            lv, hts, centre.copy(), rows, width, depth, canal_radius, retropulsion.get(lv, 0.0)
        )
        verts.append(v)
        prev = v
    cs = np.array([v.centre for v in verts])
    lo = cs.min(axis=0) - np.array([width / 2 + pad_mm, 70.0, 20.0 + pad_mm])
    hi = cs.max(axis=0) + np.array([width / 2 + pad_mm, depth / 2 + pad_mm, 20.0 + pad_mm])
    sp = np.asarray(spacing, float)
    shape = tuple(int(n) for n in np.ceil((hi - lo) / sp) + 1)
    affine = affine_from_spacing(tuple(sp), lo)
    ii, jj, kk = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    pts = np.stack([ii, jj, kk], -1).reshape(-1, 3) * sp + lo
    labels = np.zeros(len(pts), np.int16)
    body_all = np.zeros(len(pts), bool)
    for v in verts:
        body, post = v.inside(pts)
        labels[body | post] = LEVEL_IDS[v.level]
        body_all |= body
    labels = labels.reshape(shape)
    body_all = body_all.reshape(shape)
    hu = np.full(shape, 40.0, np.float32)
    hu[labels > 0] = 500.0
    edt = ndimage.distance_transform_edt(body_all, sampling=sp)
    hu[body_all] = 800.0
    hu[body_all & (edt > 1.5)] = hu_trabecular
    if noise_hu:
        hu += np.random.default_rng(seed).normal(0, noise_hu, shape).astype(np.float32)
    vol = Volume(hu, affine)
    lab = LabelMap(labels, affine)
    return SynthSpine(Case(vol, lab, name="synthetic"), {v.level: v for v in verts})


@pytest.fixture
def spine_factory():
    """The :func:`make_spine` builder."""
    return make_spine


# --- kypho phantoms (ground truth in case.truth), shared by the test modules ------------------


def phantom_case(**spec_kw):
    """A small, fast phantom: 1 mm voxels, spine in air, the given spec fields."""
    from kypho.phantom import PhantomSpec, make_phantom

    kw = {"voxel_mm": 1.0, "soft_tissue": False, "seed": 1, **spec_kw}
    return make_phantom(PhantomSpec(**kw))


@pytest.fixture(scope="session")
def wedge_l1():
    """T12-L2 phantom with a Genant grade-2 wedge fracture of L1, and its assessment."""
    from kypho.assess import assess
    from kypho.phantom import FractureSpec

    case = phantom_case(
        first_level="T12", last_level="L2", fractures=(FractureSpec("L1", "wedge", grade=2),)
    )
    return case, assess(case)


@pytest.fixture
def phantom_factory():
    """The :func:`phantom_case` builder."""
    return phantom_case
