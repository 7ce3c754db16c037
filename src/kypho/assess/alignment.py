"""Sagittal alignment: wedge angles, local kyphosis over fractures, Cobb angle, column shortening.

Angles are measured between endplate lines of the six-point morphometry (the line through the
posterior and anterior landmarks of an endplate, in the vertebra's mid-sagittal plane), projected
onto the patient's sagittal plane (normal = the mean right axis of the vertebrae involved).  The
sign convention is **kyphosis positive**: the upper endplate's normal tilted anteriorly relative
to the lower one's.

- Local kyphotic angle of a fractured level: superior endplate of the vertebra above to the
  inferior endplate of the vertebra below (the fractured level's own endplate where a neighbour
  is missing).
- Cobb angle of the thoracolumbar segment: superior endplate of the most cranial to the
  inferior endplate of the most caudal measured vertebra of :data:`THORACOLUMBAR_LEVELS`.
- Column height loss: sum over fractured vertebrae of the mean loss of Ha and Hp (the rims,
  which carry the column; a biconcave middle does not shorten it) against the expected heights.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from kypho.assess.model import LocalKyphosis, SegmentAlignment
from kypho.core.levels import LEVELS, level_range

__all__ = [
    "THORACOLUMBAR_LEVELS",
    "EndplateLines",
    "kyphotic_angle_deg",
    "segment_alignment",
]

#: Levels of the thoracolumbar segment for its Cobb angle.  **Model choice**: T10-L2 (no source
#: was read for the exact limits of the thoracolumbar junction; the phantom anchors its
#: alignment at T11-L1, see docs/references/assess.md).
THORACOLUMBAR_LEVELS: tuple[str, ...] = level_range("T10", "L2")


@dataclass(frozen=True)
class EndplateLines:
    """Endplate normals of one measured vertebra (RAS+ unit vectors) and its right axis."""

    superior_normal: tuple[float, float, float]
    inferior_normal: tuple[float, float, float]
    right: tuple[float, float, float]


def kyphotic_angle_deg(lower_normal: ArrayLike, upper_normal: ArrayLike, right: ArrayLike) -> float:
    """Signed sagittal angle from a lower endplate normal to an upper one, kyphosis positive.

    Both normals are projected onto the plane perpendicular to ``right`` (the sagittal plane);
    the angle is positive when the upper normal is tilted anteriorly relative to the lower
    (rotation about the patient's left axis).
    """
    left = -np.asarray(right, dtype=float)
    left = left / np.linalg.norm(left)
    n1 = np.asarray(lower_normal, dtype=float)
    n2 = np.asarray(upper_normal, dtype=float)
    n1 = n1 - (n1 @ left) * left
    n2 = n2 - (n2 @ left) * left
    return float(np.degrees(np.arctan2(left @ np.cross(n1, n2), n1 @ n2)))


def _mean_right(lines: Sequence[EndplateLines]) -> np.ndarray:
    r = np.mean([np.asarray(x.right) for x in lines], axis=0)
    return r / np.linalg.norm(r)


def segment_alignment(
    lines: Mapping[str, EndplateLines],
    fractured: Sequence[str],
    height_loss_mm: Mapping[str, tuple[float, float, float]],
) -> SegmentAlignment:
    """Alignment of the measured segment.

    Parameters
    ----------
    lines : mapping
        Level -> endplate normals of each measured vertebra.
    fractured : sequence of str
        Levels graded Genant 1 or worse.
    height_loss_mm : mapping
        Level -> (expected - measured) of Ha, Hm, Hp for the fractured levels.
    """
    measured = [lv for lv in LEVELS if lv in lines]

    def cobb(upper: str, lower: str) -> float:
        r = _mean_right([lines[upper], lines[lower]])
        return kyphotic_angle_deg(lines[lower].inferior_normal, lines[upper].superior_normal, r)

    tl = [lv for lv in measured if lv in THORACOLUMBAR_LEVELS]
    cobb_tl = cobb(tl[0], tl[-1]) if len(tl) >= 2 else None
    seg = cobb(measured[0], measured[-1]) if len(measured) >= 2 else None
    local = []
    for lv in fractured:
        if lv not in lines:
            continue
        i = LEVELS.index(lv)
        above = LEVELS[i - 1] if i > 0 and LEVELS[i - 1] in lines else lv
        below = LEVELS[i + 1] if i + 1 < len(LEVELS) and LEVELS[i + 1] in lines else lv
        local.append(LocalKyphosis(lv, above, below, cobb(above, below)))
    col = sum(
        0.5 * (height_loss_mm[lv][0] + height_loss_mm[lv][2])
        for lv in fractured
        if lv in height_loss_mm
    )
    ant = sum(float(height_loss_mm[lv][0]) for lv in fractured if lv in height_loss_mm)
    return SegmentAlignment(
        cobb_angle_deg=cobb_tl,
        cobb_upper=tl[0] if cobb_tl is not None else None,
        cobb_lower=tl[-1] if cobb_tl is not None else None,
        segment_cobb_angle_deg=seg,
        segment_upper=measured[0] if seg is not None else None,
        segment_lower=measured[-1] if seg is not None else None,
        local_kyphosis=tuple(local),
        column_height_loss_mm=col,
        anterior_column_loss_mm=ant,
    )
