"""NRRD (``.nrrd``, ``.nhdr`` + detached data) reading and writing with pynrrd.

World frame (NRRD format definition, http://teem.sourceforge.net/nrrd/format.html, fields
``space``, ``space directions``, ``space origin``): ``space directions`` gives, for each axis,
the world vector from one sample to the next; ``space origin`` the world position of the first
sample; ``space`` names the frame the vectors live in.  kypho accepts the three anatomical 3-D
spaces and flips their axes to RAS+:

========================  =====  ==================
``space``                 short  flip to RAS+
========================  =====  ==================
right-anterior-superior   RAS    none
left-anterior-superior    LAS    negate x
left-posterior-superior   LPS    negate x and y
========================  =====  ==================

Files without an anatomical ``space`` (``scanner-xyz``, ``3D-right-handed``, none at all) are
rejected: their voxels have no known place in the patient.
"""

from __future__ import annotations

import os
import warnings
import zlib
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from kypho.core.atomic import write_with
from kypho.core.limits import check_image_voxels
from kypho.core.reading import check_regular_file, open_regular
from kypho.core.volume import LabelMap, Volume
from kypho.errors import (
    FormatError,
    InputFileError,
    InvalidParameterError,
    UnsupportedFormatError,
)
from kypho.io._common import LPS_TO_RAS, check_affine_from_file, require_file

__all__ = ["MAX_HEADER_BYTES", "NRRD_SUFFIXES", "is_nrrd_path", "read_nrrd", "write_nrrd"]

NRRD_SUFFIXES = (".nrrd", ".nhdr")

#: Flip from each accepted NRRD ``space`` to RAS+ (diagonal of a 3x3 matrix).
_SPACE_TO_RAS: dict[str, tuple[float, float, float]] = {
    "right-anterior-superior": (1.0, 1.0, 1.0),
    "ras": (1.0, 1.0, 1.0),
    "left-anterior-superior": (-1.0, 1.0, 1.0),
    "las": (-1.0, 1.0, 1.0),
    "left-posterior-superior": (-1.0, -1.0, 1.0),
    "lps": (-1.0, -1.0, 1.0),
}


def is_nrrd_path(path: str | os.PathLike[str]) -> bool:
    """True when the name ends in ``.nrrd`` or ``.nhdr`` (any case)."""
    return Path(path).name.lower().endswith(NRRD_SUFFIXES)


#: Longest NRRD header read, bytes.  Model choice: real headers take a few hundred bytes; a
#: "header" without its blank line within 1 MiB is not one.
MAX_HEADER_BYTES = 1 << 20
#: Decompression chunk, bytes (model choice: bounds the memory beyond the data itself).
_CHUNK = 1 << 20

#: NRRD ``type`` -> numpy kind and size (NRRD format definition, field ``type``).
_TYPES: dict[str, str] = {
    **dict.fromkeys(("signed char", "int8", "int8_t"), "i1"),
    **dict.fromkeys(("uchar", "unsigned char", "uint8", "uint8_t"), "u1"),
    **dict.fromkeys(("short", "short int", "signed short", "signed short int", "int16",
                     "int16_t"), "i2"),
    **dict.fromkeys(("ushort", "unsigned short", "unsigned short int", "uint16", "uint16_t"),
                    "u2"),
    **dict.fromkeys(("int", "signed int", "int32", "int32_t"), "i4"),
    **dict.fromkeys(("uint", "unsigned int", "uint32", "uint32_t"), "u4"),
    **dict.fromkeys(("longlong", "long long", "long long int", "signed long long",
                     "signed long long int", "int64", "int64_t"), "i8"),
    **dict.fromkeys(("ulonglong", "unsigned long long", "unsigned long long int", "uint64",
                     "uint64_t"), "u8"),
    "float": "f4",
    "double": "f8",
}
_ASCII = ("ascii", "text", "txt")
_GZIP = ("gzip", "gz")
_BZIP2 = ("bzip2", "bz2")


def _split_header(p: Path, blob: bytes, whole: bool) -> tuple[list[str], int]:
    """Header lines (decoded) and the byte offset where the attached data start."""
    if not blob:
        raise FormatError(f"{p}: empty file, not an NRRD file")
    if not blob.startswith(b"NRRD"):
        raise FormatError(f"{p}: not an NRRD file (no 'NRRD000x' magic line)")
    lines: list[str] = []
    pos = 0
    while pos < len(blob):
        nl = blob.find(b"\n", pos)
        end = len(blob) if nl < 0 else nl + 1
        line = blob[pos:end]
        pos = end
        text = line.decode("ascii", "replace").rstrip()
        if text == "" and lines:
            return lines, pos
        lines.append(text)
        if nl < 0:
            break
    if not whole:
        raise FormatError(
            f"{p}: no blank line ends the NRRD header within {MAX_HEADER_BYTES} bytes"
        )
    return lines, len(blob)  # a detached header may end at the end of its file


def _parse_header(p: Path, lines: list[str]) -> dict[str, Any]:
    import nrrd

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy's overflow warnings on huge numbers
            return dict(nrrd.read_header(lines))
    except StopIteration:
        raise FormatError(f"{p}: empty NRRD header") from None
    except (nrrd.NRRDError, ValueError, TypeError, KeyError, IndexError, OverflowError,
            Warning) as exc:
        text = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise FormatError(f"{p}: not a readable NRRD header ({type(exc).__name__}: {text})") from None


def _field(header: dict[str, Any], *names: str) -> Any:
    for name in names:
        if name in header:
            return header[name]
    return None


def _detached_path(p: Path, name: str) -> Path:
    """The detached data file ``name`` of header ``p``, confined to the header's folder.

    Refused: multi-file data (``LIST`` or a ``%d`` pattern), absolute paths, ``..``, a name
    that resolves (through symlinks) outside the header's folder, and anything but a regular
    file.  An NRRD header is data, not a licence to read any file the user can.
    """
    text = str(name).strip()
    if text == "LIST" or " " in text or "%" in text:
        raise UnsupportedFormatError(
            f"{p}: data file {text!r}: multi-file detached data is not supported"
        )
    rel = Path(text)
    if rel.is_absolute() or text.startswith(("/", "\\")) or ".." in rel.parts:
        raise FormatError(
            f"{p}: data file {text!r} must be a file name inside the header's folder "
            "(no absolute path, no '..')"
        )
    folder = p.parent.resolve()
    candidate = folder / rel
    try:
        resolved = candidate.resolve(strict=True)
    except FileNotFoundError:
        raise InputFileError(f"{p}: its data file {candidate} does not exist") from None
    except (OSError, RuntimeError) as exc:
        raise InputFileError(f"{p}: cannot read its data file {candidate} ({exc})") from None
    if not resolved.is_relative_to(folder):
        raise FormatError(
            f"{p}: data file {text!r} leads outside the header's folder (to {resolved})"
        )
    check_regular_file(resolved, "data file")
    return resolved


def _dtype(p: Path, header: dict[str, Any]) -> np.dtype:
    kind = _TYPES.get(str(header.get("type", "")).strip().lower())
    if kind is None:
        raise FormatError(f"{p}: NRRD type {header.get('type')!r} is not a numeric sample type")
    encoding = str(header.get("encoding", "")).strip().lower()
    if int(kind[1]) > 1 and encoding not in _ASCII:
        endian = str(header.get("endian", "")).strip().lower()
        if endian not in ("little", "big"):
            raise FormatError(f"{p}: NRRD header needs 'endian: little' or 'big' for {kind}")
        kind = ("<" if endian == "little" else ">") + kind
    return np.dtype(kind)


def _skip_lines(f: IO[bytes], n: int) -> None:
    """Skip ``n`` lines; stops at the end of the file (a huge 'line skip' cannot hang)."""
    for _ in range(n):
        if not f.readline(MAX_HEADER_BYTES):
            return


def _decompress(p: Path, f: IO[bytes], encoding: str, need: int) -> bytes:
    """Decompress at most ``need`` bytes; more data than that is a :class:`FormatError`."""
    import bz2

    gz = encoding in _GZIP
    dec: Any = zlib.decompressobj(zlib.MAX_WBITS | 32) if gz else bz2.BZ2Decompressor()
    out = bytearray()
    try:
        while len(out) <= need:
            room = need + 1 - len(out)
            if gz:
                if dec.unconsumed_tail:
                    chunk = dec.unconsumed_tail
                elif dec.eof and dec.unused_data:
                    # Concatenated gzip members (RFC 1952 allows them): start the next one.
                    chunk = dec.unused_data
                    dec = zlib.decompressobj(zlib.MAX_WBITS | 32)
                else:
                    chunk = f.read(_CHUNK)
                    if not chunk:
                        break
                out += dec.decompress(chunk, room)
            else:
                if dec.eof:
                    break
                chunk = f.read(_CHUNK) if dec.needs_input else b""
                if not chunk and dec.needs_input:
                    break
                out += dec.decompress(chunk, room)
    except (zlib.error, OSError, EOFError, ValueError) as exc:
        raise FormatError(f"{p}: corrupt {encoding} data ({type(exc).__name__}: {exc})") from None
    if len(out) > need:
        raise FormatError(
            f"{p}: compressed data expand beyond the {need:,} bytes the header's sizes claim "
            "(corrupt file or a decompression bomb)"
        )
    return bytes(out)


def _read_data(p: Path, header: dict[str, Any], data_offset: int) -> NDArray[Any]:
    """The samples of a checked header, read within the budget from a confined file."""
    dtype = _dtype(p, header)
    try:
        sizes = [int(n) for n in np.asarray(header["sizes"]).reshape(-1).tolist()]
        dimension = int(header["dimension"])
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise FormatError(f"{p}: NRRD header needs numeric 'dimension' and 'sizes' ({exc})") from None
    if dimension != len(sizes) or not sizes:
        raise FormatError(f"{p}: NRRD sizes {sizes} do not match dimension {dimension}")
    if min(sizes) < 1:
        raise FormatError(f"{p}: NRRD sizes {sizes} must be positive")
    n = check_image_voxels(sizes, dtype.itemsize, str(p))
    nbytes = n * dtype.itemsize
    encoding = str(header.get("encoding", "")).strip().lower()
    if encoding not in ("raw", *_ASCII, *_GZIP, *_BZIP2):
        raise UnsupportedFormatError(f"{p}: NRRD encoding {header.get('encoding')!r} is not read")
    try:
        line_skip = int(_field(header, "line skip", "lineskip") or 0)
        byte_skip = int(_field(header, "byte skip", "byteskip") or 0)
    except (TypeError, ValueError):
        raise FormatError(f"{p}: 'line skip' and 'byte skip' must be integers") from None
    if line_skip < 0 or byte_skip < -1:
        raise FormatError(f"{p}: negative 'line skip' or 'byte skip' (<-1)")
    data_name = _field(header, "data file", "datafile")
    source = _detached_path(p, data_name) if data_name is not None else p
    with open_regular(source, "NRRD data file") as f:
        size = os.fstat(f.fileno()).st_size
        if data_name is None:
            f.seek(data_offset)
        _skip_lines(f, line_skip)
        if encoding == "raw":
            start = size - nbytes if byte_skip == -1 else f.tell() + byte_skip
            if start < 0 or size - start < nbytes:
                raise FormatError(
                    f"{p}: truncated: the header claims {nbytes:,} bytes of samples "
                    f"({' x '.join(map(str, sizes))} {dtype.name}) from byte {start:,} of "
                    f"{source.name}, which holds {size:,} bytes"
                )
            f.seek(start)
            buf = f.read(nbytes)
        elif encoding in _ASCII:
            # Each sample takes at least 2 characters; more than 64 per sample is not text data.
            remaining = size - f.tell()
            if remaining > 64 * n + _CHUNK:
                raise FormatError(f"{p}: ASCII data of {remaining:,} bytes for {n:,} samples")
            tokens = f.read(remaining).split()
            if len(tokens) != n:
                raise FormatError(f"{p}: ASCII data hold {len(tokens):,} samples, sizes say {n:,}")
            try:
                return _shape(np.array([t.decode("ascii") for t in tokens], dtype=dtype), sizes)
            except (ValueError, UnicodeDecodeError, OverflowError) as exc:
                raise FormatError(f"{p}: ASCII data are not {dtype.name} numbers ({exc})") from None
        else:
            skip = max(byte_skip, 0)
            if byte_skip == -1:
                raise UnsupportedFormatError(f"{p}: 'byte skip: -1' with {encoding} data")
            raw = _decompress(p, f, encoding, skip + nbytes)
            buf = raw[skip:]
    if len(buf) != nbytes:
        raise FormatError(
            f"{p}: truncated: {len(buf):,} bytes of samples where the sizes "
            f"({' x '.join(map(str, sizes))} {dtype.name}) need {nbytes:,}"
        )
    return _shape(np.frombuffer(buf, dtype=dtype), sizes)


def _shape(flat: NDArray[Any], sizes: list[int]) -> NDArray[Any]:
    # NRRD lists the fastest axis first (Fortran order): reverse, reshape, transpose.
    return flat.reshape(tuple(sizes[::-1])).T


def read_nrrd(path: str | os.PathLike[str]) -> tuple[NDArray[Any], NDArray[np.float64]]:
    """Voxel array ``(i, j, k)`` and voxel->RAS+ affine of a 3-D NRRD file.

    The header is parsed with pynrrd; the samples are read here, after the sizes are checked
    against the memory budget (:mod:`kypho.core.limits`) and the file size, with a detached
    data file confined to the header's folder and compressed data decompressed no further
    than the sizes need.

    Raises
    ------
    InputFileError
        The file (or an ``.nhdr``'s detached data file) does not exist, is not a regular file,
        or the image is beyond the budget.
    UnsupportedFormatError
        The ``space`` is not anatomical (RAS, LAS, LPS), or multi-file data.
    FormatError
        Corrupt or truncated file, not 3-D, missing ``space directions``, NaN or zero vectors,
        a data file outside the header's folder.
    """
    p = require_file(path)
    if p.is_dir():
        raise UnsupportedFormatError(f"{p}: is a folder, not an NRRD file")
    with open_regular(p, "NRRD file") as f:
        size = os.fstat(f.fileno()).st_size
        blob = f.read(MAX_HEADER_BYTES)
    lines, data_offset = _split_header(p, blob, whole=size <= MAX_HEADER_BYTES)
    header = _parse_header(p, lines)
    data = _read_data(p, header, data_offset)
    if data.ndim == 4 and data.shape[0] == 1:
        data = data[0]
        try:
            dirs_raw = np.asarray(header.get("space directions"), dtype=float)[1:]
        except (TypeError, ValueError, IndexError):
            raise FormatError(f"{p}: 'space directions' is not a list of vectors") from None
    else:
        dirs_raw = header.get("space directions")
    if data.ndim != 3:
        raise FormatError(f"{p}: image must be 3-D, got shape {data.shape}")
    space = str(header.get("space", "")).strip().lower()
    if not space:
        raise FormatError(
            f"{p}: NRRD header has no 'space' field, so the image has no place in the patient"
        )
    if space not in _SPACE_TO_RAS:
        raise UnsupportedFormatError(
            f"{p}: NRRD space {header.get('space')!r} is not an anatomical frame "
            "(expected right-anterior-superior, left-anterior-superior or left-posterior-superior)"
        )
    if dirs_raw is None:
        raise FormatError(f"{p}: NRRD header has no 'space directions'")
    try:
        dirs = np.asarray(dirs_raw, dtype=float)
        origin = np.asarray(header.get("space origin", np.zeros(3)), dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise FormatError(f"{p}: 'space directions' or 'space origin' is not numeric") from None
    if dirs.shape != (3, 3):
        raise FormatError(f"{p}: 'space directions' must give 3 vectors of 3, got {dirs.shape}")
    if origin.shape != (3,):
        raise FormatError(f"{p}: 'space origin' must hold 3 numbers")
    affine = np.eye(4)
    affine[:3, :3] = dirs.T  # row n of 'space directions' is the vector of axis n
    affine[:3, 3] = origin
    flip = np.diag([*_SPACE_TO_RAS[space], 1.0])
    affine = check_affine_from_file(flip @ affine, p)
    if data.dtype.kind not in "iuf":
        raise FormatError(f"{p}: unsupported sample type {data.dtype}")
    return np.ascontiguousarray(data), affine


def write_nrrd(image: Volume | LabelMap, path: str | os.PathLike[str]) -> Path:
    """Write a CT or label map as a gzip-encoded ``.nrrd`` in ``left-posterior-superior`` space.

    LPS is what 3D Slicer and ITK write (see ``docs/coordinate-systems.md``).  Written
    atomically; detached headers (``.nhdr``) are not written.
    """
    import nrrd

    p = Path(path)
    if not p.name.lower().endswith(".nrrd"):
        raise UnsupportedFormatError(f"{p}: NRRD output must end in .nrrd")
    if not isinstance(image, Volume | LabelMap):
        raise InvalidParameterError(f"cannot write a {type(image).__name__} as NRRD")
    lps = LPS_TO_RAS @ np.asarray(image.affine)
    header = {
        "space": "left-posterior-superior",
        "space directions": lps[:3, :3].T,
        "space origin": lps[:3, 3],
        "kinds": ["domain", "domain", "domain"],
        "encoding": "gzip",
    }
    data = np.asarray(image.data)
    return write_with(p, lambda tmp: nrrd.write(str(tmp), data, header, index_order="F"))
