"""Images on a voxel grid: the CT :class:`Volume` and the vertebra :class:`LabelMap`.

World coordinates are **RAS+ millimetres** everywhere inside kypho (x to the patient's Right,
y Anterior, z Superior), as nibabel does.  Files in LPS (DICOM, NRRD, Slicer markups) are
converted where they are read or written, nowhere else; see ``docs/coordinate-systems.md``.

Arrays are indexed by voxel ``(i, j, k)``; the 4x4 ``affine`` maps ``(i, j, k, 1)`` to
``(x, y, z, 1)`` in RAS+ mm, voxel centres at integer indices.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from kypho.core.levels import LEVEL_IDS, level_from_id
from kypho.errors import EmptyLabelMapError, GeometryMismatchError, InvalidParameterError

__all__ = ["LabelMap", "Volume", "affine_from_spacing", "check_same_grid"]

#: Largest label id :meth:`LabelMap.from_mapping` accepts: kypho stores labels as int16.
_MAX_LABEL_ID = int(np.iinfo(np.int16).max)

#: Tolerance (mm) when deciding whether two affines describe the same grid.
AFFINE_TOLERANCE_MM = 1e-3


def _check_affine(affine: ArrayLike, shape: tuple[int, ...], what: str) -> NDArray[np.float64]:
    a = np.asarray(affine, dtype=np.float64)
    if a.shape != (4, 4) or not np.all(np.isfinite(a)):
        raise InvalidParameterError(f"{what}: affine must be a finite 4x4 matrix, got {a.shape}")
    if not np.allclose(a[3], [0, 0, 0, 1]):
        raise InvalidParameterError(f"{what}: affine's last row must be [0, 0, 0, 1]")
    spacing = np.linalg.norm(a[:3, :3], axis=0)
    if np.any(spacing <= 0) or abs(np.linalg.det(a[:3, :3])) < 1e-12:
        raise InvalidParameterError(
            f"{what}: voxel size must be positive, got {tuple(np.round(spacing, 4))} mm"
        )
    if len(shape) != 3 or min(shape) < 1:
        raise InvalidParameterError(f"{what}: image must be 3-D and non-empty, got shape {shape}")
    a.setflags(write=False)
    return a


def affine_from_spacing(
    spacing_mm: tuple[float, float, float], origin_ras_mm: ArrayLike = (0.0, 0.0, 0.0)
) -> NDArray[np.float64]:
    """Axis-aligned RAS+ affine with the given voxel size and the centre of voxel 0 at origin."""
    if any(float(s) <= 0 for s in spacing_mm):
        raise InvalidParameterError(f"voxel size must be positive, got {tuple(spacing_mm)} mm")
    a = np.diag([*map(float, spacing_mm), 1.0])
    a[:3, 3] = np.asarray(origin_ras_mm, dtype=float)
    return a


@dataclass(frozen=True, eq=False)
class _Grid:
    data: NDArray[Any]
    affine: NDArray[np.float64]

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.data.shape)  # type: ignore[return-value]

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        """Voxel edge lengths along i, j, k in mm."""
        s = np.linalg.norm(self.affine[:3, :3], axis=0)
        return (float(s[0]), float(s[1]), float(s[2]))

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in millilitres (1 mL = 1000 mm^3)."""
        return float(abs(np.linalg.det(self.affine[:3, :3]))) / 1000.0

    @property
    def axcodes(self) -> tuple[str, str, str]:
        """Direction codes of the voxel axes, e.g. ``('R', 'A', 'S')`` (nibabel convention)."""
        import nibabel as nib

        return tuple(nib.aff2axcodes(self.affine))  # type: ignore[return-value]

    def ijk_to_ras(self, ijk: ArrayLike) -> NDArray[np.float64]:
        """Map voxel indices ``(..., 3)`` to RAS+ mm ``(..., 3)``."""
        p = np.asarray(ijk, dtype=np.float64)
        return p @ self.affine[:3, :3].T + self.affine[:3, 3]

    def ras_to_ijk(self, ras_mm: ArrayLike) -> NDArray[np.float64]:
        """Map RAS+ mm ``(..., 3)`` to (fractional) voxel indices ``(..., 3)``."""
        p = np.asarray(ras_mm, dtype=np.float64)
        inv = np.linalg.inv(self.affine)
        return p @ inv[:3, :3].T + inv[:3, 3]

    def same_grid(self, other: _Grid) -> bool:
        """True when ``other`` has the same shape and (within 1 micrometre) the same affine."""
        corners = np.array([[0, 0, 0], [n - 1 for n in self.shape]], dtype=float)
        return self.shape == other.shape and bool(
            np.allclose(
                self.ijk_to_ras(corners), other.ijk_to_ras(corners), atol=AFFINE_TOLERANCE_MM
            )
            and np.allclose(self.affine[:3, :3], other.affine[:3, :3], atol=1e-6)
        )


@dataclass(frozen=True, eq=False)
class Volume(_Grid):
    """A CT volume in Hounsfield units on a voxel grid.

    Parameters
    ----------
    data : (I, J, K) ndarray
        Voxel values in HU, indexed ``(i, j, k)``; stored read-only (float32 or int16).
    affine : (4, 4) ndarray
        Voxel ``(i, j, k)`` to world RAS+ mm.
    """

    def __post_init__(self) -> None:
        data = np.asarray(self.data)
        if data.dtype.kind not in "iuf":
            raise InvalidParameterError(f"CT voxels must be numeric, got dtype {data.dtype}")
        if data.dtype.kind == "f" and data.dtype != np.float32:
            data = data.astype(np.float32)
        if data.ndim != 3:
            raise InvalidParameterError(f"CT must be 3-D, got shape {data.shape}")
        object.__setattr__(self, "affine", _check_affine(self.affine, data.shape, "CT"))
        if data.flags.writeable:
            data = data.view()
            data.setflags(write=False)
        object.__setattr__(self, "data", data)

    def hu(self) -> NDArray[np.float32]:
        """The voxels as a float32 array in HU (a view when already float32)."""
        return np.asarray(self.data, dtype=np.float32)


@dataclass(frozen=True, eq=False)
class LabelMap(_Grid):
    """Vertebra labels on a voxel grid, using kypho's label ids (see :mod:`kypho.core.levels`).

    Parameters
    ----------
    data : (I, J, K) integer ndarray
        0 for background, ``LEVEL_IDS[name]`` inside each vertebra.  Ids that are not vertebrae
        are kept but ignored by :attr:`levels`.
    affine : (4, 4) ndarray
        Voxel ``(i, j, k)`` to world RAS+ mm.
    """

    def __post_init__(self) -> None:
        data = np.asarray(self.data)
        if data.dtype.kind not in "iu":
            if data.dtype.kind == "f" and np.all(np.mod(data, 1) == 0):
                data = data.astype(np.int16)
            else:
                raise InvalidParameterError(
                    f"label map must hold integer ids, got dtype {data.dtype} with fractions"
                )
        if data.ndim != 3:
            raise InvalidParameterError(f"label map must be 3-D, got shape {data.shape}")
        object.__setattr__(self, "affine", _check_affine(self.affine, data.shape, "label map"))
        if data.flags.writeable:
            data = data.view()
            data.setflags(write=False)
        object.__setattr__(self, "data", data)

    @cached_property
    def boxes(self) -> dict[str, tuple[slice, slice, slice]]:
        """Bounding box (voxel slices) of each vertebral level present, cranial to caudal.

        Computed once (the data is read-only) in one pass of :func:`scipy.ndimage.find_objects`
        over the ids that are vertebrae; ids that are not vertebrae are ignored.
        """
        data = self.data
        if not data.size:
            return {}
        wanted = sorted(set(LEVEL_IDS.values()))
        if int(data.min()) >= 0 and int(data.max()) < 65536:
            # One pass without copying; np.unique sorts 100+ million voxels on fine phantoms.
            found = ndimage.find_objects(data, max_label=max(wanted))
        else:
            found = ndimage.find_objects(np.where(np.isin(data, wanted), data, 0).astype(np.int32),
                                         max_label=max(wanted))
        by_id = {n + 1: box for n, box in enumerate(found) if box is not None}
        out = {}
        for lv, lid in LEVEL_IDS.items():
            if lid in by_id and level_from_id(lid) == lv:
                out[lv] = by_id[lid]
        return out

    @cached_property
    def levels(self) -> tuple[str, ...]:
        """Vertebral levels present, cranial to caudal (computed once: the data is read-only)."""
        return tuple(self.boxes)

    @cached_property
    def levels_at_edge(self) -> tuple[str, ...]:
        """Levels whose label reaches a face of the volume (possibly cut by the scan's edge)."""
        shape = self.data.shape
        return tuple(
            lv for lv, box in self.boxes.items()
            if any(b.start == 0 or b.stop == n for b, n in zip(box, shape, strict=True))
        )

    def mask(self, level: str) -> NDArray[np.bool_]:
        """Boolean mask of one level's voxels."""
        return self.data == LEVEL_IDS[level]

    def require_vertebrae(self, source: str = "label map") -> None:
        """Raise :class:`EmptyLabelMapError` if no vertebra label is present."""
        if not self.levels:
            raise EmptyLabelMapError(f"{source}: holds no vertebra label (C1-L5, S1)")

    @staticmethod
    def from_mapping(data: ArrayLike, affine: ArrayLike, id_to_level: dict[int, str]) -> LabelMap:
        """Relabel ``data`` from a foreign id scheme (e.g. TotalSegmentator) to kypho's ids.

        Ids missing from ``id_to_level`` (organs, ribs) become background.
        """
        src = np.asarray(data)
        top = int(max(src.max(initial=0), *id_to_level, 0))
        if top > _MAX_LABEL_ID:  # the table below has one entry per id
            raise InvalidParameterError(
                f"label id {top} is too large (label ids go up to {_MAX_LABEL_ID})"
            )
        lut_size = top + 1
        lut = np.zeros(lut_size, dtype=np.int16)
        for foreign, level in id_to_level.items():
            lut[int(foreign)] = LEVEL_IDS[level]
        if src.min(initial=0) < 0:
            raise InvalidParameterError("label map holds negative ids")
        index = src if src.dtype.kind in "iu" else src.astype(np.intp)
        return LabelMap(lut[index], np.asarray(affine, dtype=float))


def check_same_grid(volume: Volume, labels: LabelMap, source: str = "label map") -> None:
    """Raise :class:`GeometryMismatchError` unless ``labels`` lies on ``volume``'s grid."""
    if volume.shape != labels.shape:
        raise GeometryMismatchError(
            f"{source}: shape {labels.shape} does not match the CT's {volume.shape}"
        )
    if not volume.same_grid(labels):
        raise GeometryMismatchError(
            f"{source}: affine does not match the CT's (voxel-to-world mapping differs by more "
            f"than {AFFINE_TOLERANCE_MM} mm)"
        )
