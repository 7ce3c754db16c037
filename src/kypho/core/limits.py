"""Budgets kypho checks *before* it allocates memory or parses what a file or parameter asks for.

A header can claim any size and a parameter can ask for any amount of work; kypho compares the
claim with these budgets first and refuses with a message that names the size and the budget,
instead of allocating and failing (or taking the machine down).  Every value here is a model
choice, not a property of any file format: large enough for every real spine CT kypho is meant
for, small enough that a tiny hostile file cannot exhaust a laptop's memory.  See
``docs/hardening.md``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from kypho.errors import InputFileError, InvalidParameterError

__all__ = [
    "MAX_IMAGE_VOXELS",
    "MEMORY_BUDGET_BYTES",
    "check_image_voxels",
    "check_memory",
    "format_bytes",
]

#: Largest image, in voxels, any reader accepts.  Model choice: 2**29 = 512 x 512 x 2048, a
#: whole-body CT at full in-plane resolution and 1 mm slices (its float32 HU copy is 2 GiB).
#: kypho's finest phantoms (0.5 mm, T10-L5 with trunk) hold about 1.5 * 10**8 voxels.
MAX_IMAGE_VOXELS = 1 << 29

#: Largest single working array kypho allocates on behalf of a file or a parameter, bytes.
#: Model choice: the float32 copy of a :data:`MAX_IMAGE_VOXELS` image (2 GiB).
MEMORY_BUDGET_BYTES = 4 * MAX_IMAGE_VOXELS


def format_bytes(n: float) -> str:
    """``1.5 GiB``, ``12 MiB``, ``300 bytes`` (binary prefixes)."""
    n = float(n)
    if not math.isfinite(n):
        return f"{n} bytes"
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= size:
            value = n / size
            return f"{value:.3g} {unit}" if value < 1e6 else f"{value:.3e} {unit}"
    return f"{int(n)} bytes"


def check_image_voxels(shape: Iterable[int], itemsize: int, what: str) -> int:
    """Number of voxels of ``shape``; raise :class:`InputFileError` above the budget.

    ``shape`` comes straight from a header (Python ints, so no overflow).  The message names
    the shape, what the voxels would take in memory and the budget.
    """
    dims = [int(n) for n in shape]
    n = math.prod(dims)
    if n > MAX_IMAGE_VOXELS:
        shown = " x ".join(str(d) for d in dims)
        raise InputFileError(
            f"{what}: image of {shown} = {n:,} voxels would need {format_bytes(n * itemsize)} as "
            f"stored ({format_bytes(4 * n)} as float32 HU); kypho's budget is "
            f"{MAX_IMAGE_VOXELS:,} voxels ({format_bytes(4 * MAX_IMAGE_VOXELS)} as float32)"
        )
    return n


def check_memory(nbytes: float, what: str) -> None:
    """Raise :class:`InvalidParameterError` when ``what`` would need more than the budget.

    For work sized by parameters (a grid around a trajectory, a stack of frames): the message
    names the memory it would need and :data:`MEMORY_BUDGET_BYTES`.
    """
    if not math.isfinite(float(nbytes)) or nbytes > MEMORY_BUDGET_BYTES:
        raise InvalidParameterError(
            f"{what} would need {format_bytes(nbytes)} of memory; kypho's budget is "
            f"{format_bytes(MEMORY_BUDGET_BYTES)}"
        )
