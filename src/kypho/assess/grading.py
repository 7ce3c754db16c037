"""Expected heights, Genant semi-quantitative grade, fracture type and borderline cases.

**Expected heights.**  A vertebra's heights without fracture are estimated from the normal
vertebrae around it in the same patient: each reference (a measured, ungraded vertebra within
:data:`REFERENCE_REACH` levels) contributes its (Ha, Hm, Hp) scaled by the ratio of the
published norms of the two levels (:mod:`kypho.anatomy.norms`), and the median over the
references is taken.  Grading is repeated with fractured vertebrae removed from the references
until the grades settle.  With no normal neighbour, Ha and Hm are expected from the vertebra's own
Hp times the normal Ha/Hp and Hm/Hp of its level, and Hp from the population norm (reported as
such, and always borderline when the grade rests on Hp).

**Grade.**  Genant et al. 1993 (as described by Wáng, QIMS 2019): grade 0 below 20 % height
reduction, 1 for 20-25 %, 2 for 25-40 %, 3 above 40 %, applied to the largest loss of Ha, Hm and
Hp.

**Type** (Tromsø figure after Lenchik et al.: wedge = anterior part deformed, biconcave = middle,
crush/compression = the whole body): *crush* when the posterior height shares the loss
(:data:`CRUSH_POSTERIOR_SHARE`), *biconcave* when the middle loss exceeds the anterior one,
*wedge* otherwise.  The share is a **model choice**.  A grade-0 vertebra whose loss is within
the measurement uncertainty of the 20 % threshold (borderline) keeps the name of its deformity
pattern, so a reader sees which kind of deformity is borderline.

**Borderline.**  A grade is flagged borderline when the loss lies within its measurement
uncertainty of a grade threshold; the uncertainty combines the height uncertainty of this
vertebra and of its references (:data:`HEIGHT_UNCERTAINTY_VOXELS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from kypho.anatomy.norms import level_norm
from kypho.core.levels import LEVELS

__all__ = [
    "CRUSH_POSTERIOR_SHARE",
    "GENANT_THRESHOLDS_PCT",
    "HEIGHT_UNCERTAINTY_VOXELS",
    "REFERENCE_REACH",
    "Grading",
    "classify_type",
    "genant_grade",
    "grade_vertebrae",
]

#: Genant SQ thresholds of percent height reduction: grade 1 from 20 %, 2 from 25 %, 3 above
#: 40 % (Genant 1993 via Wáng YXJ, Quant Imaging Med Surg 2019, doi:10.21037/qims.2019.02.04).
GENANT_THRESHOLDS_PCT = (20.0, 25.0, 40.0)
#: Farthest reference level (levels away) for expected heights (model choice).
REFERENCE_REACH = 2
#: Crush when the posterior loss is at least this share of the largest loss (model choice).
CRUSH_POSTERIOR_SHARE = 0.6
#: Standard uncertainty of one measured height, in voxel steps along the body axis, used for the
#: borderline band (two uncertainties, combined with the references').  **Model choice**, set
#: with the phantom benchmark (``benchmarks/assess.py`` at 1 mm: median absolute height error
#: 0.2 voxel, 95th percentile 0.7 voxel): with 0.15 every misgraded vertebra of the 235-vertebra
#: cohort was flagged borderline while about 15 % of all were; 0.3 (the error's standard
#: deviation) flags mid-band grade-2 wedges too.
HEIGHT_UNCERTAINTY_VOXELS = 0.15
#: Extra relative uncertainty of an expected height taken from a reference vertebra: normal
#: neighbours differ from the level-to-level norm trend (model choice, 2 %).
REFERENCE_SPREAD = 0.02


@dataclass(frozen=True)
class Grading:
    """Grade of one vertebra against its expected heights."""

    expected_mm: tuple[float, float, float]
    expected_from: str
    loss_pct: tuple[float, float, float]
    max_loss_pct: float
    grade: int
    borderline: bool
    borderline_note: str
    fracture_type: str
    references: tuple[str, ...]


def genant_grade(loss_pct: float) -> int:
    """Genant grade of a percent height reduction (``[20, 25)`` 1, ``[25, 40]`` 2, ``> 40`` 3)."""
    t1, t2, t3 = GENANT_THRESHOLDS_PCT
    if loss_pct < t1:
        return 0
    if loss_pct < t2:
        return 1
    if loss_pct <= t3:
        return 2
    return 3


def classify_type(loss_pct: tuple[float, float, float], grade: int) -> str:
    """Fracture type from the losses of (Ha, Hm, Hp): wedge, biconcave, crush, or none."""
    if grade == 0:
        return "none"
    la, lm, lp = loss_pct
    top = max(la, lm, lp)
    if lp >= CRUSH_POSTERIOR_SHARE * top:
        return "crush"
    if lm > la:
        return "biconcave"
    return "wedge"


def _scaled(ref: str, level: str, heights: tuple[float, float, float]) -> np.ndarray:
    n_ref, n_lv = level_norm(ref), level_norm(level)
    h = np.asarray(heights, dtype=float)
    if n_ref is None or n_lv is None:
        return h
    return h * np.asarray(n_lv.heights_mm) / np.asarray(n_ref.heights_mm)


def _references(level: str, normal: set[str]) -> list[str]:
    i = LEVELS.index(level)
    out = []
    for d in range(1, REFERENCE_REACH + 1):
        for j in (i - d, i + d):
            if 0 <= j < len(LEVELS) and LEVELS[j] in normal:
                out.append(LEVELS[j])
    return out


def _grade_one(
    level: str,
    h: tuple[float, float, float],
    heights: Mapping[str, tuple[float, float, float]],
    normal: set[str],
    sigma_mm: Mapping[str, float],
) -> Grading:
    refs = _references(level, normal - {level})
    if refs:
        # nearest references first; use those at the smallest distance on each side
        scaled = np.array([_scaled(r, level, heights[r]) for r in refs])
        expected = np.median(scaled, axis=0)
        source = "adjacent levels " + ", ".join(sorted(refs, key=LEVELS.index))
        ref_sigma = float(np.sqrt(np.mean([sigma_mm[r] ** 2 for r in refs]) / len(refs)))
        ref_rel = REFERENCE_SPREAD
        hp_from_norm = False
    else:
        norm = level_norm(level)
        if norm is None:
            return Grading(
                expected_mm=(float("nan"),) * 3,  # type: ignore[arg-type]
                expected_from="none: no normal adjacent vertebra and no published norm",
                loss_pct=(float("nan"),) * 3,  # type: ignore[arg-type]
                max_loss_pct=float("nan"),
                grade=-1,
                borderline=True,
                borderline_note="not graded: nothing to compare with",
                fracture_type="none",
                references=(),
            )
        hp = h[2]
        expected = np.array(
            [
                hp * norm.ha_hp,
                hp * norm.height_middle_mm / norm.height_posterior_mm,
                norm.height_posterior_mm,
            ]
        )
        source = f"published norms for {level} (no normal adjacent vertebra measured)"
        ref_sigma = sigma_mm[level]
        ref_rel = 0.0
        hp_from_norm = True
    hv = np.asarray(h, dtype=float)
    loss = 100.0 * (1.0 - hv / expected)
    k = int(np.argmax(loss))
    top = float(loss[k])
    grade = genant_grade(top)
    # uncertainty of the graded loss (percentage points)
    rel = np.hypot(sigma_mm[level] / hv[k], np.hypot(ref_sigma / expected[k], ref_rel))
    band = 100.0 * 2.0 * float(rel)  # about two standard uncertainties
    near = [t for t in GENANT_THRESHOLDS_PCT if abs(top - t) <= band]
    borderline = bool(near)
    note = ""
    if near:
        note = (
            f"{top:.1f} % loss is within {band:.1f} percentage points (measurement uncertainty) "
            f"of the {near[0]:g} % threshold"
        )
    if hp_from_norm and k == 2 and grade > 0:
        borderline = True
        note = (note + "; " if note else "") + (
            "posterior height graded against the population norm only"
        )
    losses = (float(loss[0]), float(loss[1]), float(loss[2]))
    ftype = classify_type(losses, grade)
    if grade == 0 and borderline and top >= GENANT_THRESHOLDS_PCT[0] - band:
        # within the uncertainty of grade 1: name the deformity pattern
        ftype = classify_type(losses, 1)
    return Grading(
        expected_mm=(float(expected[0]), float(expected[1]), float(expected[2])),
        expected_from=source,
        loss_pct=(float(loss[0]), float(loss[1]), float(loss[2])),
        max_loss_pct=top,
        grade=grade,
        borderline=borderline,
        borderline_note=note,
        fracture_type=ftype,
        references=tuple(refs),
    )


def grade_vertebrae(
    heights: Mapping[str, tuple[float, float, float]],
    sigma_mm: Mapping[str, float],
    *,
    max_rounds: int = 6,
) -> dict[str, Grading]:
    """Grade every measured vertebra.

    Parameters
    ----------
    heights : mapping
        Level -> measured (Ha, Hm, Hp) in mm.
    sigma_mm : mapping
        Level -> standard uncertainty of one height (mm).
    max_rounds : int
        Rounds of re-grading with fractured vertebrae removed from the references.

    Returns
    -------
    dict
        Level -> :class:`Grading`; a grade of -1 means nothing to compare with.
    """
    normal = set(heights)
    result: dict[str, Grading] = {}
    for _ in range(max_rounds):
        result = {lv: _grade_one(lv, h, heights, normal, sigma_mm) for lv, h in heights.items()}
        new_normal = {lv for lv, g in result.items() if g.grade == 0}
        if not new_normal:
            break
        if new_normal == normal:
            break
        normal = new_normal
    return result
