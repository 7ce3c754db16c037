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
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kypho.core.atomic import write_with
from kypho.core.volume import LabelMap, Volume
from kypho.errors import (
    FormatError,
    InputFileError,
    InvalidParameterError,
    UnsupportedFormatError,
)
from kypho.io._common import LPS_TO_RAS, check_affine_from_file, require_file

__all__ = ["NRRD_SUFFIXES", "is_nrrd_path", "read_nrrd", "write_nrrd"]

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


def read_nrrd(path: str | os.PathLike[str]) -> tuple[NDArray[Any], NDArray[np.float64]]:
    """Voxel array ``(i, j, k)`` and voxel->RAS+ affine of a 3-D NRRD file.

    Raises
    ------
    InputFileError
        The file (or an ``.nhdr``'s detached data file) does not exist.
    UnsupportedFormatError
        The ``space`` is not anatomical (RAS, LAS, LPS).
    FormatError
        Corrupt or truncated file, not 3-D, missing ``space directions``, NaN or zero vectors.
    """
    import nrrd

    p = require_file(path)
    if p.is_dir():
        raise UnsupportedFormatError(f"{p}: is a folder, not an NRRD file")
    try:
        data, header = nrrd.read(str(p), index_order="F")
    except FileNotFoundError as exc:
        raise InputFileError(f"{p}: its data file {exc.filename} does not exist") from None
    except (nrrd.NRRDError, OSError, EOFError, ValueError, zlib.error, KeyError, TypeError) as exc:
        raise FormatError(f"{p}: not a readable NRRD file ({type(exc).__name__}: {exc})") from None
    data = np.asarray(data)
    if data.ndim == 4 and data.shape[0] == 1:
        data = data[0]
        dirs_raw = np.asarray(header.get("space directions"), dtype=float)[1:]
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
    dirs = np.asarray(dirs_raw, dtype=float)
    if dirs.shape != (3, 3):
        raise FormatError(f"{p}: 'space directions' must give 3 vectors of 3, got {dirs.shape}")
    origin = np.asarray(header.get("space origin", np.zeros(3)), dtype=float).reshape(-1)
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
