"""The flat-panel detector: pixel grid, pitch, and the frame-size memory guard.

Pixel convention: pixel ``(row, col)`` has its centre at integer indices; row 0 is the top of the
image, col 0 its left edge, as in every image array in kypho.

Defaults (model choices, not taken from a cited device specification): a 300 mm x 300 mm active
area, the size class of mobile flat-panel C-arm detectors, read out at 256 x 256 pixels
(1.17 mm pitch) or 512 x 512 pixels (0.59 mm pitch).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from kypho.errors import InvalidParameterError

__all__ = [
    "BYTES_PER_PIXEL",
    "DEFAULT_DETECTOR_SIZE_MM",
    "DEFAULT_FRAME_SIZE",
    "FRAME_MEMORY_LIMIT_BYTES",
    "Detector",
    "FrameTooLargeError",
    "frame_memory_bytes",
]

#: Side of the square active area (mm); model choice, see module docstring.
DEFAULT_DETECTOR_SIZE_MM = 300.0
#: Default frame size in pixels (square).
DEFAULT_FRAME_SIZE = 256
#: Frames needing more working memory than this are refused (1 GiB).
FRAME_MEMORY_LIMIT_BYTES = 1 << 30
#: Working memory per detector pixel while rendering: float32 frame (4) + float64 per-ray start
#: and slope of two coordinates (32) + weight (8) + two int32 plane bounds (8) + display copy (4).
BYTES_PER_PIXEL = 56


class FrameTooLargeError(InvalidParameterError):
    """A frame size would need more memory than kypho allows."""


def frame_memory_bytes(rows: int, cols: int) -> int:
    """Working memory (bytes) a ``rows`` x ``cols`` frame needs while rendering."""
    return int(rows) * int(cols) * BYTES_PER_PIXEL


@dataclass(frozen=True)
class Detector:
    """A flat detector: ``rows`` x ``cols`` pixels over ``height_mm`` x ``width_mm``.

    Parameters
    ----------
    rows, cols : int
        Pixel counts (image height and width).
    height_mm, width_mm : float
        Active area at the detector plane (mm).
    """

    rows: int = DEFAULT_FRAME_SIZE
    cols: int = DEFAULT_FRAME_SIZE
    height_mm: float = DEFAULT_DETECTOR_SIZE_MM
    width_mm: float = DEFAULT_DETECTOR_SIZE_MM

    def __post_init__(self) -> None:
        for name in ("rows", "cols"):
            v = getattr(self, name)
            if isinstance(v, bool) or int(v) != v or int(v) < 1:
                raise InvalidParameterError(f"detector {name} must be a positive integer, got {v!r}")
            object.__setattr__(self, name, int(v))
        for name in ("height_mm", "width_mm"):
            v = float(getattr(self, name))
            if not (v > 0 and v < 1e5):
                raise InvalidParameterError(f"detector {name} must be positive, got {v!r}")
            object.__setattr__(self, name, v)
        need = frame_memory_bytes(self.rows, self.cols)
        if need > FRAME_MEMORY_LIMIT_BYTES:
            raise FrameTooLargeError(
                f"a {self.rows}x{self.cols} frame would need about {need / 2**30:.1f} GiB of "
                f"working memory ({BYTES_PER_PIXEL} bytes per pixel); the limit is "
                f"{FRAME_MEMORY_LIMIT_BYTES / 2**30:.1f} GiB"
            )

    @property
    def pixel_pitch_mm(self) -> tuple[float, float]:
        """(row spacing, column spacing) at the detector plane in mm (DICOM ImagerPixelSpacing)."""
        return (self.height_mm / self.rows, self.width_mm / self.cols)

    def with_size(self, size: int) -> Detector:
        """Same active area read out at ``size`` x ``size`` pixels."""
        if isinstance(size, bool) or int(size) != size or int(size) < 1:
            raise InvalidParameterError(f"frame size must be a positive integer, got {size!r}")
        return replace(self, rows=int(size), cols=int(size))
