"""Synthetic thoracolumbar spine CT with labels and ground truth (research and education only).

>>> from kypho.phantom import FractureSpec, PhantomSpec, make_phantom
>>> case = make_phantom(PhantomSpec(fractures=(FractureSpec("L1", "wedge", grade=2),)))  # doctest: +SKIP
"""

from kypho.core.truth import (
    MORPHOMETRY_POINTS,
    CorticalBreak,
    PedicleTruth,
    PhantomTruth,
    Tissue,
    VertebraTruth,
)
from kypho.phantom.anatomy import LEVEL_ANATOMY, SUPPORTED_LEVELS, LevelAnatomy
from kypho.phantom.figures import lateral_projection, phantom_figures, phantom_section
from kypho.phantom.generate import fracture_lines, make_phantom
from kypho.phantom.spec import FractureSpec, PhantomSpec, genant_grade, parse_fracture

__all__ = [
    "LEVEL_ANATOMY",
    "MORPHOMETRY_POINTS",
    "SUPPORTED_LEVELS",
    "CorticalBreak",
    "FractureSpec",
    "LevelAnatomy",
    "PedicleTruth",
    "PhantomSpec",
    "PhantomTruth",
    "Tissue",
    "VertebraTruth",
    "fracture_lines",
    "genant_grade",
    "lateral_projection",
    "make_phantom",
    "parse_fracture",
    "phantom_figures",
    "phantom_section",
]
