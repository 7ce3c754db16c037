"""DICOM CT series: read a folder of single-frame CT images, write one (for round-trip tests).

Geometry (DICOM PS3.3 C.7.6.2 Image Plane Module):

- ``ImageOrientationPatient`` (0020,0037): direction cosines of the first row (the direction in
  which the *column* index increases) and of the first column (the direction in which the *row*
  index increases), in the LPS+ patient frame.
- ``ImagePositionPatient`` (0020,0032): LPS+ mm of the centre of the first transmitted pixel.
- ``PixelSpacing`` (0028,0030): ``[spacing between rows, spacing between columns]`` mm.
- The slice normal is ``row_cosines x column_cosines``; slices are ordered by their position
  projected on it, never by ``InstanceNumber`` or ``SliceLocation``.
- Stored values are turned into HU by ``RescaleSlope`` (0028,1053) and ``RescaleIntercept``
  (0028,1052) (PS3.3 C.11.1.1.2 Modality LUT).

kypho indexes the volume ``(i, j, k)`` = ``(column, row, slice)``, so column 0 of the LPS affine
is ``row_cosines * PixelSpacing[1]``, column 1 is ``column_cosines * PixelSpacing[0]``, column 2
the step between slices along the normal; the LPS affine is flipped to RAS+ here.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kypho.core.limits import check_image_voxels
from kypho.core.volume import Volume
from kypho.errors import (
    FormatError,
    InputFileError,
    InvalidParameterError,
    UnsupportedFormatError,
)
from kypho.io._common import (
    MIN_VOXEL_SIZE_MM,
    Progress,
    check_affine_from_file,
    check_hu_values,
    lps_to_ras_affine,
    require_file,
)
from kypho.io._folders import atomic_folder

__all__ = [
    "DICOM_SUFFIXES",
    "SLICE_SPACING_REL_TOLERANCE",
    "TILT_TOLERANCE_PIXELS",
    "DicomSeries",
    "read_dicom_series",
    "write_dicom_series",
]

#: File suffixes that must hold DICOM; other non-DICOM files in a series folder are ignored.
DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")

#: Largest allowed deviation of any gap between neighbouring slices from the median gap, as a
#: fraction of the median (plus :data:`SLICE_SPACING_ABS_TOLERANCE_MM` for rounding of
#: ``ImagePositionPatient``).  Model choice: 1 % of a 2.5 mm spacing is 0.025 mm, far below
#: anything that changes a measurement.
SLICE_SPACING_REL_TOLERANCE = 0.01
#: Absolute floor of the slice-gap tolerance, mm (model choice, covers 2-decimal rounding).
SLICE_SPACING_ABS_TOLERANCE_MM = 0.02
#: Largest allowed in-plane drift of a slice's origin away from the normal through the first
#: slice, in units of the smaller in-plane pixel spacing.  More drift means a tilted gantry
#: (slices not stacked along their normal), which a plain voxel grid cannot represent.  Model
#: choice: a quarter pixel.
TILT_TOLERANCE_PIXELS = 0.25

_CT_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.2",  # CT Image Storage
}
_ENHANCED_CT_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image Storage
    "1.2.840.10008.5.1.4.1.1.2.2",  # Legacy Converted Enhanced CT Image Storage
}


@dataclass(frozen=True)
class DicomSeries:
    """A CT series read from a folder.

    Attributes
    ----------
    volume : Volume
        HU on a RAS+ grid; ``k`` increases along the slice normal.
    series_uid : str
        ``SeriesInstanceUID``.
    files : tuple of Path
        The slice files in ``k`` order.
    metadata : dict
        Non-identifying facts (series description, modality, slice spacing, kernel...).
        Patient name, id and birth date are never copied.
    """

    volume: Volume
    series_uid: str
    files: tuple[Path, ...]
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Slice:
    path: Path
    ds: Any


def _read_header(path: Path) -> Any | None:
    """Header of one file, ``None`` for a non-DICOM file without a DICOM suffix."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        # Decode the elements used for grouping now, so garbage fails here, named.
        sop = ds.get("SOPClassUID")
        for keyword in ("SeriesInstanceUID", "Modality", "Rows", "NumberOfFrames"):
            ds.get(keyword)
    except InvalidDicomError:
        if path.suffix.lower() in DICOM_SUFFIXES:
            raise FormatError(f"{path}: not a DICOM file (no 'DICM' preamble)") from None
        return None
    except Exception as exc:  # pydicom raises many types on corrupt headers
        raise FormatError(f"{path}: corrupt DICOM header ({type(exc).__name__}: {exc})") from None
    if not sop:
        # Every DICOM object (image, report, structure set) has a SOP Class UID (PS3.3 C.12.1).
        raise FormatError(f"{path}: corrupt DICOM header (no SOPClassUID)")
    _count(ds, "NumberOfFrames", path, _MAX_FRAMES, default=1)
    return ds


def _value(ds: Any, keyword: str, path: Path) -> Any:
    """The value of ``keyword`` or ``None``; a value pydicom cannot decode is a FormatError."""
    try:
        value = ds.get(keyword, None)
    except Exception as exc:  # pydicom raises ValueError, TypeError... on undecodable values
        raise FormatError(f"{path}: {keyword} cannot be read ({type(exc).__name__}: {exc})") from None
    if value is not None and hasattr(value, "value") and not isinstance(value, str | bytes):
        value = value.value  # a DataElement (ds.get with a keyword returns the value)
    return None if value is None or value == "" else value


def _number(ds: Any, keyword: str, path: Path, default: float | None = None) -> float | None:
    """A finite number from a DS/IS/US element; missing gives ``default``.

    A non-numeric value ('abc'), NaN, infinity or several values where one belongs is a
    :class:`FormatError` naming the file and the attribute.
    """
    value = _value(ds, keyword, path)
    if value is None:
        return default
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        raise FormatError(f"{path}: {keyword} must hold one number, got {list(value)!r}"[:300])
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        raise FormatError(f"{path}: {keyword} is not a number ({str(value)[:40]!r})") from None
    if not math.isfinite(x):
        raise FormatError(f"{path}: {keyword} is {str(value)[:40]!r}, not a finite number")
    return x


def _count(ds: Any, keyword: str, path: Path, hi: int, default: int | None = None) -> int:
    """A whole number in ``1..hi`` (Rows, Columns, NumberOfFrames...)."""
    x = _number(ds, keyword, path, None if default is None else float(default))
    if x is None:
        raise FormatError(f"{path}: missing DICOM attribute {keyword}")
    if x != int(x) or not 1 <= x <= hi:
        raise FormatError(f"{path}: {keyword} is {x:g}; expected a whole number from 1 to {hi}")
    return int(x)


#: Largest Rows / Columns: the attributes are 16-bit unsigned (DICOM PS3.5 VR US).
_MAX_ROWS = 65535
#: Largest NumberOfFrames accepted (model choice; only checked to refuse garbage).
_MAX_FRAMES = 1 << 20


def _float_list(ds: Any, keyword: str, n: int, path: Path) -> NDArray[np.float64]:
    value = _value(ds, keyword, path)
    if value is None:
        raise FormatError(f"{path}: missing DICOM attribute {keyword}")
    try:
        arr = np.array([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise FormatError(f"{path}: {keyword} is not numeric ({str(value)[:80]!r})") from None
    if arr.shape != (n,) or not np.all(np.isfinite(arr)):
        raise FormatError(f"{path}: {keyword} must hold {n} finite numbers, got {str(value)[:80]!r}")
    return arr


def _collect(folder: Path) -> list[_Slice]:
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not p.name.startswith(".") and p.name.upper() != "DICOMDIR"
    )
    slices = []
    for p in files:
        ds = _read_header(p)
        if ds is not None:
            slices.append(_Slice(p, ds))
    return slices


def _describe(uid: str, group: list[_Slice]) -> str:
    ds = group[0].ds
    desc = str(getattr(ds, "SeriesDescription", "") or "").strip()
    num = getattr(ds, "SeriesNumber", None)
    parts = [f"{len(group)} slices", f"uid {uid}"]
    if num is not None:
        parts.insert(0, f"series {num}")
    if desc:
        parts.append(repr(desc))
    return ", ".join(parts)


def _pick_series(
    folder: Path, slices: list[_Slice], series_uid: str | None
) -> tuple[str, list[_Slice]]:
    images = [s for s in slices if "Rows" in s.ds or "PixelData" in s.ds]
    if not images:
        raise UnsupportedFormatError(f"{folder}: holds no DICOM images")
    groups: dict[str, list[_Slice]] = defaultdict(list)
    for s in images:
        groups[str(getattr(s.ds, "SeriesInstanceUID", "") or "(no SeriesInstanceUID)")].append(s)
    if series_uid is not None:
        if series_uid not in groups:
            listed = "; ".join(_describe(u, g) for u, g in groups.items())
            raise InputFileError(f"{folder}: no series with uid {series_uid} (found: {listed})")
        chosen = groups[series_uid]
        if not _is_ct(chosen[0].ds):
            raise UnsupportedFormatError(f"{folder}: series {series_uid} is not a CT series")
        return series_uid, chosen
    ct = {u: g for u, g in groups.items() if _is_ct(g[0].ds)}
    if not ct:
        enhanced = [u for u, g in groups.items() if _is_enhanced_ct(g[0].ds)]
        if enhanced:
            raise UnsupportedFormatError(
                f"{folder}: enhanced (multi-frame) CT is not supported; convert it to "
                "single-frame CT images (e.g. with dcm2niix to NIfTI)"
            )
        modalities = sorted({str(getattr(g[0].ds, "Modality", "?")) for g in groups.values()})
        raise UnsupportedFormatError(
            f"{folder}: holds no CT series (modalities found: {', '.join(modalities)})"
        )
    ranked = sorted(ct.items(), key=lambda kv: -len(kv[1]))
    if len(ranked) > 1 and len(ranked[0][1]) == len(ranked[1][1]):
        listed = "; ".join(_describe(u, g) for u, g in ranked)
        raise InputFileError(
            f"{folder}: holds several CT series with the same number of slices, choose one by "
            f"SeriesInstanceUID: {listed}"
        )
    return ranked[0]


def _is_ct(ds: Any) -> bool:
    sop = str(getattr(ds, "SOPClassUID", ""))
    if sop in _ENHANCED_CT_SOP_CLASSES:
        return False
    return sop in _CT_SOP_CLASSES or (
        str(getattr(ds, "Modality", "")).upper() == "CT"
        and _frames(ds) == 1
    )


def _is_enhanced_ct(ds: Any) -> bool:
    return str(getattr(ds, "SOPClassUID", "")) in _ENHANCED_CT_SOP_CLASSES or (
        str(getattr(ds, "Modality", "")).upper() == "CT"
        and _frames(ds) > 1
    )


def _frames(ds: Any) -> int:
    """NumberOfFrames (checked when the header was read; 1 when absent)."""
    try:
        return int(float(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError, OverflowError):
        return 1


def _geometry(group: list[_Slice]) -> tuple[list[_Slice], NDArray[np.float64], float]:
    """Sort slices along the normal, check spacing and tilt; return (slices, LPS affine, gap)."""
    first = group[0]
    iop = _float_list(first.ds, "ImageOrientationPatient", 6, first.path)
    spacing = _float_list(first.ds, "PixelSpacing", 2, first.path)
    rows = _count(first.ds, "Rows", first.path, _MAX_ROWS)
    cols = _count(first.ds, "Columns", first.path, _MAX_ROWS)
    if np.any(spacing <= MIN_VOXEL_SIZE_MM):
        raise FormatError(f"{first.path}: non-positive PixelSpacing {tuple(spacing.tolist())} mm")
    row_cos, col_cos = iop[:3], iop[3:]
    if abs(np.linalg.norm(row_cos) - 1) > 1e-3 or abs(np.linalg.norm(col_cos) - 1) > 1e-3:
        raise FormatError(f"{first.path}: ImageOrientationPatient cosines are not unit vectors")
    if abs(row_cos @ col_cos) > 1e-3:
        raise FormatError(
            f"{first.path}: ImageOrientationPatient row and column are not orthogonal"
        )
    row_cos = row_cos / np.linalg.norm(row_cos)
    col_cos = col_cos / np.linalg.norm(col_cos)
    normal = np.cross(row_cos, col_cos)
    positions = []
    for s in group:
        r, c = _count(s.ds, "Rows", s.path, _MAX_ROWS), _count(s.ds, "Columns", s.path, _MAX_ROWS)
        if (r, c) != (rows, cols):
            raise FormatError(
                f"{s.path}: slice size {r}x{c} differs from {rows}x{cols} in {first.path.name}"
            )
        if not np.allclose(_float_list(s.ds, "ImageOrientationPatient", 6, s.path), iop, atol=1e-4):
            raise FormatError(f"{s.path}: ImageOrientationPatient differs from {first.path.name}")
        if not np.allclose(_float_list(s.ds, "PixelSpacing", 2, s.path), spacing, atol=1e-4):
            raise FormatError(f"{s.path}: PixelSpacing differs from {first.path.name}")
        positions.append(_float_list(s.ds, "ImagePositionPatient", 3, s.path))
    pos = np.array(positions)
    along = pos @ normal
    order = np.argsort(along, kind="stable")
    group = [group[i] for i in order]
    pos, along = pos[order], along[order]
    n = len(group)
    if n >= 2:
        gaps = np.diff(along)
        dup = np.flatnonzero(gaps < SLICE_SPACING_ABS_TOLERANCE_MM)
        if dup.size:
            a, b = group[dup[0]].path, group[dup[0] + 1].path
            raise FormatError(
                f"{a}: lies at the same position as {b.name} ({along[dup[0]]:.3f} mm along the "
                "slice normal); the series holds duplicate or overlapping acquisitions"
            )
        step = float(np.median(gaps))
        tol = max(SLICE_SPACING_REL_TOLERANCE * step, SLICE_SPACING_ABS_TOLERANCE_MM)
        bad = np.flatnonzero(np.abs(gaps - step) > tol)
        if bad.size:
            g = float(gaps[bad[0]])
            ratio = g / step
            where = (
                f"between {group[bad[0]].path.name} and {group[bad[0] + 1].path.name} "
                f"({along[bad[0]]:.2f} to {along[bad[0] + 1]:.2f} mm along the normal)"
            )
            if ratio > 1.5 and abs(ratio - round(ratio)) * step <= tol:
                raise FormatError(
                    f"{group[0].path.parent}: {round(ratio) - 1} slice(s) missing {where}: gap "
                    f"{g:.3f} mm, expected {step:.3f} mm"
                )
            raise FormatError(
                f"{group[0].path.parent}: uneven slice spacing {where}: gap {g:.3f} mm, median "
                f"{step:.3f} mm (tolerance {tol:.3f} mm); resample the series to even spacing"
            )
        drift = (pos - pos[0]) - np.outer(along - along[0], normal)
        worst = int(np.argmax(np.linalg.norm(drift, axis=1)))
        off = float(np.linalg.norm(drift[worst]))
        if off > TILT_TOLERANCE_PIXELS * float(spacing.min()):
            angle = math.degrees(math.atan2(off, float(along[worst] - along[0])))
            tag = getattr(group[0].ds, "GantryDetectorTilt", None)
            tag_txt = f"; GantryDetectorTilt = {tag}" if tag is not None else ""
            raise FormatError(
                f"{group[0].path.parent}: gantry tilt: slices are not stacked along their normal "
                f"({angle:.2f} degrees, {off:.2f} mm off at {group[worst].path.name}{tag_txt}); "
                "resample the series to an untilted grid first"
            )
        slice_vec = normal * (float(along[-1] - along[0]) / (n - 1))
    else:
        thick = _number(first.ds, "SpacingBetweenSlices", first.path) or _number(
            first.ds, "SliceThickness", first.path
        )
        if thick is None or thick <= MIN_VOXEL_SIZE_MM:
            raise FormatError(
                f"{first.path}: single-slice series without a positive SliceThickness"
            )
        step = float(thick)
        slice_vec = normal * step
    affine = np.eye(4)
    affine[:3, 0] = row_cos * spacing[1]
    affine[:3, 1] = col_cos * spacing[0]
    affine[:3, 2] = slice_vec
    affine[:3, 3] = pos[0]
    return group, affine, step


def _rescale(ds: Any, path: Path) -> tuple[float, float]:
    """``(RescaleSlope, RescaleIntercept)``: finite numbers, the slope non-zero (1, 0 if absent)."""
    slope = _number(ds, "RescaleSlope", path, 1.0)
    inter = _number(ds, "RescaleIntercept", path, 0.0)
    assert slope is not None and inter is not None
    if slope == 0:
        raise FormatError(f"{path}: RescaleSlope is 0 (every voxel would be the intercept)")
    return slope, inter


def _check_pixel_length(ds: Any, path: Path, rows: int, cols: int) -> None:
    """Native (uncompressed) pixel data must hold Rows x Columns samples: checked before decoding."""
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if ts is None or getattr(ts, "is_compressed", True):
        return
    bits = _count(ds, "BitsAllocated", path, 64, default=16)
    if bits not in (8, 16, 32, 64):
        raise FormatError(f"{path}: BitsAllocated {bits} is not 8, 16, 32 or 64")
    need = rows * cols * _frames(ds) * (bits // 8)
    have = len(ds.PixelData)
    if have < need:
        raise FormatError(
            f"{path}: pixel data hold {have:,} bytes; Rows x Columns = {rows} x {cols} at "
            f"{bits} bits need {need:,} (truncated data or wrong Rows/Columns)"
        )


def _pixels(s: _Slice, rows: int, cols: int) -> NDArray[np.float32]:
    import pydicom

    path = s.path
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:
        raise FormatError(f"{path}: corrupt DICOM file ({type(exc).__name__}: {exc})") from None
    samples = _count(ds, "SamplesPerPixel", path, 4, default=1)
    if samples != 1:
        raise UnsupportedFormatError(f"{path}: colour images are not CT ({samples} samples)")
    if "PixelData" not in ds:
        raise FormatError(f"{path}: has no pixel data")
    expected = (_count(ds, "Rows", path, _MAX_ROWS), _count(ds, "Columns", path, _MAX_ROWS))
    if expected != (rows, cols):
        raise FormatError(f"{path}: slice size {expected[0]}x{expected[1]} differs from "
                          f"{rows}x{cols}")
    _check_pixel_length(ds, path, rows, cols)
    slope, inter = _rescale(ds, path)
    try:
        arr = ds.pixel_array
    except (NotImplementedError, RuntimeError) as exc:
        ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "?")
        name = getattr(ts, "name", str(ts))
        raise UnsupportedFormatError(
            f"{path}: cannot decode pixel data in transfer syntax {name} ({exc}); install "
            "pydicom's decoder plugins (pylibjpeg) or convert the series"
        ) from None
    except Exception as exc:
        raise FormatError(
            f"{path}: truncated or corrupt pixel data ({type(exc).__name__}: {exc})"
        ) from None
    if arr.shape != expected:
        raise FormatError(f"{path}: pixel data shape {arr.shape} differs from {expected}")
    with np.errstate(over="ignore", invalid="ignore"):
        out = arr.astype(np.float32) * np.float32(slope) + np.float32(inter)
    if not np.all(np.isfinite(out)):
        raise FormatError(
            f"{path}: RescaleSlope {slope:g} and RescaleIntercept {inter:g} take voxel values "
            "beyond the float32 range"
        )
    return out


def read_dicom_series(
    folder: str | os.PathLike[str],
    *,
    series_uid: str | None = None,
    progress: Progress | None = None,
) -> DicomSeries:
    """Read a CT series from a folder of DICOM files (searched recursively).

    Parameters
    ----------
    folder : path
        The folder; a path to one ``.dcm`` file reads that file's series from its folder.
    series_uid : str, optional
        ``SeriesInstanceUID`` to read when the folder holds several CT series.  By default the
        CT series with the most slices; a tie is an error listing the candidates.
    progress : callable, optional
        ``progress(fraction_done, message)`` while slices are decoded.

    Raises
    ------
    InputFileError
        Missing folder, or several equally large CT series and no ``series_uid``.
    UnsupportedFormatError
        No DICOM images, no CT series, enhanced multi-frame CT, or an undecodable compression.
    FormatError
        A corrupt or truncated file (named), missing geometry attributes, slices of different
        size or orientation, duplicate positions, missing slices, uneven spacing or gantry tilt
        (beyond :data:`SLICE_SPACING_REL_TOLERANCE` / :data:`TILT_TOLERANCE_PIXELS`), or a
        non-positive pixel spacing.
    """
    path = require_file(folder, "folder")
    if path.is_file():
        hdr = _read_header(path)
        if hdr is None:
            raise UnsupportedFormatError(f"{path}: not a DICOM file")
        own_uid = getattr(hdr, "SeriesInstanceUID", None)
        series_uid = series_uid or (str(own_uid) if own_uid else None)
        path = path.parent
    if progress:
        progress(0.0, f"scanning {path}")
    slices = _collect(path)
    uid, group = _pick_series(path, slices, series_uid)
    group, affine_lps, step = _geometry(group)
    n = len(group)
    first = group[0].ds
    rows = _count(first, "Rows", group[0].path, _MAX_ROWS)
    cols = _count(first, "Columns", group[0].path, _MAX_ROWS)
    # float32 stack: 4 bytes a voxel, checked before it is allocated.
    check_image_voxels((cols, rows, n), 4, str(path))
    stack = np.empty((cols, rows, n), dtype=np.float32)
    integral = True
    for k, s in enumerate(group):
        img = _pixels(s, rows, cols)
        stack[:, :, k] = img.T
        slope, inter = _rescale(s.ds, s.path)
        integral = integral and slope == 1.0 and inter == round(inter)
        if progress and (k % 16 == 0 or k == n - 1):
            progress((k + 1) / n, f"reading slice {k + 1}/{n}")
    check_hu_values(stack, path)
    if integral and stack.size and stack.min() >= -32768 and stack.max() <= 32767:
        data: NDArray[Any] = stack.astype(np.int16)
    else:
        data = stack
    affine = check_affine_from_file(lps_to_ras_affine(affine_lps), group[0].path)
    meta: dict[str, Any] = {
        "format": "dicom",
        "series_instance_uid": uid,
        "n_slices": n,
        "slice_spacing_mm": round(step, 6),
    }
    for key, attr in (
        ("series_description", "SeriesDescription"),
        ("modality", "Modality"),
        ("manufacturer", "Manufacturer"),
        ("convolution_kernel", "ConvolutionKernel"),
        ("slice_thickness_mm", "SliceThickness"),
        ("kvp", "KVP"),
    ):
        if attr in ("SliceThickness", "KVP"):
            number = _number(first, attr, group[0].path)
            if number is not None:
                meta[key] = number
            continue
        value = _value(first, attr, group[0].path)
        if value is not None:
            meta[key] = str(value)
    return DicomSeries(Volume(data, affine), uid, tuple(s.path for s in group), meta)


def _quantise(data: NDArray[Any]) -> tuple[NDArray[np.int16], float, float]:
    """Stored int16 values, slope and intercept with ``hu = stored * slope + intercept``."""
    values = np.asarray(data)
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if (
        (values.dtype.kind in "iu" or np.all(np.mod(values, 1) == 0))
        and lo >= -32768
        and hi <= 32767
    ):
        return values.astype(np.int16), 1.0, 0.0
    slope = (hi - lo) / 65534.0 if hi > lo else 1.0
    inter = lo + 32767.0 * slope
    stored = np.clip(np.rint((values.astype(np.float64) - inter) / slope), -32767, 32767)
    return stored.astype(np.int16), slope, inter


def _ds_str(x: float) -> str:
    """A DICOM decimal string (at most 16 characters)."""
    for digits in range(10, 0, -1):
        s = f"{x:.{digits}g}"
        if len(s) <= 16:
            return s
    return f"{x:.0f}"


def write_dicom_series(
    volume: Volume,
    folder: str | os.PathLike[str],
    *,
    series_description: str = "kypho",
    patient_id: str = "KYPHO",
    overwrite: bool = False,
) -> Path:
    """Write ``volume`` as a CT Image Storage series, one file per ``k`` slice.

    The series is built in a temporary folder beside ``folder`` and renamed into place, so a
    reader never sees half a series.  Voxels are stored as int16 with ``RescaleSlope`` /
    ``RescaleIntercept``: integer HU in the int16 range are exact, anything else is quantised
    to 1/65534 of the value range.  The in-plane axes ``i`` and ``j`` must be orthogonal (DICOM
    cannot store an in-plane shear); the slice step may be oblique to the normal (a gantry tilt,
    which :func:`read_dicom_series` then rejects).

    Parameters
    ----------
    volume : Volume
    folder : path
        Output folder; must not exist or be empty unless ``overwrite`` (then it may hold only
        DICOM files, which are replaced).
    series_description, patient_id : str
        Written to ``SeriesDescription`` and ``PatientID`` / ``PatientName``.

    Returns
    -------
    Path
        ``folder``.
    """
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    target = Path(folder)
    if overwrite and target.is_dir():
        foreign = [p.name for p in target.iterdir() if p.suffix.lower() not in DICOM_SUFFIXES]
        if foreign:
            raise InputFileError(
                f"{target}: will not replace a folder holding non-DICOM files ({foreign[0]}, ...)"
            )
    lps = lps_to_ras_affine(np.asarray(volume.affine))
    cols_vec, rows_vec, slice_vec = lps[:3, 0], lps[:3, 1], lps[:3, 2]
    di, dj = float(np.linalg.norm(cols_vec)), float(np.linalg.norm(rows_vec))
    row_cos, col_cos = cols_vec / di, rows_vec / dj
    if abs(row_cos @ col_cos) > 1e-6:
        raise InvalidParameterError(
            "volume's i and j axes are not orthogonal; DICOM cannot store an in-plane shear"
        )
    normal = np.cross(row_cos, col_cos)
    thickness = abs(float(slice_vec @ normal))
    stored, slope, inter = _quantise(volume.data)
    ni, nj, nk = volume.shape
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    with atomic_folder(target, replace=overwrite) as tmp:
        for k in range(nk):
            ipp = lps[:3, 3] + k * slice_vec
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = CTImageStorage
            sop = generate_uid()
            meta.MediaStorageSOPInstanceUID = sop
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds = Dataset()
            ds.file_meta = meta
            ds.SOPClassUID = CTImageStorage
            ds.SOPInstanceUID = sop
            ds.StudyInstanceUID = study
            ds.SeriesInstanceUID = series
            ds.FrameOfReferenceUID = frame
            ds.Modality = "CT"
            ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
            ds.Manufacturer = "kypho"
            ds.PatientName = patient_id
            ds.PatientID = patient_id
            ds.SeriesDescription = series_description
            ds.SeriesNumber = 1
            ds.InstanceNumber = k + 1
            ds.ImagePositionPatient = [_ds_str(float(v)) for v in ipp]
            ds.ImageOrientationPatient = [_ds_str(float(v)) for v in (*row_cos, *col_cos)]
            ds.PixelSpacing = [_ds_str(dj), _ds_str(di)]
            ds.SliceThickness = _ds_str(thickness)
            ds.SpacingBetweenSlices = _ds_str(thickness)
            ds.SliceLocation = _ds_str(float(ipp @ normal))
            ds.SamplesPerPixel = 1
            ds.PhotometricInterpretation = "MONOCHROME2"
            ds.Rows, ds.Columns = nj, ni
            ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
            ds.PixelRepresentation = 1
            ds.RescaleSlope = _ds_str(slope)
            ds.RescaleIntercept = _ds_str(inter)
            ds.RescaleType = "HU"
            ds.PixelData = np.ascontiguousarray(stored[:, :, k].T).tobytes()
            pydicom.dcmwrite(tmp / f"IM{k + 1:05d}.dcm", ds, enforce_file_format=True)
    return target
