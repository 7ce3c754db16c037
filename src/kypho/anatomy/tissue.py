"""What the CT shows inside a vertebral body: trabecular bone, the cortical rim, a gas cleft.

* **Trabecular region**: the body eroded by :data:`TRABECULAR_EROSION_MM` from its surface,
  which removes the cortical shell, the endplates and the partial-volume rim around them
  (Pickhardt et al. likewise placed their ROI in the trabecular bone, away from the cortex).
  Its mean and SD of HU (:func:`trabecular_hu`) feed the density screen and the simulator.
* **Cortical rim** (walls): body voxels within :data:`DENSE_RIM_MM` of the surface that read
  more than the trabecular mean plus :data:`DENSE_RIM_SD` standard deviations.
* **Gas cleft** (intravertebral vacuum cleft): gas inside the body, below :data:`GAS_HU`, in
  pockets of at least :data:`MIN_CLEFT_MM3`.  Fluid-filled clefts read like marrow and are not
  detected.

All masks are on the crop of :class:`~kypho.anatomy.body.VertebraGeometry`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from kypho.anatomy.body import VertebraGeometry

__all__ = [
    "DENSE_RIM_MM",
    "DENSE_RIM_SD",
    "GAS_HU",
    "MIN_CLEFT_MM3",
    "MIN_TRABECULAR_VOXELS",
    "TRABECULAR_EROSION_MM",
    "TrabecularDensity",
    "body_depth_mm",
    "cortical_rim",
    "gas_cleft",
    "rim_threshold_hu",
    "trabecular_hu",
]

#: Depth below the body surface where the trabecular region starts (mm).  Model choice: more
#: than a clinical cortical shell (under 1 mm, Silva 1994 via kypho.phantom.anatomy) plus the
#: CT's partial-volume blur (about 1 mm); Pickhardt's ROI avoided the cortex by eye.
TRABECULAR_EROSION_MM = 3.0
#: Smallest trabecular region accepted (voxels, model choice).
MIN_TRABECULAR_VOXELS = 20
#: A voxel of the body's outer :data:`DENSE_RIM_MM` counts as cortex (wall) when it reads more
#: than the trabecular mean plus this many standard deviations: model choice (denser than about
#: 98 % of the trabecular voxels if they were normal).
DENSE_RIM_SD = 2.0
#: Depth of that rim (mm): a clinical cortical shell is under 1 mm (Silva 1994, via
#: kypho.phantom.anatomy) and the CT's partial-volume blur about 1 mm (the reasoning of
#: :data:`TRABECULAR_EROSION_MM`, which keeps a 1 mm safety margin on top).
DENSE_RIM_MM = 2.0
#: Gas inside the body (intravertebral vacuum cleft) reads below this (HU): model choice, below
#: fat (about -100 HU) and above air (-1000 HU), leaving room for partial volume in thick slices.
GAS_HU = -300.0
#: Smallest gas pocket taken as a cleft (mm^3): model choice (noise rejection).
MIN_CLEFT_MM3 = 10.0


@dataclass(frozen=True)
class TrabecularDensity:
    """Mean and SD of HU in the trabecular region and its voxel count (``None``: too small)."""

    mean_hu: float | None
    sd_hu: float | None
    voxels: int
    erosion_mm: float


def body_depth_mm(geom: VertebraGeometry) -> NDArray[np.float64]:
    """Depth (mm) of every crop voxel below the body's surface (0 outside the body).

    A boundary voxel's centre lies about half a voxel inside the surface, so half the finest
    voxel edge is taken off the Euclidean distance to the nearest voxel outside.
    """
    spacing = geom.spacing_mm
    edt = ndimage.distance_transform_edt(np.pad(geom.body_mask, 1), sampling=spacing)
    depth = edt[1:-1, 1:-1, 1:-1] - 0.5 * min(spacing)
    return np.where(geom.body_mask, depth, 0.0)


def trabecular_hu(
    hu: NDArray, geom: VertebraGeometry, *, erosion_mm: float = TRABECULAR_EROSION_MM
) -> TrabecularDensity:
    """Mean and SD of HU in the body of ``geom`` deeper than ``erosion_mm``.

    Parameters
    ----------
    hu : (I, J, K) ndarray
        The whole CT in HU (same grid as the labels).
    geom : VertebraGeometry
        The vertebra with its body mask.
    erosion_mm : float
        Distance from the body surface excluded; when fewer than
        :data:`MIN_TRABECULAR_VOXELS` voxels remain, half of it is tried.
    """
    depth = body_depth_mm(geom)
    values = np.asarray(hu[geom.crop], dtype=np.float64)
    for d in (erosion_mm, 0.5 * erosion_mm):
        roi = geom.body_mask & (depth >= d)
        n = int(roi.sum())
        if n >= MIN_TRABECULAR_VOXELS:
            v = values[roi]
            return TrabecularDensity(float(v.mean()), float(v.std()), n, d)
    n = int((geom.body_mask & (depth >= 0.5 * erosion_mm)).sum())
    return TrabecularDensity(None, None, n, 0.5 * erosion_mm)


def rim_threshold_hu(trabecular: TrabecularDensity) -> float:
    """HU above which a voxel of the body's outer rim counts as cortex (``-inf`` without a
    trabecular measurement: then the whole rim is wall)."""
    if trabecular.mean_hu is None or trabecular.sd_hu is None:
        return -np.inf
    return trabecular.mean_hu + DENSE_RIM_SD * trabecular.sd_hu


def cortical_rim(hu: NDArray, geom: VertebraGeometry, trabecular: TrabecularDensity
                 ) -> NDArray[np.bool_]:
    """The body's cortical shell and endplates as seen on the CT (mask on the geometry's crop):
    body voxels within :data:`DENSE_RIM_MM` of the surface above :func:`rim_threshold_hu`."""
    values = np.asarray(hu[geom.crop], dtype=np.float32)
    depth = body_depth_mm(geom)
    return geom.body_mask & (depth <= DENSE_RIM_MM) & (values >= rim_threshold_hu(trabecular))


def gas_cleft(hu: NDArray, geom: VertebraGeometry) -> NDArray[np.bool_]:
    """Gas inside the body (an intravertebral vacuum cleft), mask on the geometry's crop:
    voxels deeper than a voxel below :data:`GAS_HU`, in pockets of :data:`MIN_CLEFT_MM3` or more."""
    spacing = np.asarray(geom.spacing_mm)
    values = np.asarray(hu[geom.crop], dtype=np.float32)
    depth = body_depth_mm(geom)
    gas = geom.body_mask & (depth >= float(spacing.max())) & (values <= GAS_HU)
    if not gas.any():
        return np.zeros_like(geom.body_mask)
    cc, _n = ndimage.label(gas, structure=np.ones((3, 3, 3), bool))
    sizes = np.bincount(cc.ravel())[1:] * float(np.prod(spacing))
    keep = np.flatnonzero(sizes >= MIN_CLEFT_MM3) + 1
    return np.isin(cc, keep)
