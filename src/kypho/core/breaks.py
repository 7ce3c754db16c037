"""A hole in a vertebral body's cortical shell, as a simple geometric description.

The phantom generator records the breaks it cuts (:mod:`kypho.core.truth`), a synthetic body
for the simulator is given them (:func:`kypho.sim.synthetic_body`), and the simulator opens them
as exits for cement (:mod:`kypho.sim.bone`).  Coordinates are RAS+ mm.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

__all__ = ["BREAK_LOCATIONS", "BreakLocation", "CorticalBreak"]

BreakLocation = Literal[
    "superior_endplate",
    "inferior_endplate",
    "posterior_wall",
    "left_wall",
    "right_wall",
    "anterior_wall",
]
#: Where a break can lie (the values of :attr:`CorticalBreak.location`).
BREAK_LOCATIONS: tuple[str, ...] = get_args(BreakLocation)

Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class CorticalBreak:
    """A hole in the cortical shell (fractured endplate, posterior or lateral wall)."""

    location: BreakLocation
    centre_ras_mm: Vec3
    radius_mm: float
