"""Fracture assessment: heights, Genant grade and type, alignment and bone density per vertebra.

``kypho.assess.assess(case)`` measures every labelled vertebra of a CT with no hand-placed
landmarks and returns an :class:`Assessment`; :mod:`kypho.assess.outputs` writes it as a table,
JSON, CSV, an annotated mid-sagittal picture and a report section.  Research and education
software, not a medical device.
"""

from kypho.assess.model import (
    MEASURED,
    Assessment,
    Candidate,
    DensityScreen,
    LocalKyphosis,
    SegmentAlignment,
    VertebraAssessment,
)
from kypho.assess.pipeline import NoLabelsError, assess, labels_help

__all__ = [
    "MEASURED",
    "Assessment",
    "Candidate",
    "DensityScreen",
    "LocalKyphosis",
    "NoLabelsError",
    "SegmentAlignment",
    "VertebraAssessment",
    "assess",
    "labels_help",
]
