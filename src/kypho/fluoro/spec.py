"""What to image: :class:`FluoroSpec`, one frame's options with their defaults in one place."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from kypho.errors import InvalidParameterError
from kypho.fluoro.attenuation import DEFAULT_ENERGY_KEV
from kypho.fluoro.carm import VIEW_NAMES
from kypho.fluoro.display import Bone

__all__ = ["FluoroSpec"]


@dataclass(frozen=True)
class FluoroSpec:
    """Options of one simulated C-arm frame (:func:`kypho.fluoro.outputs.render_view`).

    Parameters
    ----------
    view : str
        One of :data:`kypho.fluoro.VIEW_NAMES` (``ap``, ``pa``, ``lateral``...).
    size : int
        Frame size in pixels (square, 16-2048).
    energy_kev : float
        Effective beam energy (40-100 keV).
    bone : {'dark', 'bright'}
        Monitor mapping.
    primary_deg, secondary_deg : float or None
        DICOM positioner angles overriding the named view's (LAO +, CRAN +).
    outlines : bool
        Draw the labelled vertebrae's outlines on the picture.
    """

    view: str = "ap"
    size: int = 256
    energy_kev: float = DEFAULT_ENERGY_KEV
    bone: Bone = "dark"
    primary_deg: float | None = None
    secondary_deg: float | None = None
    outlines: bool = True

    def __post_init__(self) -> None:
        if self.view not in VIEW_NAMES:
            raise InvalidParameterError(
                f"unknown view {self.view!r}: expected one of {', '.join(VIEW_NAMES)}"
            )
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not (
            16 <= self.size <= 2048
        ):
            raise InvalidParameterError(f"frame size must be 16-2048 pixels, got {self.size!r}")
        e = self.energy_kev
        if not (isinstance(e, int | float) and math.isfinite(e) and 40.0 <= e <= 100.0):
            raise InvalidParameterError(f"beam energy must be 40-100 keV, got {e!r}")
        if self.bone not in ("dark", "bright"):
            raise InvalidParameterError(f"bone must be 'dark' or 'bright', got {self.bone!r}")
        for name, what, lim in (("primary_deg", "primary", 180.0),
                                ("secondary_deg", "secondary", 90.0)):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, int | float) and math.isfinite(v)
                                      and -lim <= v <= lim):
                raise InvalidParameterError(
                    f"{what} angle must be within -{lim:g}..{lim:g} degrees, got {v!r}")

    def with_(self, **changes: Any) -> FluoroSpec:
        """A copy with some options changed (validated again)."""
        return replace(self, **changes) if changes else self
