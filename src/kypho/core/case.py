"""A :class:`Case`: one patient's CT, its vertebra labels and metadata, passed between stages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from kypho.core.volume import LabelMap, Volume, check_same_grid

if TYPE_CHECKING:
    from kypho.core.truth import PhantomTruth

__all__ = ["Case"]


@dataclass(frozen=True, eq=False)
class Case:
    """One case flowing through kypho.

    Parameters
    ----------
    volume : Volume
        The CT in HU.
    labels : LabelMap or None
        Vertebra labels on the CT's grid (kypho ids), or ``None`` when none was given.
    name : str
        Short identifier used in file names and reports.
    metadata : mapping
        Free-form JSON-serialisable facts (source file, patient age, scanner...).
    truth : PhantomTruth or None
        Ground truth when the case is a synthetic phantom.
    source : Path or None
        Where the case was read from.
    tissue : LabelMap or None
        For a phantom, the tissue class of every voxel (:class:`kypho.core.truth.Tissue` ids)
        on the CT's grid; ``None`` for a real CT.
    """

    volume: Volume
    labels: LabelMap | None = None
    name: str = "case"
    metadata: Mapping[str, Any] = field(default_factory=dict)
    truth: PhantomTruth | None = None
    source: Path | None = None
    tissue: LabelMap | None = None

    def __post_init__(self) -> None:
        if self.labels is not None:
            check_same_grid(self.volume, self.labels)
        if self.tissue is not None:
            check_same_grid(self.volume, self.tissue, source="tissue map")
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))

    @property
    def levels(self) -> tuple[str, ...]:
        """Labelled vertebral levels, cranial to caudal (empty without labels)."""
        return self.labels.levels if self.labels is not None else ()

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (e.g. for a worker process) without the anatomy measured on it: it is
        measured again where needed."""
        state = {k: v for k, v in self.__dict__.items() if not k.startswith("_kypho_")}
        state["metadata"] = dict(self.metadata)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        object.__setattr__(self, "metadata", MappingProxyType(dict(state["metadata"])))

    def with_labels(self, labels: LabelMap) -> Case:
        """A copy of this case with ``labels`` (checked against the CT's grid)."""
        return replace(self, labels=labels)
