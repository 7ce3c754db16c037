"""Vertebrae on the frame: level axes, views centred on a level, projected label outlines.

A level's silhouette is the set of pixels whose ray runs at least ``min_path_mm`` (default 1 mm,
a model choice) through that level's label, computed with the same Joseph kernel as the frame;
its outline is the 0.5 iso-line of the silhouette (contourpy, matplotlib's contouring engine).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray

from kypho.core.case import Case
from kypho.core.levels import LEVEL_IDS, LEVELS, parse_level
from kypho.core.volume import LabelMap
from kypho.errors import EmptyLabelMapError, InvalidParameterError
from kypho.fluoro.carm import CArm, named_view

__all__ = ["level_axes", "outline_polylines", "project_labels", "view_for_level"]


def _centroid_ras(labels: LabelMap, level: str, *, whole: bool = False) -> NDArray[np.float64] | None:
    """Centroid of a level's label; ``None`` if absent or, with ``whole``, if the label touches
    the edge of the volume (a vertebra cut by the field of view has a biased centroid)."""
    ijk = np.argwhere(labels.data == LEVEL_IDS[level])
    if len(ijk) == 0:
        return None
    if whole and (ijk.min() == 0 or np.any(ijk.max(axis=0) == np.asarray(labels.data.shape) - 1)):
        return None
    return labels.ijk_to_ras(ijk.mean(axis=0))


def level_axes(case: Case, level: str) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(centre, superior axis, anterior axis) of a level, RAS.

    From the phantom's ground truth when present (vertebral-body centroid and axes); otherwise from
    the label map: centre = centroid of the whole vertebra's label, superior axis = direction
    from the centroid of the level below to that of the level above (the spine's local tangent;
    neighbours cut by the edge of the CT are not used; one neighbour or none falls back to that
    pair or to +S), anterior axis = +A made orthogonal
    to it (axial rotation of the vertebra is not estimated).
    """
    level = parse_level(level)
    if case.truth is not None:
        try:
            v = case.truth.vertebra(level)
        except KeyError:
            pass
        else:
            return (np.asarray(v.centroid_ras_mm, float), np.asarray(v.superior_axis_ras, float),
                    np.asarray(v.anterior_axis_ras, float))
    if case.labels is None:
        raise EmptyLabelMapError(f"case {case.name!r} has no vertebra labels to find {level} in")
    centre = _centroid_ras(case.labels, level)
    if centre is None:
        raise InvalidParameterError(
            f"level {level} is not labelled in case {case.name!r} (labelled: {', '.join(case.levels) or 'none'})"
        )
    i = LEVELS.index(level)
    above = _centroid_ras(case.labels, LEVELS[i - 1], whole=True) if i > 0 else None
    below = _centroid_ras(case.labels, LEVELS[i + 1], whole=True) if i + 1 < len(LEVELS) else None
    if above is not None and below is not None:
        sup = above - below
    elif above is not None:
        sup = above - centre
    elif below is not None:
        sup = centre - below
    else:
        sup = np.array([0.0, 0.0, 1.0])
    if np.linalg.norm(sup) < 1e-6 or sup[2] <= 0:
        sup = np.array([0.0, 0.0, 1.0])
    sup = sup / np.linalg.norm(sup)
    ant = np.array([0.0, 1.0, 0.0]) - sup[1] * sup
    ant /= np.linalg.norm(ant)
    return centre, sup, ant


def view_for_level(case: Case, level: str, view: str = "ap", **carm_kwargs: object) -> CArm:
    """A named view (see :data:`kypho.fluoro.VIEW_NAMES`) centred on ``level`` and aligned with
    its axes (true AP / true lateral of that vertebra)."""
    centre, sup, ant = level_axes(case, level)
    return named_view(view, centre, superior_axis_ras=sup, anterior_axis_ras=ant, **carm_kwargs)


def project_labels(
    labels: LabelMap,
    carm: CArm,
    *,
    levels: Iterable[str] | None = None,
    min_path_mm: float = 1.0,
) -> dict[str, NDArray[np.bool_]]:
    """Silhouette of each labelled level on the detector, ``{level: (rows, cols) bool}``.

    Levels the detector does not see are left out.
    """
    from kypho.fluoro.render import AttenuationVolume, EmptyViewError, line_integrals

    wanted = labels.levels if levels is None else tuple(parse_level(x) for x in levels)
    out: dict[str, NDArray[np.bool_]] = {}
    for level in wanted:
        mask = labels.data == LEVEL_IDS[level]
        idx = np.argwhere(mask)
        if len(idx) == 0:
            continue
        lo = np.maximum(idx.min(axis=0) - 1, 0)
        hi = np.minimum(idx.max(axis=0) + 2, np.array(mask.shape))
        crop = mask[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]].astype(np.float32)
        shift = np.eye(4)
        shift[:3, 3] = lo
        vol = AttenuationVolume(crop, np.asarray(labels.affine, float) @ shift, 0.0)
        try:
            path_mm, _, _ = line_integrals(vol, carm)
        except EmptyViewError:
            continue
        sil = path_mm >= min_path_mm
        if sil.any():
            out[level] = sil
    return out


def outline_polylines(silhouette: NDArray[np.bool_]) -> list[NDArray[np.float64]]:
    """Closed outlines of a silhouette as ``(N, 2)`` arrays of (col, row) pixel coordinates."""
    import contourpy

    z = np.pad(np.asarray(silhouette, dtype=np.float64), 1)
    gen = contourpy.contour_generator(z=z, line_type=contourpy.LineType.Separate)
    return [np.asarray(line) - 1.0 for line in gen.lines(0.5)]
