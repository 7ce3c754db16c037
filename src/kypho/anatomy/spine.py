"""The spine of one case as measured from its CT and vertebra labels, computed once.

:class:`SpineAnatomy` is built from a :class:`~kypho.core.case.Case` and hands out one
:class:`VertebraAnatomy` per labelled level.  Every measurement is computed on first use and
kept, so the assessment, the fluoroscopy views, the trocar planner and the simulator of one case
share the same body, frame, heights and pedicles:

>>> from kypho.anatomy import SpineAnatomy          # doctest: +SKIP
>>> spine = SpineAnatomy.of(case)                    # doctest: +SKIP
>>> l1 = spine.vertebra("L1")                        # doctest: +SKIP
>>> l1.frame.superior, l1.heights_mm, l1.pedicles["left"].axis_ras   # doctest: +SKIP

:meth:`SpineAnatomy.of` returns the same object for the same case object, so stages called one
after another on a case reuse each other's work without passing it around (they also accept
``anatomy=`` explicitly).  Only the CT and the labels are read: a phantom's ground truth is
never looked at (``tests/test_project.py`` checks the source tree).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cached_property
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
from numpy.typing import NDArray

from kypho.anatomy.body import VertebraGeometry, extract_vertebra
from kypho.anatomy.frame import VertebraFrame, spine_tangents
from kypho.anatomy.grid import VertebraGrid, build_vertebra_grid
from kypho.anatomy.morphometry import Morphometry, measure_morphometry
from kypho.anatomy.norms import level_norm
from kypho.anatomy.pedicle import PedicleAnatomy, find_pedicles
from kypho.anatomy.tissue import TrabecularDensity, cortical_rim, gas_cleft, trabecular_hu
from kypho.core.case import Case
from kypho.core.levels import LEVEL_IDS, LEVELS, parse_level
from kypho.errors import EmptyLabelMapError, InvalidParameterError, NotMeasurableError

__all__ = [
    "MEASURED",
    "MERGED_HEIGHT_FACTOR",
    "NoLabelsError",
    "SpineAnatomy",
    "VertebraAnatomy",
    "labels_help",
    "totalsegmentator_command",
]

#: A body taller than this multiple of its level's tallest normal height is taken for two
#: merged levels (model choice).
MERGED_HEIGHT_FACTOR = 1.7
#: Status of a vertebra whose body, frame and heights were measured.
MEASURED = "measured"

T = TypeVar("T")


def totalsegmentator_command(ct_path: str = "ct.nii.gz", out_path: str = "labels.nii.gz") -> str:
    """The command line that writes one multilabel file (``--ml``) with every vertebra."""
    return f"TotalSegmentator -i {ct_path} -o {out_path} --ml"


def labels_help(ct_name: str = "ct.nii.gz") -> str:
    """How to make a vertebra label map with TotalSegmentator (one line)."""
    return (
        f"make one with TotalSegmentator (`{totalsegmentator_command(ct_name)}`, "
        "https://github.com/wasserth/TotalSegmentator) and pass it with --labels, or run "
        "`kypho assess CASE --segment` where the totalsegmentator package is installed"
    )


class NoLabelsError(EmptyLabelMapError):
    """The case has no vertebra label map; the message says how to make one."""


def _measured(what: str) -> Callable[[Callable[[VertebraAnatomy], T]], Callable[..., T]]:
    """Cache a measurement of a :class:`VertebraAnatomy`, its failure included.

    A numerical failure inside a measurement (an empty fit, a singular matrix) becomes a
    :class:`NotMeasurableError` naming ``what`` failed, so every stage reports it alike.
    """

    def wrap(fn: Callable[[VertebraAnatomy], T]) -> Callable[..., T]:
        name = fn.__name__

        def get(self: VertebraAnatomy) -> T:
            with self._lock:
                if name not in self._cache:
                    try:
                        self._cache[name] = (True, fn(self))
                    except NotMeasurableError as exc:
                        self._cache[name] = (False, exc)
                    except (ValueError, IndexError, ArithmeticError, np.linalg.LinAlgError) as exc:
                        self._cache[name] = (False, NotMeasurableError(
                            f"{what} failed ({type(exc).__name__}: {exc})"))
                ok, value = self._cache[name]
            if not ok:
                raise value
            return value

        get.__doc__ = fn.__doc__
        get.__name__ = name
        return property(get)  # type: ignore[return-value]

    return wrap


class VertebraAnatomy:
    """One labelled vertebra of a :class:`SpineAnatomy`, measured on first use.

    Every property below is computed once; one that cannot be measured raises
    :class:`~kypho.errors.NotMeasurableError` with the reason (and raises it again, without
    recomputing, on the next access).
    """

    def __init__(self, spine: SpineAnatomy, level: str) -> None:
        self.spine = spine
        self.level = level
        self.label_id = LEVEL_IDS[level]
        self._lock = threading.RLock()
        self._cache: dict[str, tuple[bool, Any]] = {}

    def __repr__(self) -> str:
        return f"VertebraAnatomy({self.spine.case.name!r}, {self.level}, {self.status})"

    @property
    def box(self) -> tuple[slice, slice, slice]:
        """Bounding box of the level's label in the label map."""
        return self.spine.boxes[self.level]

    @property
    def touches_edge(self) -> bool:
        """Whether the level's label reaches a face of the scan (it may be cut)."""
        return self.level in self.spine.levels_at_edge

    @_measured("finding the body")
    def geometry(self) -> VertebraGeometry:
        """The label cropped, the body told apart from the posterior elements, the canal
        (:func:`kypho.anatomy.body.extract_vertebra`)."""
        labels = self.spine.case.labels
        assert labels is not None
        geom = extract_vertebra(np.asarray(labels.data), np.asarray(labels.affine, float),
                                self.level, self.label_id, self.box,
                                self.spine.tangent(self.level))
        norm = level_norm(self.level)
        ext = geom.body_extent_mm()
        tall = float(ext[2, 1] - ext[2, 0])
        if norm is not None and tall > MERGED_HEIGHT_FACTOR * max(norm.heights_mm):
            raise NotMeasurableError(
                f"body {tall:.0f} mm tall, over {MERGED_HEIGHT_FACTOR:g} times the {self.level} "
                "norm (two levels merged in one label?)"
            )
        return geom

    @_measured("morphometry")
    def morphometry(self) -> Morphometry:
        """Six-point landmarks, heights, depth, width, endplates and the final frame
        (:func:`kypho.anatomy.morphometry.measure_morphometry`)."""
        return measure_morphometry(self.geometry)

    @property
    def frame(self) -> VertebraFrame:
        """The vertebra's frame: origin at the body's centroid, axes of its own body."""
        return self.morphometry.frame

    @property
    def heights_mm(self) -> tuple[float, float, float]:
        """Anterior, middle and posterior body heights (mm), kypho's one height definition."""
        m = self.morphometry
        return (m.height_anterior_mm, m.height_middle_mm, m.height_posterior_mm)

    @_measured("trabecular density")
    def trabecular(self) -> TrabecularDensity:
        """Mean and SD of HU in the body's trabecular region."""
        return trabecular_hu(self.spine.case.volume.data, self.geometry)

    @_measured("cortical rim")
    def cortex(self) -> NDArray[np.bool_]:
        """The body's cortical shell and endplates on the CT, mask on the geometry's crop
        (:func:`kypho.anatomy.tissue.cortical_rim`)."""
        return cortical_rim(self.spine.case.volume.data, self.geometry, self.trabecular)

    @_measured("gas cleft")
    def cleft(self) -> NDArray[np.bool_]:
        """Gas inside the body (a vacuum cleft), mask on the geometry's crop
        (:func:`kypho.anatomy.tissue.gas_cleft`)."""
        return gas_cleft(self.spine.case.volume.data, self.geometry)

    @_measured("resampling the vertebra")
    def grid(self) -> VertebraGrid:
        """The vertebra resampled in its frame with canal and distance fields (for planning)."""
        if self.touches_edge:
            raise NotMeasurableError(
                f"{self.level} is cut by the edge of the scan in case {self.spine.case.name!r}: "
                "its pedicles and body may be incomplete"
            )
        return build_vertebra_grid(self.spine.case, self.level, self.frame, self.box)

    @_measured("finding the pedicles")
    def pedicles(self) -> dict[Literal["left", "right"], PedicleAnatomy]:
        """Both pedicles: isthmus, width, height, axis (:mod:`kypho.anatomy.pedicle`)."""
        return find_pedicles(self.grid)

    @property
    def status(self) -> str:
        """``"measured"`` or ``"not measurable: <reason>"`` (body, frame and heights)."""
        try:
            self.morphometry  # noqa: B018 - computes and caches it
        except NotMeasurableError as exc:
            return f"not measurable: {exc}"
        return MEASURED

    @property
    def measured(self) -> bool:
        """Whether the body, its frame and its heights were measured."""
        return self.status == MEASURED


class SpineAnatomy:
    """Every labelled vertebra of one case, measured from its CT and labels on first use.

    Parameters
    ----------
    case : Case
        The CT and its vertebra labels (kypho ids).

    Raises
    ------
    NoLabelsError
        The case has no label map, or it holds no vertebra.
    """

    #: Name under which :meth:`of` keeps a case's anatomy in the case object itself, so both
    #: are collected together (a weak-keyed table would keep every case alive: the anatomy
    #: refers to its case).
    _SLOT: ClassVar[str] = "_kypho_anatomy"
    _of_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, case: Case) -> None:
        if case.labels is None:
            raise NoLabelsError(
                f"case {case.name!r} has no vertebra label map: "
                + labels_help(case.source.name if case.source else "ct.nii.gz")
            )
        if not case.labels.levels:
            raise NoLabelsError(
                f"case {case.name!r}: the label map holds no vertebra label (C1-L5, S1); "
                + labels_help()
            )
        self.case = case
        self._vertebrae: dict[str, VertebraAnatomy] = {}
        self._lock = threading.Lock()

    @classmethod
    def of(cls, case: Case) -> SpineAnatomy:
        """The anatomy of ``case``, shared by every caller holding the same case object.

        It is kept on the case object (like a cached property), so it lives as long as the
        case; :func:`dataclasses.replace` makes a new case with no anatomy yet.
        """
        with cls._of_lock:
            found = case.__dict__.get(cls._SLOT)
            if found is None:
                found = cls(case)
                case.__dict__[cls._SLOT] = found
        return found

    def __repr__(self) -> str:
        return f"SpineAnatomy({self.case.name!r}, {self.levels[0]}-{self.levels[-1]})"

    @property
    def levels(self) -> tuple[str, ...]:
        """Labelled levels, cranial to caudal."""
        assert self.case.labels is not None
        return self.case.labels.levels

    @property
    def boxes(self) -> dict[str, tuple[slice, slice, slice]]:
        """Bounding box of each labelled level in the label map."""
        assert self.case.labels is not None
        return self.case.labels.boxes

    @property
    def levels_at_edge(self) -> tuple[str, ...]:
        """Levels whose label reaches a face of the scan (possibly cut by its edge)."""
        assert self.case.labels is not None
        return self.case.labels.levels_at_edge

    @cached_property
    def centroids_ras_mm(self) -> dict[str, NDArray[np.float64]]:
        """Centroid of each level's whole label (body and posterior elements), RAS+ mm."""
        labels = self.case.labels
        assert labels is not None
        data = np.asarray(labels.data)
        out = {}
        for lv in self.levels:
            box = self.boxes[lv]
            idx = np.argwhere(data[box] == LEVEL_IDS[lv])
            out[lv] = labels.ijk_to_ras(idx.mean(axis=0) + np.array([s.start for s in box]))
        return out

    @cached_property
    def _tangents(self) -> dict[str, NDArray[np.float64]]:
        return spine_tangents(self.centroids_ras_mm, unreliable=self.levels_at_edge)

    def tangent(self, level: str) -> NDArray[np.float64]:
        """The spine's tangent at ``level`` (:func:`kypho.anatomy.frame.spine_tangents`)."""
        return self._tangents[self._labelled(level)]

    def _labelled(self, level: str) -> str:
        lv = parse_level(level)
        if lv not in self.levels:
            raise InvalidParameterError(
                f"level {lv} is not labelled in case {self.case.name!r} "
                f"(labelled: {', '.join(self.levels) or 'none'})"
            )
        return lv

    def vertebra(self, level: str) -> VertebraAnatomy:
        """The anatomy of one labelled level (``InvalidParameterError`` if it is not labelled)."""
        lv = self._labelled(level)
        with self._lock:
            if lv not in self._vertebrae:
                self._vertebrae[lv] = VertebraAnatomy(self, lv)
            return self._vertebrae[lv]

    def span(self) -> tuple[str, ...]:
        """Levels from the most cranial to the most caudal label, missing ones included."""
        first, last = LEVELS.index(self.levels[0]), LEVELS.index(self.levels[-1])
        return LEVELS[first : last + 1]
