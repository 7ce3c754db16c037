"""What to plan: :class:`PlanSpec`, the planner's options with their defaults in one place."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from kypho.errors import InvalidParameterError
from kypho.plan.paths import gauge_outer_diameter_mm

__all__ = ["PlanSpec"]


@dataclass(frozen=True)
class PlanSpec:
    """Options of :func:`kypho.plan.plan_level`, validated once; vary them with :meth:`with_`.

    Parameters
    ----------
    gauge : int
        Trocar gauge (11 or 8 are typical; 10, 13 and 15 known, see :mod:`kypho.plan.paths`).
    unipedicular : bool
        One path reaching across the midline instead of one per pedicle.
    side : {'left', 'right'} or None
        Side of a unipedicular path (default: the side with the larger clearance).
    n_options : int
        Ranked alternatives kept per side (1-10).
    """

    gauge: int = 11
    unipedicular: bool = False
    side: Literal["left", "right"] | None = None
    n_options: int = 3

    def __post_init__(self) -> None:
        if isinstance(self.gauge, bool) or not isinstance(self.gauge, int):
            raise InvalidParameterError(f"gauge must be an integer, got {self.gauge!r}")
        gauge_outer_diameter_mm(self.gauge)  # raises for an unknown gauge
        if self.side not in (None, "left", "right"):
            raise InvalidParameterError(f"side must be left or right, got {self.side!r}")
        if isinstance(self.n_options, bool) or not isinstance(self.n_options, int) or not (
            1 <= self.n_options <= 10
        ):
            raise InvalidParameterError(f"n_options must be 1-10, got {self.n_options!r}")

    @property
    def mode(self) -> str:
        """``"unipedicular"`` or ``"bipedicular"``."""
        return "unipedicular" if self.unipedicular else "bipedicular"

    def with_(self, **changes: Any) -> PlanSpec:
        """A copy with some options changed (validated again)."""
        return replace(self, **changes) if changes else self
