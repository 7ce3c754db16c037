"""Monitor-like display of a frame: log-intensity windowing, bone dark or bright.

A fluoroscopy chain shows (after its own logarithmic or similar processing and automatic
brightness control) a picture in which grey level follows log intensity, i.e. the line integral
``L``.  Like an automatic brightness control that meters the centre of the field, kypho windows
``L`` between two percentiles (model choice: 2nd and 98th) of the pixels in the central half of
the frame (a quarter of its area) that the beam crossed the patient in, lowers the low end by half
the window's width (model choice: keeps the soft tissue around the spine grey), and maps it
linearly to 8 bits:

- ``bone="dark"``: high attenuation dark, as fluoroscopy monitors show by default (more
  attenuation, fewer photons, darker);
- ``bone="bright"``: inverted, like a radiograph on a light box.

Edge enhancement (unsharp masking, as fluoroscopy image processors apply; amount and width are
model choices): ``L' = L + amount * (L - G(L))``, applied to ``L`` clipped to the display window (so that metal
does not throw a wide halo), with ``G`` a Gaussian blur of standard deviation
``sigma_fraction`` of the frame width.  Default amount 1.5, width 1/30 of the frame.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from kypho.errors import InvalidParameterError

__all__ = ["BODY_LINE_INTEGRAL", "Bone", "display_window", "to_display"]

Bone = Literal["dark", "bright"]

#: Pixels whose line integral exceeds this count as "through the patient" for windowing
#: (model choice: about 5 mm of water at 55 keV).
BODY_LINE_INTEGRAL = 0.1


def display_window(
    line_integral: ArrayLike,
    *,
    low_pct: float = 2.0,
    high_pct: float = 98.0,
    central: float = 0.5,
    headroom: float = 0.5,
) -> tuple[float, float]:
    """Window (L_low, L_high) from percentiles of the pixels crossing the patient in the central
    ``central`` fraction (per side) of the frame; the low end is lowered by ``headroom`` times
    the window's width so that the soft tissue around a spine that fills the centre stays grey
    instead of saturating white (model choice, 0.5)."""
    a = np.asarray(line_integral, dtype=np.float64)
    r0 = int(a.shape[0] * (1 - central) / 2)
    c0 = int(a.shape[1] * (1 - central) / 2)
    centre = a[r0 : a.shape[0] - r0, c0 : a.shape[1] - c0]
    body = centre[centre > BODY_LINE_INTEGRAL]
    if body.size < 16:
        body = a[a > BODY_LINE_INTEGRAL]
    if body.size < 16:
        body = a.reshape(-1)
    lo, hi = np.percentile(body, [low_pct, high_pct])
    if not hi > lo:
        hi = lo + 1.0
    lo = max(lo - headroom * (hi - lo), 0.0)
    return float(lo), float(hi)


def to_display(
    frame: object,
    *,
    bone: Bone = "dark",
    window: tuple[float, float] | None = None,
    gamma: float = 1.0,
    edge_enhance: float = 1.5,
    sigma_fraction: float = 1.0 / 30.0,
) -> NDArray[np.uint8]:
    """8-bit monitor picture of a :class:`~kypho.fluoro.Frame` or a line-integral array.

    ``edge_enhance=0`` shows the plain windowed line integrals.
    """
    if bone not in ("dark", "bright"):
        raise InvalidParameterError(f"bone must be 'dark' or 'bright', got {bone!r}")
    if not gamma > 0:
        raise InvalidParameterError(f"gamma must be positive, got {gamma!r}")
    a = np.asarray(getattr(frame, "line_integral", frame), dtype=np.float64)
    if a.ndim != 2:
        raise InvalidParameterError(f"a frame must be 2-D, got shape {a.shape}")
    if not edge_enhance >= 0:
        raise InvalidParameterError(f"edge enhancement must be >= 0, got {edge_enhance!r}")
    lo, hi = window if window is not None else display_window(a)
    if edge_enhance > 0:
        from scipy.ndimage import gaussian_filter

        # Enhance the windowed picture, not the raw line integrals: a steel trocar (L ~ 10 over
        # a 3 mm shaft) would otherwise throw a halo several centimetres wide around itself.
        a = np.clip(a, lo, hi)
        sigma = max(sigma_fraction * a.shape[1], 0.5)
        a = a + edge_enhance * (a - gaussian_filter(a, sigma, mode="nearest"))
    x = np.clip((a - lo) / (hi - lo), 0.0, 1.0)
    if bone == "dark":
        x = 1.0 - x
    x = x**gamma
    return np.round(x * 255.0).astype(np.uint8)
