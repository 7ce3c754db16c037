"""Trocar paths: what a planned (or user-given) needle path is, its angles, lengths and gauge.

Gauges: outer diameters from :data:`kypho.fluoro.instruments.GAUGE_OUTER_DIAMETER_MM` (Stubs /
Birmingham wire gauge, the scale needle gauges follow; ISO 9626 tabulates the same nominal outer
diameters): 11 G 3.048 mm, 8 G 4.191 mm.  Vertebroplasty trocars are 11-13 G (Provenzano MJ et
al., AJNR 2004;25:1286-90); kyphoplasty access cannula gauges were not found in the sources read
(clinical-anchors.md 3a), so 8 G is offered as the larger option without a cited device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from kypho.anatomy.frame import VertebraFrame
from kypho.errors import InvalidParameterError
from kypho.fluoro.instruments import GAUGE_OUTER_DIAMETER_MM, gauge_outer_diameter_mm

__all__ = [
    "GAUGE_OUTER_DIAMETER_MM",
    "Approach",
    "Margins",
    "TrocarPath",
    "Verdict",
    "gauge_outer_diameter_mm",
    "path_angles",
]

Approach = Literal["transpedicular", "extrapedicular", "user"]
Verdict = Literal["safe", "caution", "unsafe"]
Vec3 = tuple[float, float, float]


def _vec(v: ArrayLike, what: str) -> Vec3:
    a = np.asarray(v, dtype=float).reshape(-1)
    if a.shape != (3,) or not np.all(np.isfinite(a)):
        raise InvalidParameterError(f"{what} must be three finite numbers (RAS mm), got {v!r}")
    return (float(a[0]), float(a[1]), float(a[2]))


def path_angles(frame: VertebraFrame, direction_ras: ArrayLike, side: str) -> tuple[float, float]:
    """(transverse, sagittal) angles of a direction in a vertebra's frame, degrees.

    Transverse: convergence towards the midline in the axial plane, positive medial (for a
    midline or unknown side, positive towards the patient's left).  Sagittal: positive when the
    path descends (caudal) as it goes anterior.
    """
    d = frame.direction_to_local(direction_ras)
    sgn = -1.0 if side == "left" else 1.0
    transverse = math.degrees(math.atan2(-sgn * d[0], d[1]))
    sagittal = math.degrees(math.atan2(-d[2], math.hypot(d[0], d[1])))
    return transverse, sagittal


@dataclass(frozen=True)
class Margins:
    """Clearances of a trocar (its radius already subtracted), mm; negative = breached.

    ``None`` where a wall does not apply (e.g. pedicle walls of an extrapedicular path).
    """

    medial_wall_mm: float | None
    lateral_wall_mm: float | None
    inferior_wall_mm: float | None
    superior_wall_mm: float | None
    canal_mm: float
    tip_to_anterior_cortex_mm: float | None
    min_bone_mm: float

    def smallest(self) -> float:
        vals = [
            v for v in (self.medial_wall_mm, self.lateral_wall_mm, self.inferior_wall_mm,
                        self.superior_wall_mm, self.canal_mm) if v is not None
        ]
        return float(min(vals)) if vals else float("nan")


@dataclass(frozen=True)
class Breach:
    """Where the trocar's wall leaves the bone (or enters the canal) along the path."""

    wall: str  # canal, medial, lateral, inferior, superior, anterior cortex, endplate...
    depth_mm: float  # distance of the first breached point from the entry point, along the path
    point_ras_mm: Vec3
    depth_beyond_mm: float  # how far the trocar's wall lies beyond the surface there


@dataclass(frozen=True)
class TrocarPath:
    """A straight trocar path into a vertebra.

    Parameters
    ----------
    level : str
    side : {'left', 'right'}
        Pedicle (or side of entry) used.
    approach : {'transpedicular', 'extrapedicular', 'user'}
    entry_ras_mm : (3,) float
        Where the trocar meets the posterior bone (docking point).
    target_ras_mm : (3,) float
        Planned tip position.
    gauge : int
        Needle gauge (outer diameter from :func:`gauge_outer_diameter_mm`).
    skin_ras_mm : (3,) float or None
        Where the line crosses the skin (``None`` when the CT has no skin on that line).
    transverse_angle_deg, sagittal_angle_deg : float
        See :func:`path_angles`.
    margins : Margins or None
    breaches : tuple of Breach
    verdict : {'safe', 'caution', 'unsafe'} or None
    reasons : tuple of str
    score : float
        Search score (mm), higher is better.
    """

    level: str
    side: str
    approach: Approach
    entry_ras_mm: Vec3
    target_ras_mm: Vec3
    gauge: int = 11
    skin_ras_mm: Vec3 | None = None
    transverse_angle_deg: float = 0.0
    sagittal_angle_deg: float = 0.0
    margins: Margins | None = None
    breaches: tuple[Breach, ...] = ()
    verdict: Verdict | None = None
    reasons: tuple[str, ...] = ()
    score: float = float("nan")
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        e = _vec(self.entry_ras_mm, "entry point")
        t = _vec(self.target_ras_mm, "target point")
        if math.dist(e, t) < 1.0:
            raise InvalidParameterError(
                f"entry {e} and target {t} are less than 1 mm apart: a path needs a length"
            )
        gauge_outer_diameter_mm(self.gauge)
        object.__setattr__(self, "entry_ras_mm", e)
        object.__setattr__(self, "target_ras_mm", t)
        if self.skin_ras_mm is not None:
            object.__setattr__(self, "skin_ras_mm", _vec(self.skin_ras_mm, "skin point"))

    @property
    def direction_ras(self) -> NDArray[np.float64]:
        """Unit vector from entry to target."""
        d = np.subtract(self.target_ras_mm, self.entry_ras_mm)
        return d / np.linalg.norm(d)

    @property
    def outer_diameter_mm(self) -> float:
        return gauge_outer_diameter_mm(self.gauge)

    @property
    def radius_mm(self) -> float:
        return self.outer_diameter_mm / 2

    @property
    def bone_length_mm(self) -> float:
        """Entry (posterior bone) to target."""
        return float(math.dist(self.entry_ras_mm, self.target_ras_mm))

    @property
    def skin_length_mm(self) -> float | None:
        """Skin to target (``None`` without a skin point)."""
        if self.skin_ras_mm is None:
            return None
        return float(math.dist(self.skin_ras_mm, self.target_ras_mm))

    @property
    def name(self) -> str:
        return f"{self.level}-{self.side}"
