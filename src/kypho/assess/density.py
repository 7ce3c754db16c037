"""Trabecular bone density of each body and the opportunistic osteoporosis screen at L1.

The trabecular region is the vertebral body eroded by :data:`TRABECULAR_EROSION_MM` from its
surface, which removes the cortical shell, the endplates and the partial-volume rim around them
(Pickhardt et al. likewise placed their ROI in the trabecular bone, away from the cortex).

The screen uses the L1 thresholds of Pickhardt PJ et al., Ann Intern Med 2013
(PubMed 23588747; abstract, 1867 adults, 2067 CT-DXA pairs): **160 HU or less** was 90 %
sensitive for osteoporosis, **110 HU** was more than 90 % specific for osteoporosis versus
osteopenia or normal density; intravenous contrast did not change performance.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from kypho.assess.frame import VertebraGeometry
from kypho.assess.model import DensityScreen, VertebraAssessment

__all__ = [
    "PICKHARDT_SENSITIVE_HU",
    "PICKHARDT_SPECIFIC_HU",
    "SCREEN_LEVEL",
    "TRABECULAR_EROSION_MM",
    "density_screen",
    "trabecular_hu",
]

#: Depth below the body surface where the trabecular region starts (mm).  Model choice: more
#: than a clinical cortical shell (under 1 mm, Silva 1994 via kypho.phantom.anatomy) plus the
#: CT's partial-volume blur (about 1 mm); Pickhardt's ROI avoided the cortex by eye.
TRABECULAR_EROSION_MM = 3.0
#: Smallest trabecular region accepted (voxels, model choice).
MIN_TRABECULAR_VOXELS = 20
#: Pickhardt 2013: L1 attenuation at or below 110 HU, > 90 % specific for osteoporosis.
PICKHARDT_SPECIFIC_HU = 110.0
#: Pickhardt 2013: L1 attenuation at or below 160 HU, 90 % sensitive for osteoporosis.
PICKHARDT_SENSITIVE_HU = 160.0
#: The level Pickhardt's thresholds were derived at.
SCREEN_LEVEL = "L1"


def trabecular_hu(
    hu: NDArray, geom: VertebraGeometry, *, erosion_mm: float = TRABECULAR_EROSION_MM
) -> tuple[float | None, float | None, int]:
    """Mean and SD of HU in the eroded body of ``geom``, and the voxel count.

    Parameters
    ----------
    hu : (I, J, K) ndarray
        The whole CT in HU (same grid as the labels).
    geom : VertebraGeometry
        The vertebra with its body mask.
    erosion_mm : float
        Distance from the body surface excluded.

    Returns
    -------
    (mean, sd, n)
        ``(None, None, n)`` when fewer than :data:`MIN_TRABECULAR_VOXELS` voxels remain even with
        half the erosion.
    """
    spacing = geom.spacing_mm
    box = ndimage.find_objects(geom.body_mask.astype(np.uint8))[0]
    body = geom.body_mask[box]
    edt = ndimage.distance_transform_edt(np.pad(body, 1), sampling=spacing)[1:-1, 1:-1, 1:-1]
    # a boundary voxel centre lies about half a voxel inside the surface
    depth = edt - 0.5 * min(spacing)
    crop = tuple(
        slice(c.start + b.start, c.start + b.stop) for c, b in zip(geom.crop, box, strict=True)
    )
    values = np.asarray(hu[crop], dtype=np.float64)
    for d in (erosion_mm, 0.5 * erosion_mm):
        roi = depth >= d
        n = int(roi.sum())
        if n >= MIN_TRABECULAR_VOXELS:
            v = values[roi]
            return float(v.mean()), float(v.std()), n
    return None, None, int((depth >= 0.5 * erosion_mm).sum())


def density_screen(vertebrae: dict[str, VertebraAssessment]) -> DensityScreen:
    """Opportunistic osteoporosis screen from L1's trabecular HU (Pickhardt 2013 thresholds)."""
    lv = SCREEN_LEVEL
    src = (
        f"Pickhardt 2013: L1 <= {PICKHARDT_SENSITIVE_HU:g} HU is 90 % sensitive, "
        f"<= {PICKHARDT_SPECIFIC_HU:g} HU > 90 % specific for osteoporosis"
    )
    v = vertebrae.get(lv)
    if v is None or not v.measured or v.trabecular_hu is None:
        why = "L1 is not in the label map" if v is None else f"L1 {v.status}"
        if v is not None and v.measured:
            why = "L1 has no trabecular region left to measure"
        return DensityScreen(
            lv, None, "not available", f"no screen: {why} (the thresholds were derived at L1)"
        )
    hu = float(v.trabecular_hu)
    if hu <= PICKHARDT_SPECIFIC_HU:
        cat = "osteoporosis likely"
    elif hu <= PICKHARDT_SENSITIVE_HU:
        cat = "indeterminate"
    else:
        cat = "osteoporosis unlikely"
    text = f"L1 trabecular {hu:.0f} HU: {cat} ({src})"
    if v.fractured:
        text += "; L1 is fractured, and impacted bone can read denser than it is"
    return DensityScreen(lv, hu, cat, text)
