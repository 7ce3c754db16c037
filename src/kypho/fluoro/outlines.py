"""Vertebrae on the frame: level axes, views centred on a level, projected label outlines.

A level's silhouette is the set of pixels whose ray runs at least ``min_path_mm`` (default 1 mm,
a model choice) through that level's label, computed with the same Joseph kernel as the frame;
its outline is the 0.5 iso-line of the silhouette (contourpy, matplotlib's contouring engine).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray

from kypho.anatomy.spine import SpineAnatomy
from kypho.core.case import Case
from kypho.core.levels import LEVEL_IDS, parse_level
from kypho.core.volume import LabelMap
from kypho.errors import EmptyLabelMapError
from kypho.fluoro.carm import CArm, named_view

__all__ = ["level_axes", "outline_polylines", "project_labels", "view_for_level"]


def level_axes(
    case: Case, level: str, *, anatomy: SpineAnatomy | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(centre, superior axis, anterior axis) of a level, RAS+, from the case's anatomy.

    The vertebra's own frame (:attr:`kypho.anatomy.VertebraAnatomy.frame`: body centroid, the
    body's superior axis and its anterior axis with the axial rotation).  A level whose body
    cannot be measured (cut by the scan's edge, say) is centred on its whole label with the
    spine's tangent as superior axis and the patient's anterior made perpendicular to it.
    """
    spine = anatomy if anatomy is not None else _spine(case, level)
    vertebra = spine.vertebra(level)
    if vertebra.measured:
        f = vertebra.frame
        return (np.asarray(f.origin_ras_mm), np.asarray(f.superior), np.asarray(f.anterior))
    sup = spine.tangent(vertebra.level)
    ant = np.array([0.0, 1.0, 0.0]) - sup[1] * sup
    return spine.centroids_ras_mm[vertebra.level], sup, ant / np.linalg.norm(ant)


def _spine(case: Case, level: str) -> SpineAnatomy:
    if case.labels is None:
        raise EmptyLabelMapError(f"case {case.name!r} has no vertebra labels to find {level} in")
    return SpineAnatomy.of(case)


def view_for_level(
    case: Case,
    level: str,
    view: str = "ap",
    *,
    anatomy: SpineAnatomy | None = None,
    **carm_kwargs: object,
) -> CArm:
    """A named C-arm view centred on ``level`` and aligned with its measured axes.

    Parameters
    ----------
    case : Case
        CT with vertebra labels.
    level : str
        The vertebra to centre on (``"L1"``).
    view : str
        One of :data:`kypho.fluoro.VIEW_NAMES` (``"ap"``, ``"lateral"``, ...).
    anatomy : SpineAnatomy, optional
        The case's anatomy (default :meth:`kypho.anatomy.SpineAnatomy.of`).
    **carm_kwargs
        Passed to :func:`kypho.fluoro.named_view` (``detector=``, distances).

    Returns
    -------
    CArm
        The true AP / true lateral (or other named view) of that vertebra: isocentre at its
        body's centroid, axes from :func:`level_axes`.

    Raises
    ------
    EmptyLabelMapError
        The case has no labels.
    InvalidParameterError
        The level is not labelled.
    """
    centre, sup, ant = level_axes(case, level, anatomy=anatomy)
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
        box = labels.boxes.get(level)
        if box is None:
            continue
        lo = np.maximum([b.start - 1 for b in box], 0)
        hi = np.minimum([b.stop + 1 for b in box], np.array(labels.shape))
        sl = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
        crop = (labels.data[sl] == LEVEL_IDS[level]).astype(np.float32)
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
