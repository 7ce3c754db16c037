"""``assess(case)``: every labelled vertebra measured, graded and flagged.

The measurements (body, frame, six-point heights, trabecular density) come from the case's
anatomy (:class:`kypho.anatomy.SpineAnatomy`), computed once and shared with the other stages;
this module grades, aligns, screens and flags them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from kypho.anatomy import LANDMARK_INSET_MM, SpineAnatomy, step_along_mm
from kypho.assess.alignment import EndplateLines, segment_alignment
from kypho.assess.density import density_screen
from kypho.assess.flags import RETROPULSION_FLAG_MM, candidates
from kypho.assess.grading import HEIGHT_UNCERTAINTY_VOXELS, grade_vertebrae
from kypho.assess.model import MEASURED, Assessment, VertebraAssessment
from kypho.core.case import Case
from kypho.core.levels import LEVELS
from kypho.core.outputs import DISCLAIMER
from kypho.errors import NotMeasurableError

__all__ = ["DISCLAIMER", "assess"]

Progress = Callable[[float, str], None]



def _not_measurable(level: str, reason: str, label_id: int | None) -> VertebraAssessment:
    return VertebraAssessment(level=level, status=f"not measurable: {reason}", label_id=label_id)


def assess(
    case: Case,
    *,
    anatomy: SpineAnatomy | None = None,
    progress: Progress | None = None,
) -> Assessment:
    """Measure, grade and flag every labelled vertebra of ``case``.

    Parameters
    ----------
    case : Case
        CT and vertebra labels (kypho ids) on the same grid.
    anatomy : SpineAnatomy, optional
        The case's anatomy when already measured (default :meth:`SpineAnatomy.of`, shared
        with the other stages).
    progress : callable, optional
        Called as ``progress(fraction_done, message)``.

    Returns
    -------
    Assessment
        One :class:`VertebraAssessment` per level from the most cranial to the most caudal
        label (levels missing in between included), the segment's alignment, the L1 density
        screen and the candidate levels.

    Raises
    ------
    NoLabelsError
        If the case has no label map or no vertebra label.
    """
    report = progress or (lambda f, m: None)
    spine = anatomy if anatomy is not None else SpineAnatomy.of(case)
    if spine.case is not case:
        raise ValueError("assess: the anatomy given was measured on another case")
    labels = case.labels
    assert labels is not None
    affine = np.asarray(labels.affine, dtype=float)
    present = spine.levels
    report(0.0, "locating vertebrae")
    results: dict[str, VertebraAssessment] = {}
    geoms = {}
    morphs = {}
    for n, lv in enumerate(present):
        report(0.05 + 0.85 * n / len(present), f"measuring {lv}")
        va = spine.vertebra(lv)
        try:
            geom, morph, trab = va.geometry, va.morphometry, va.trabecular
        except NotMeasurableError as exc:
            results[lv] = _not_measurable(lv, str(exc), va.label_id)
            continue
        geoms[lv], morphs[lv] = geom, morph
        notes = []
        if geom.separation != "canal":
            notes.append(
                f"body separated by {geom.separation}"
                + (" (no posterior elements found)" if geom.separation == "whole label" else "")
            )
        flags = []
        if geom.label_touches_edge:
            flags.append("posterior elements cut by the scan edge")
        protrusion = morph.posterior_wall_protrusion_mm
        f = morph.frame
        results[lv] = VertebraAssessment(
            level=lv,
            status=MEASURED,
            label_id=va.label_id,
            centroid_ras_mm=f.origin_ras_mm,
            superior_axis_ras=f.superior,
            anterior_axis_ras=f.anterior,
            body_separation=geom.separation,
            landmarks_ras_mm=dict(morph.landmarks_ras_mm),
            height_anterior_mm=morph.height_anterior_mm,
            height_middle_mm=morph.height_middle_mm,
            height_posterior_mm=morph.height_posterior_mm,
            depth_mm=morph.depth_mm,
            width_mm=morph.width_mm,
            ha_hp=morph.height_anterior_mm / morph.height_posterior_mm,
            hm_hp=morph.height_middle_mm / morph.height_posterior_mm,
            wedge_angle_deg=morph.wedge_angle_deg,
            trabecular_hu=trab.mean_hu,
            trabecular_hu_sd=trab.sd_hu,
            trabecular_voxels=trab.voxels,
            posterior_wall_protrusion_mm=protrusion,
            canal_ap_mm=geom.canal.ap_mm if geom.canal is not None else None,
            flags=tuple(flags),
            notes=tuple(notes),
        )

    # Levels missing between the first and last label.
    first, last = LEVELS.index(present[0]), LEVELS.index(present[-1])
    for lv in LEVELS[first : last + 1]:
        if lv in results:
            continue
        i = LEVELS.index(lv)
        merged_nb = [
            nb
            for nb in (LEVELS[i - 1], LEVELS[i + 1] if i + 1 < len(LEVELS) else None)
            if nb in results and "merged" in results[nb].status
        ]
        why = "no label for this level"
        if merged_nb:
            why += f" (merged into {merged_nb[0]}?)"
        results[lv] = _not_measurable(lv, why, None)

    # Grading against expected heights.
    report(0.92, "grading")
    heights = {lv: results[lv].heights_mm for lv in morphs}
    sigma = {
        lv: HEIGHT_UNCERTAINTY_VOXELS * step_along_mm(affine, morphs[lv].frame.superior)
        for lv in morphs
    }
    grades = grade_vertebrae(heights, sigma)  # type: ignore[arg-type]
    for lv, g in grades.items():
        v = results[lv]
        i = LEVELS.index(lv)
        adj = [LEVELS[j] for j in (i - 1, i + 1) if 0 <= j < len(LEVELS) and LEVELS[j] in morphs]
        hp_adj = (
            v.height_posterior_mm / float(np.mean([results[a].height_posterior_mm for a in adj]))
            if adj
            else None
        )
        canal_adj = [
            results[a].canal_ap_mm
            for a in adj
            if results[a].canal_ap_mm is not None
            and geoms[a].canal is not None
            and geoms[a].canal.closed
        ]
        narrowing = None
        if v.canal_ap_mm is not None and canal_adj and geoms[lv].canal is not None:
            narrowing = 100.0 * (1.0 - v.canal_ap_mm / float(np.mean(canal_adj)))
        flags = list(v.flags)
        notes = list(v.notes)
        if v.posterior_wall_protrusion_mm is not None and (
            v.posterior_wall_protrusion_mm >= RETROPULSION_FLAG_MM
        ):
            txt = (
                f"posterior wall bulges {v.posterior_wall_protrusion_mm:.1f} mm into the canal "
                "(retropulsed fragment?)"
            )
            if narrowing is not None and narrowing > 0:
                txt += f", canal {narrowing:.0f} % shallower than at the adjacent levels"
            flags.append(txt)
        graded = g.grade >= 0
        if not graded:
            notes.append(g.expected_from)
        results[lv] = replace(
            v,
            hp_hp_adjacent=hp_adj,
            expected_heights_mm=g.expected_mm if graded else None,
            expected_from=g.expected_from,
            height_loss_pct=g.loss_pct if graded else None,
            max_height_loss_pct=g.max_loss_pct if graded else None,
            genant_grade=g.grade if graded else None,
            borderline=g.borderline,
            borderline_note=g.borderline_note,
            fracture_type=g.fracture_type if graded else None,  # type: ignore[arg-type]
            canal_narrowing_pct=narrowing,
            flags=tuple(flags),
            notes=tuple(notes),
        )

    report(0.96, "alignment")
    lines = {
        lv: EndplateLines(m.superior_normal_ras, m.inferior_normal_ras, m.frame.right)
        for lv, m in morphs.items()
    }
    fractured = [lv for lv in LEVELS if lv in results and results[lv].fractured]
    loss_mm = {
        lv: tuple(
            float(e - h)
            for e, h in zip(results[lv].expected_heights_mm, results[lv].heights_mm, strict=True)  # type: ignore[arg-type]
        )
        for lv in fractured
    }
    alignment = segment_alignment(lines, fractured, loss_mm)  # type: ignore[arg-type]
    screen = density_screen(results)
    cands = candidates(results, alignment.local_kyphosis, screen)
    ordered = tuple(results[lv] for lv in LEVELS if lv in results)
    spacing = tuple(float(s) for s in labels.spacing_mm)
    notes = (
        "Heights are measured on the label map: each surface lies half-way between the last "
        "voxel centre inside the label and the first outside, refined over a small patch.",
        f"Six-point landmarks {LANDMARK_INSET_MM:g} mm inside the anterior and posterior rims of the body, "
        "the middle ones half-way between the rims.",
    )
    report(1.0, "done")
    return Assessment(
        case_name=case.name,
        vertebrae=ordered,
        alignment=alignment,
        density_screen=screen,
        candidates=cands,
        voxel_size_mm=spacing,  # type: ignore[arg-type]
        notes=notes,
        disclaimer=DISCLAIMER,
    )
