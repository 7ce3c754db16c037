"""Helpers shared by kypho's file readers and writers (not public API)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kypho.core.reading import check_regular_file
from kypho.errors import FormatError, InputFileError

__all__ = [
    "LPS_TO_RAS",
    "MAX_ABS_HU",
    "MAX_LABEL_ID",
    "MIN_VOXEL_SIZE_MM",
    "Progress",
    "check_affine_from_file",
    "check_hu_values",
    "id_counts",
    "integer_label_ids",
    "lps_to_ras_affine",
    "present_ids",
    "relabel",
    "require_file",
    "strip_suffixes",
]

#: ``progress(fraction_done, message)``: the callback every long-running kypho function accepts.
Progress = Callable[[float, str], None]

#: LPS <-> RAS: negate x and y (DICOM PS3.3 C.7.6.2.1.1 patient coordinates are LPS+; nibabel's
#: ``doc/source/coordinate_systems.rst`` describes the same flip). The matrix is its own inverse.
LPS_TO_RAS: NDArray[np.float64] = np.diag([-1.0, -1.0, 1.0, 1.0])

#: Smallest voxel edge accepted from a file, mm. Model choice: anything at or below this is
#: treated as a zero (non-positive) voxel size, i.e. a broken header, not a micro-CT.
MIN_VOXEL_SIZE_MM = 1e-6


def require_file(path: str | os.PathLike[str], what: str = "file") -> Path:
    """Return ``path`` as a :class:`Path`: an existing, readable regular file or folder.

    The path is stat-ed, never opened: a FIFO (whose open would block), a device or a socket
    is an :class:`InputFileError`, as is a missing or unreadable path.
    """
    p = Path(path)
    check_regular_file(p, what, folder_ok=True)
    if not os.access(p, os.R_OK):
        raise InputFileError(f"{p}: not readable (permission denied)")
    return p


def strip_suffixes(path: Path) -> str:
    """File name without its image suffixes (``ct.nii.gz`` -> ``ct``)."""
    name = path.name
    for suffix in (".nii.gz", ".nii", ".nrrd", ".nhdr", ".dcm"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def lps_to_ras_affine(affine_lps: NDArray[np.float64]) -> NDArray[np.float64]:
    """Voxel->LPS affine to voxel->RAS affine (also the inverse direction)."""
    return LPS_TO_RAS @ np.asarray(affine_lps, dtype=np.float64)


def check_affine_from_file(affine: NDArray[np.float64], path: Path) -> NDArray[np.float64]:
    """Reject a voxel->world affine read from ``path`` that kypho cannot use.

    Raises :class:`FormatError` naming the file for non-finite entries, a non-positive voxel
    size (a zero-length axis) or a singular (collapsed) orientation.
    """
    a = np.asarray(affine, dtype=np.float64)
    if a.shape != (4, 4) or not np.all(np.isfinite(a)):
        raise FormatError(f"{path}: voxel-to-world matrix holds NaN or infinite values")
    spacing = np.linalg.norm(a[:3, :3], axis=0)
    if np.any(spacing <= MIN_VOXEL_SIZE_MM):
        raise FormatError(
            f"{path}: non-positive voxel size {tuple(float(s) for s in np.round(spacing, 6))} mm"
        )
    # Axes that (nearly) coincide make the matrix singular: no unique voxel for a world point.
    unit = a[:3, :3] / spacing
    if abs(np.linalg.det(unit)) < 1e-6:
        raise FormatError(f"{path}: voxel axes are parallel (singular voxel-to-world matrix)")
    out = a.copy()
    out[3] = (0.0, 0.0, 0.0, 1.0)
    return out


#: Largest absolute voxel value a CT may hold after scaling, HU.  Model choice: tissue and metal
#: stay within the int16 range scanners store (-32768..32767); a million is beyond any scanner
#: and keeps sums over 10^8 voxels finite in float32.  Larger values mean a broken scaling.
MAX_ABS_HU = 1e6


def check_hu_values(data: NDArray[Any], path: object) -> None:
    """Raise :class:`FormatError` for non-finite float voxels or values beyond ``MAX_ABS_HU``."""
    if data.size == 0 or data.dtype.kind not in "iuf" or (
        data.dtype.kind in "iu" and data.dtype.itemsize <= 2
    ):
        return
    lo, hi = float(np.min(data)), float(np.max(data))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise FormatError(f"{path}: voxel data hold NaN or infinite values")
    worst = hi if abs(hi) >= abs(lo) else lo
    if abs(worst) > MAX_ABS_HU:
        raise FormatError(
            f"{path}: voxel value {worst:.4g} is beyond +/-{MAX_ABS_HU:g} HU (a broken "
            "rescale slope or intercept?)"
        )


#: Voxels per chunk in :func:`present_ids` and :func:`relabel` (model choice: bounds the
#: temporary int64 index copies to about 32 MB whatever the image size).
_CHUNK_VOXELS = 1 << 22


#: Largest label id a label map may hold.  kypho keeps labels as int16 (TotalSegmentator's
#: ids end at 117); a larger id would size the id tables (one entry per id) by the id.
MAX_LABEL_ID = int(np.iinfo(np.int16).max)


def integer_label_ids(data: NDArray[Any], path: Path) -> NDArray[Any]:
    """Label data as integers in ``0..MAX_LABEL_ID``; anything else is a :class:`FormatError`.

    Checked before any table sized by the ids is built (an id of 3e9 would ask for 24 GB).
    """
    if data.dtype.kind not in "iufb":
        raise FormatError(f"{path}: label map has non-numeric voxels ({data.dtype})")
    if data.size == 0:
        return data
    if data.dtype.kind == "f" and not np.all(np.isfinite(data)):
        raise FormatError(f"{path}: label map holds NaN or infinite values")
    lo, hi = data.min(), data.max()

    def num(x: Any) -> str:
        return str(int(x)) if data.dtype.kind in "iub" else f"{float(x):.10g}"

    if lo < 0:
        raise FormatError(f"{path}: label map holds negative ids (min {num(lo)})")
    if hi > MAX_LABEL_ID:
        raise FormatError(
            f"{path}: label id {num(hi)} is too large (kypho reads label ids 0 to {MAX_LABEL_ID})"
        )
    if data.dtype.kind == "f":
        if not np.all(np.mod(data, 1) == 0):
            raise FormatError(f"{path}: label map holds fractional values (is it a CT?)")
        data = data.astype(np.int16)
    return data


def _chunks(data: NDArray[Any]) -> Iterator[tuple[slice, NDArray[Any]]]:
    step = max(1, _CHUNK_VOXELS // max(1, int(np.prod(data.shape[1:]))))
    for start in range(0, data.shape[0], step):
        sl = slice(start, min(start + step, data.shape[0]))
        yield sl, data[sl]


def present_ids(data: NDArray[Any]) -> NDArray[np.int64]:
    """Sorted non-negative integer values present in ``data`` (chunked bincount, no sort).

    ``np.unique`` sorts (and copies) the whole array; on a 0.5 mm phantom of 10^8 voxels that
    takes seconds and gigabytes.  Values must be non-negative integers.
    """
    if data.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(id_counts(data)).astype(np.int64)


def id_counts(data: NDArray[Any]) -> NDArray[np.int64]:
    """Voxel count of every id ``0..max`` in ``data`` (chunked bincount)."""
    if data.size == 0:
        return np.zeros(1, dtype=np.int64)
    total = np.zeros(int(data.max()) + 1, dtype=np.int64)
    for _, chunk in _chunks(np.asarray(data)):
        total += np.bincount(chunk.ravel(), minlength=total.size)
    return total


def relabel(data: NDArray[Any], lut: NDArray[np.int16]) -> NDArray[np.int16]:
    """``lut[data]`` computed slab by slab (C order, int16), without a full-size index copy."""
    out = np.empty(data.shape, dtype=np.int16)
    for sl, chunk in _chunks(np.asarray(data)):
        out[sl] = lut[chunk]
    return out
