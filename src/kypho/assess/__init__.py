"""Fracture assessment: heights, Genant grade and type, alignment and bone density per vertebra.

``kypho.assess.assess(case)`` (the top-level :func:`kypho.assess_case`) grades every labelled
vertebra of a CT from the anatomy measured once by :mod:`kypho.anatomy` (no hand-placed
landmarks) and returns an :class:`Assessment`; :mod:`kypho.assess.outputs` writes it as a table,
JSON, CSV, an annotated mid-sagittal picture and a report section.  Research and education
software, not a medical device.
"""

from kypho.anatomy.spine import NoLabelsError, labels_help
from kypho.assess.model import (
    MEASURED,
    Assessment,
    Candidate,
    DensityScreen,
    LocalKyphosis,
    SegmentAlignment,
    VertebraAssessment,
)
from kypho.assess.pipeline import assess

#: The assessment's entry point under its top-level name (``kypho.assess`` is this subpackage).
assess_case = assess

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
    "assess_case",
    "labels_help",
]
