"""NIfTI-1 (``.nii``, ``.nii.gz``) reading and writing.

nibabel gives the voxel->RAS+ affine directly (sform when its code is non-zero, else qform, else
the pixdim fallback), so no axis flip happens here; see ``docs/coordinate-systems.md``.

Label maps may carry TotalSegmentator's multilabel header extension: a NIfTI extension (code 0)
holding a Caret-style XML ``<LabelTable>`` of ``<Label Key="id" ...><![CDATA[name]]></Label>``
(``wasserth/TotalSegmentator: totalsegmentator/nifti_ext_header.py``).  kypho reads it when
present and writes the same structure for its own label maps, so TotalSegmentator's
``load_multilabel_nifti`` and kypho read each other's files.
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import quoteattr

import numpy as np
from numpy.typing import NDArray

from kypho.core.atomic import write_with
from kypho.core.levels import level_from_id
from kypho.core.limits import check_image_voxels, format_bytes
from kypho.core.reading import open_regular
from kypho.core.volume import LabelMap, Volume
from kypho.errors import FormatError, InvalidParameterError, UnsupportedFormatError
from kypho.io._common import (
    MAX_ABS_HU,
    check_affine_from_file,
    check_hu_values,
    integer_label_ids,
    present_ids,
    require_file,
)

__all__ = [
    "MAX_TRAILING_BYTES",
    "MAX_VOX_OFFSET",
    "NIFTI_SUFFIXES",
    "is_nifti_path",
    "label_table_xml",
    "parse_label_table",
    "read_labels_nifti",
    "read_volume_nifti",
    "write_nifti",
]

NIFTI_SUFFIXES = (".nii", ".nii.gz")

# Errors nibabel, gzip and zlib raise on corrupt or truncated files.
_READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    EOFError,
    ValueError,
    OverflowError,
    zlib.error,
    MemoryError,
)


def _nibabel_errors() -> tuple[type[BaseException], ...]:
    from nibabel.filebasedimages import ImageFileError
    from nibabel.spatialimages import HeaderDataError
    from nibabel.wrapstruct import WrapStructError

    return (ImageFileError, HeaderDataError, WrapStructError)


def is_nifti_path(path: str | os.PathLike[str]) -> bool:
    """True when the name ends in ``.nii`` or ``.nii.gz`` (any case)."""
    name = Path(path).name.lower()
    return name.endswith(NIFTI_SUFFIXES)


#: Largest ``vox_offset`` (header plus extensions, bytes) accepted.  Model choice: header
#: extensions (label tables, DICOM headers) take kilobytes; 64 MiB is far beyond any real one.
MAX_VOX_OFFSET = 64 << 20
#: Decompressed bytes tolerated after the voxel data of a ``.nii.gz`` before it is refused as
#: inconsistent with its header (a gzip bomb behind a small image).  Model choice: 16 MiB.
MAX_TRAILING_BYTES = 16 << 20
#: Decompression chunk, bytes (model choice: bounds the memory of the drain after the data).
_CHUNK = 1 << 20


@dataclass(frozen=True)
class _HeaderInfo:
    """What kypho needs from a NIfTI header before it reads any voxel (raw, unfixed values)."""

    cls: Any
    head: bytes
    shape: tuple[int, ...]
    dtype: np.dtype
    vox_offset: int
    slope: float
    inter: float
    pixdim: NDArray[np.float64] | None  # pixdim[1:4] of a NIfTI-1 header as stored

    @property
    def data_bytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def data_end(self) -> int:
        return self.vox_offset + self.data_bytes


def _header_info(head: bytes, p: Path) -> _HeaderInfo:
    """Parse the header block ``head`` (the file's first bytes) without reading voxels."""
    import nibabel as nib

    if len(head) < 348:
        raise FormatError(f"{p}: too short for a NIfTI header ({len(head)} bytes)")
    sizes = {int.from_bytes(head[:4], "little"): "<", int.from_bytes(head[:4], "big"): ">"}
    if 348 in sizes:
        cls, hdr_cls, size, endian = nib.Nifti1Image, nib.Nifti1Header, 348, sizes[348]
    elif 540 in sizes:
        cls, hdr_cls, size, endian = nib.Nifti2Image, nib.Nifti2Header, 540, sizes[540]
    else:
        raise FormatError(f"{p}: not a NIfTI file (header size field is not 348 or 540)")
    if len(head) < size:
        raise FormatError(f"{p}: too short for a NIfTI-2 header ({len(head)} bytes)")
    try:
        hdr = hdr_cls(binaryblock=head[:size], check=True)
        shape = tuple(int(n) for n in hdr.get_data_shape())
        dtype = np.dtype(hdr.get_data_dtype())
        vox_offset_f = float(hdr["vox_offset"])
    except (*_nibabel_errors(), *_READ_ERRORS) as exc:
        raise FormatError(f"{p}: not a readable NIfTI header ({_why(exc)})") from None
    if not math.isfinite(vox_offset_f) or vox_offset_f > MAX_VOX_OFFSET:
        raise FormatError(
            f"{p}: vox_offset {vox_offset_f:g} is beyond {MAX_VOX_OFFSET} bytes (corrupt header)"
        )
    # The voxels of a single-file image start after the header and its 4 extension bytes.
    vox_offset = max(int(vox_offset_f), size + 4)
    if size == 348:
        slope, inter = (float(x) for x in np.frombuffer(head[112:120], f"{endian}f4"))
        pixdim = np.frombuffer(head[80:92], dtype=f"{endian}f4").astype(np.float64)
    else:
        slope, inter = (float(x) for x in np.frombuffer(head[176:192], f"{endian}f8"))
        pixdim = None  # nibabel does not alter NIfTI-2 pixdims
    check_image_voxels(shape, dtype.itemsize, str(p))
    return _HeaderInfo(cls, head[:size], shape, dtype, vox_offset, slope, inter, pixdim)


def _load(path: str | os.PathLike[str]) -> tuple[Path, Any, _HeaderInfo]:
    """Check the file and its header, then let nibabel read it (never past the budget)."""
    import nibabel as nib

    p = require_file(path)
    if p.is_dir():
        raise UnsupportedFormatError(f"{p}: is a folder, not a NIfTI file")
    if not is_nifti_path(p):
        raise UnsupportedFormatError(f"{p}: not a NIfTI file name (expected .nii or .nii.gz)")
    try:
        if p.name.lower().endswith(".gz"):
            info, raw = _from_gzip(p)
            img = info.cls.from_bytes(raw)
        else:
            with open_regular(p, "NIfTI file") as f:
                size = os.fstat(f.fileno()).st_size
                info = _header_info(f.read(544), p)
            if size < info.data_end:
                raise FormatError(
                    f"{p}: truncated: the header claims {info.data_bytes:,} bytes of voxels "
                    f"({' x '.join(map(str, info.shape))} {info.dtype}) from offset "
                    f"{info.vox_offset}, the file holds {size:,} bytes"
                )
            img = nib.load(p)
    except (*_nibabel_errors(), *_READ_ERRORS) as exc:
        raise FormatError(f"{p}: not a readable NIfTI file ({_why(exc)})") from None
    if not isinstance(img, nib.Nifti1Image | nib.Nifti2Image):
        raise FormatError(f"{p}: not a NIfTI-1/2 image (nibabel read it as {type(img).__name__})")
    return p, img, info


def _from_gzip(p: Path) -> tuple[_HeaderInfo, bytes]:
    """Decompress a ``.nii.gz`` as far as its header says, then check the rest of the stream.

    The header is decompressed first and checked against the budget, so a tiny file claiming
    gigabytes allocates nothing.  The stream is then read to its end (gzip's CRC and length
    checks run there; nibabel alone never reaches them) in bounded chunks; more than
    :data:`MAX_TRAILING_BYTES` after the voxel data is refused.
    """
    import gzip

    try:
        with open_regular(p, "NIfTI file") as f, gzip.GzipFile(fileobj=f, mode="rb") as gz:
            head = gz.read(544)
            info = _header_info(head, p)
            rest = gz.read(info.data_end - len(head)) if info.data_end > len(head) else b""
            raw = head + rest
            if len(raw) < info.data_end:
                raise FormatError(
                    f"{p}: truncated: the header claims {info.data_bytes:,} bytes of voxels "
                    f"({' x '.join(map(str, info.shape))} {info.dtype}), the gzip stream holds "
                    f"{max(0, len(raw) - info.vox_offset):,}"
                )
            trailing = len(raw) - info.data_end
            while chunk := gz.read(_CHUNK):
                trailing += len(chunk)
                if trailing > MAX_TRAILING_BYTES:
                    raise FormatError(
                        f"{p}: the gzip stream goes on for more than "
                        f"{format_bytes(MAX_TRAILING_BYTES)} after the voxel data its header "
                        "claims (corrupt file or a decompression bomb)"
                    )
    except (OSError, EOFError, zlib.error) as exc:
        raise FormatError(f"{p}: corrupt or truncated gzip data ({_why(exc)})") from None
    return info, raw[: info.data_end]


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _scaling(info: _HeaderInfo, path: Path) -> tuple[float, float]:
    """``(slope, inter)`` to apply, from the header as stored.

    NIfTI-1 (``nifti1.h``): a ``scl_slope`` of 0 means no scaling; nibabel writes NaN for the
    same.  An infinite slope, or a non-finite intercept with a slope, is a broken header
    (nibabel would silently read an infinite slope as 1).
    """
    slope, inter = info.slope, info.inter
    if slope == 0 or math.isnan(slope):
        return 1.0, 0.0
    if not math.isfinite(slope):
        raise FormatError(f"{path}: scl_slope is {slope} (a broken header)")
    if not math.isfinite(inter):
        raise FormatError(f"{path}: scl_inter is {inter} with scl_slope {slope:g}")
    return slope, inter


def _read_arrays(
    path: Path, img: Any, info: _HeaderInfo
) -> tuple[NDArray[Any], NDArray[np.float64]]:
    """Voxel array (3-D, scl_slope/scl_inter applied) and checked voxel->RAS+ affine."""

    hdr = img.header
    shape = tuple(int(n) for n in img.shape)
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) != 3:
        raise FormatError(f"{path}: image must be 3-D, got shape {tuple(img.shape)}")
    if min(shape) < 1:
        raise FormatError(f"{path}: image is empty, shape {shape}")
    try:
        affine = np.asarray(img.affine, dtype=np.float64)
    except (*_nibabel_errors(), *_READ_ERRORS) as exc:  # e.g. negative pixdim with a qform
        raise FormatError(f"{path}: invalid voxel geometry ({exc})") from None
    if int(hdr["sform_code"]) == 0 and info.pixdim is not None:
        # nibabel silently replaces zero pixdims by 1 on load; judge the bytes in the file.
        pixdim = info.pixdim
        if np.any(pixdim <= 0) or not np.all(np.isfinite(pixdim)):
            raise FormatError(f"{path}: non-positive voxel size {tuple(pixdim.tolist())} mm")
    affine = check_affine_from_file(affine, path)
    slope, inter = _scaling(info, path)
    try:
        proxy = img.dataobj
        raw = np.asanyarray(proxy.get_unscaled() if hasattr(proxy, "get_unscaled") else proxy)
    except (*_nibabel_errors(), *_READ_ERRORS) as exc:
        raise FormatError(f"{path}: truncated or corrupt voxel data ({_why(exc)})") from None
    raw = np.asarray(raw).reshape(shape)
    if raw.dtype.kind not in "iuf":
        raise FormatError(f"{path}: unsupported voxel type {raw.dtype}")
    if raw.dtype.kind == "f" and not np.all(np.isfinite(raw)):
        raise FormatError(f"{path}: voxel data hold NaN or infinite values")
    if slope != 1.0 or inter != 0.0:
        if raw.dtype.kind in "iu" and slope == 1.0 and inter == round(inter) and (
            abs(inter) <= MAX_ABS_HU
        ):
            wide = raw.astype(np.int64 if raw.dtype.itemsize >= 4 else np.int32)
            raw = wide + int(inter)
            if raw.size and raw.min() >= -32768 and raw.max() <= 32767:
                raw = raw.astype(np.int16)
        else:
            with np.errstate(over="ignore", invalid="ignore"):
                raw = raw.astype(np.float32) * np.float32(slope) + np.float32(inter)
            if not np.all(np.isfinite(raw)):
                raise FormatError(
                    f"{path}: scl_slope {slope:g} and scl_inter {inter:g} take voxel values "
                    "beyond the float32 range"
                )
    # nibabel hands out Fortran-ordered arrays; kypho keeps C order (i slowest, k fastest) so
    # ravel/unique/numba loops downstream do not copy or stride badly.
    return np.ascontiguousarray(raw), affine


def read_volume_nifti(path: str | os.PathLike[str]) -> Volume:
    """Read a CT from a NIfTI file.

    ``scl_slope``/``scl_inter`` are applied.  Unscaled integer data that fit in int16 stay int16
    (half the memory of float32); anything else becomes float32 HU.

    Raises
    ------
    InputFileError
        The file does not exist.
    UnsupportedFormatError
        The name does not end in ``.nii`` / ``.nii.gz``.
    FormatError
        The file is corrupt or truncated, not 3-D, has a NaN affine or a non-positive voxel size.
    """
    p, img, info = _load(path)
    data, affine = _read_arrays(p, img, info)
    check_hu_values(data, p)
    if data.dtype.kind in "iu" and (
        data.dtype.itemsize == 1
        or data.dtype == np.int16
        or (data.size and data.min() >= -32768 and data.max() <= 32767)
    ):
        data = data.astype(np.int16, copy=False)
    elif data.dtype != np.float32:
        data = data.astype(np.float32)
    return Volume(data, affine)


def read_labels_nifti(
    path: str | os.PathLike[str],
) -> tuple[NDArray[np.integer[Any]], NDArray[np.float64], dict[int, str]]:
    """Read a label map as stored: integer ids, voxel->RAS+ affine and the id->name table.

    The table comes from a TotalSegmentator-style ``<LabelTable>`` header extension and is
    empty when the file has none.  Ids are *not* mapped to kypho's; see
    :func:`kypho.io.load_labels` for that.

    Raises
    ------
    FormatError
        As :func:`read_volume_nifti`, and for fractional or negative label values.
    """
    p, img, info = _load(path)
    data, affine = _read_arrays(p, img, info)
    data = integer_label_ids(data, p)
    data = data.astype(np.int16 if data.dtype.itemsize > 1 or data.dtype.kind == "i" else np.uint8)
    names = _label_table_from_header(p, img.header)
    return data, affine, names


def _label_table_from_header(path: Path, hdr: Any) -> dict[int, str]:
    for ext in getattr(hdr, "extensions", ()):
        content = bytes(ext.get_content() if hasattr(ext, "get_content") else ext.content)
        if b"<LabelTable" not in content and b"<labeltable" not in content.lower():
            continue
        try:
            return parse_label_table(content)
        except FormatError as exc:
            raise FormatError(f"{path}: {exc}") from None
    return {}


def parse_label_table(xml: bytes | str) -> dict[int, str]:
    """``{id: name}`` from a Caret/TotalSegmentator ``<LabelTable>`` XML document.

    Raises
    ------
    FormatError
        The XML does not parse or a ``Key`` is not an integer.
    """
    if isinstance(xml, bytes):
        xml = xml.decode("utf-8", errors="replace")
    xml = xml.strip().rstrip("\x00").strip()
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as exc:
        raise FormatError(f"label-table header extension is not valid XML ({exc})") from None
    table: dict[int, str] = {}
    for label in root.iter("Label"):
        key = label.get("Key")
        try:
            label_id = int(str(key).strip())
        except ValueError:
            raise FormatError(f"label-table entry has a non-integer Key {key!r}") from None
        table[label_id] = (label.text or "").strip()
    return table


#: Display colours (RGB 0-1) cycled over label ids.  Model choice: matplotlib's tab10 palette.
_COLOURS = (
    (0.122, 0.467, 0.706),
    (1.000, 0.498, 0.055),
    (0.173, 0.627, 0.173),
    (0.839, 0.153, 0.157),
    (0.580, 0.404, 0.741),
    (0.549, 0.337, 0.294),
    (0.890, 0.467, 0.761),
    (0.498, 0.498, 0.498),
    (0.737, 0.741, 0.133),
    (0.090, 0.745, 0.812),
)


def label_table_xml(id_names: Mapping[int, str]) -> str:
    """The XML ``<LabelTable>`` document TotalSegmentator writes, for ``{id: name}``.

    Same element structure as ``add_label_map_to_nifti`` (``CaretExtension`` >
    ``VolumeInformation`` > ``LabelTable`` > ``Label``), so its ``load_multilabel_nifti``
    reads it.
    """
    rows = []
    for label_id, name in sorted(id_names.items()):
        name = str(name)
        if "]]>" in name:
            raise InvalidParameterError(f"label name {name!r} may not contain ']]>'")
        r, g, b = _COLOURS[int(label_id) % len(_COLOURS)]
        rows.append(
            f'<Label Key={quoteattr(str(int(label_id)))} Red="{r}" Green="{g}" '
            f'Blue="{b}" Alpha="1"><![CDATA[{name}]]></Label>'
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<CaretExtension>\n'
        '<VolumeInformation Index="0">\n<LabelTable>\n'
        + "\n".join(rows)
        + "\n</LabelTable>\n<VolumeType><![CDATA[Label]]></VolumeType>\n"
        "</VolumeInformation>\n</CaretExtension>\n"
    )


def _default_label_names(labels: LabelMap) -> dict[int, str]:
    ids = [int(i) for i in present_ids(labels.data) if i != 0]
    return {i: name for i in ids if (name := level_from_id(i)) is not None}


def write_nifti(
    image: Volume | LabelMap,
    path: str | os.PathLike[str],
    *,
    label_names: Mapping[int, str] | None = None,
) -> Path:
    """Write a CT or a label map to ``.nii`` / ``.nii.gz`` atomically.

    The affine goes to both sform and qform (code 1, scanner-based; nibabel reads the sform
    first, which also holds oblique and sheared affines exactly).  A label map gets a
    TotalSegmentator-style label table: ``label_names`` if given, else kypho's level name of
    every vertebra id present.

    Parameters
    ----------
    image : Volume or LabelMap
    path : path
        Target; its name must end in ``.nii`` or ``.nii.gz``.
    label_names : mapping of int to str, optional
        ``{id: name}`` for the label table (label maps only).

    Returns
    -------
    Path
        ``path``.
    """
    import nibabel as nib

    p = Path(path)
    if not is_nifti_path(p):
        raise UnsupportedFormatError(f"{p}: NIfTI output must end in .nii or .nii.gz")
    if isinstance(image, LabelMap):
        data = np.asarray(image.data)
        dtype = np.uint8 if data.size and 0 <= data.min() and data.max() < 256 else np.int16
        data = data.astype(dtype, copy=False)
        table = dict(label_names) if label_names is not None else _default_label_names(image)
    elif isinstance(image, Volume):
        if label_names is not None:
            raise InvalidParameterError("label_names applies to label maps, not to a CT volume")
        data = np.asarray(image.data)
        table = {}
    else:
        raise InvalidParameterError(f"cannot write a {type(image).__name__} as NIfTI")
    affine = np.asarray(image.affine, dtype=np.float64)
    img = nib.Nifti1Image(data, affine)
    img.set_sform(affine, code=1)
    img.set_qform(affine, code=1)
    hdr = img.header
    hdr.set_xyzt_units("mm")
    hdr.set_slope_inter(1.0, 0.0)
    hdr.set_data_dtype(data.dtype)
    if isinstance(image, LabelMap):
        hdr["intent_code"] = 1002  # NIFTI_INTENT_LABEL (nifti1.h)
        if table:
            hdr.extensions.append(
                nib.nifti1.Nifti1Extension(0, label_table_xml(table).encode("utf-8"))
            )
    return write_with(p, lambda tmp: nib.save(img, tmp))
