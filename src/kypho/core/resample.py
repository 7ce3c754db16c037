"""A case resampled onto another voxel grid: isotropic voxels, an axis-aligned RAS+ grid.

Used to check that measurements do not depend on the scan's grid (the example CT's 0.7 x 0.7 x
2.5 mm slices against the same CT at 1 mm isotropic) and to bring a thick-slice scan onto cubic
voxels.  The CT is interpolated trilinearly; the labels take the nearest voxel's id (no new ids
appear).  The new grid stays inside the scan's extent; where an oblique scan's axis-aligned box
reaches beyond its field of view the CT reads air (-1000 HU) and the labels 0.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from kypho.core.case import Case
from kypho.core.volume import LabelMap, Volume
from kypho.errors import InvalidParameterError

__all__ = ["MAX_RESAMPLED_VOXELS", "resample_case"]

#: Largest resampled grid (voxels): 400 million float32 voxels are 1.6 GB (a memory budget,
#: model choice; crop to the labelled spine to stay far below it).
MAX_RESAMPLED_VOXELS = 400_000_000


def _corners_ras(case: Case, lo_ijk: NDArray, hi_ijk: NDArray) -> NDArray[np.float64]:
    corners = np.array([[a, b, c] for a in (lo_ijk[0], hi_ijk[0]) for b in (lo_ijk[1], hi_ijk[1])
                        for c in (lo_ijk[2], hi_ijk[2])], float)
    return case.volume.ijk_to_ras(corners)


def _grid(case: Case, spacing_mm: float, crop_to_labels: bool, margin_mm: float
          ) -> tuple[NDArray[np.float64], tuple[int, int, int]]:
    """Affine and shape of an axis-aligned RAS+ grid inside the scan (around its labels).

    The grid never reaches beyond the scan's own extent, so a vertebra cut by the scan's edge
    still touches the new grid's edge (and is still reported as cut).
    """
    vol = case.volume
    scan = _corners_ras(case, np.zeros(3), np.asarray(vol.shape) - 1.0)
    lo, hi = scan.min(axis=0), scan.max(axis=0)
    if crop_to_labels and case.labels is not None and case.labels.boxes:
        boxes = case.labels.boxes.values()
        lab = _corners_ras(case, np.min([[b.start for b in box] for box in boxes], axis=0),
                           np.max([[b.stop - 1 for b in box] for box in boxes], axis=0))
        lo = np.maximum(lo, lab.min(axis=0) - margin_mm)
        hi = np.minimum(hi, lab.max(axis=0) + margin_mm)
    shape = tuple(int(n) for n in np.floor((hi - lo) / spacing_mm + 1e-9).astype(int) + 1)
    affine = np.diag([spacing_mm, spacing_mm, spacing_mm, 1.0])
    affine[:3, 3] = lo
    return affine, shape  # type: ignore[return-value]


def resample_case(
    case: Case,
    spacing_mm: float = 1.0,
    *,
    crop_to_labels: bool = True,
    margin_mm: float = 20.0,
) -> Case:
    """``case`` on an axis-aligned RAS+ grid of ``spacing_mm`` cubic voxels.

    Parameters
    ----------
    case : Case
        CT and (optional) labels.
    spacing_mm : float
        Edge of the new voxels (0.2-5 mm).
    crop_to_labels : bool
        Cover only the labelled vertebrae plus ``margin_mm`` (else the whole scan).
    margin_mm : float
        Margin around the labels when cropping.

    Raises
    ------
    InvalidParameterError
        For a spacing outside 0.2-5 mm or a grid over :data:`MAX_RESAMPLED_VOXELS`.
    """
    if not (isinstance(spacing_mm, int | float) and 0.2 <= spacing_mm <= 5.0):
        raise InvalidParameterError(f"resampling spacing must be 0.2-5 mm, got {spacing_mm!r}")
    affine, shape = _grid(case, float(spacing_mm), crop_to_labels, margin_mm)
    n = int(np.prod(shape))
    if n > MAX_RESAMPLED_VOXELS:
        raise InvalidParameterError(
            f"resampling at {spacing_mm:g} mm gives {n:,} voxels, over the budget of "
            f"{MAX_RESAMPLED_VOXELS:,} (use a coarser spacing or crop to the labels)"
        )
    m = np.linalg.inv(case.volume.affine) @ affine  # new ijk -> old ijk
    hu = ndimage.affine_transform(
        np.asarray(case.volume.data, dtype=np.float32), m[:3, :3], offset=m[:3, 3],
        output_shape=shape, order=1, mode="constant", cval=-1000.0, output=np.float32,
    )
    labels = None
    if case.labels is not None:
        data = np.asarray(case.labels.data)
        dtype = np.int16 if int(data.max(initial=0)) < 32768 else np.int32
        lab = ndimage.affine_transform(
            data.astype(dtype), m[:3, :3], offset=m[:3, 3], output_shape=shape, order=0,
            mode="constant", cval=0,
        )
        labels = LabelMap(lab, affine)
    meta = dict(case.metadata)
    meta["resampled"] = {"spacing_mm": float(spacing_mm), "from_spacing_mm":
                         [round(s, 4) for s in case.volume.spacing_mm]}
    return replace(case, volume=Volume(hu, affine), labels=labels, tissue=None, metadata=meta,
                   name=f"{case.name}-{spacing_mm:g}mm")
