"""Simulated C-arm fluoroscopy: DRRs of the CT with instruments and cement, geometry, dose.

The imaging chain, one module each: :mod:`~kypho.fluoro.carm` (pose, DICOM angles, 3x4
projection), :mod:`~kypho.fluoro.detector`, :mod:`~kypho.fluoro.attenuation` (HU to mu at the
beam's effective energy), :mod:`~kypho.fluoro.render` (Joseph / shear-warp kernels and the NumPy
reference), :mod:`~kypho.fluoro.instruments`, :mod:`~kypho.fluoro.display`,
:mod:`~kypho.fluoro.dose`, :mod:`~kypho.fluoro.io`, :mod:`~kypho.fluoro.outlines` and
:mod:`~kypho.fluoro.report`.  Not a medical device.
"""

from kypho.fluoro.attenuation import DEFAULT_ENERGY_KEV, Material, hu_to_mu, mu_per_mm
from kypho.fluoro.carm import (
    VIEW_NAMES,
    CArm,
    angles_from_direction,
    ap_view,
    lateral_view,
    named_view,
    oblique_view,
    project_points,
)
from kypho.fluoro.detector import Detector, FrameTooLargeError
from kypho.fluoro.display import to_display
from kypho.fluoro.dose import DoseSession, DoseSummary, Technique
from kypho.fluoro.instruments import Balloon, CementVolume, Trocar, gauge_outer_diameter_mm
from kypho.fluoro.outlines import level_axes, project_labels, view_for_level
from kypho.fluoro.render import (
    AttenuationVolume,
    EmptyViewError,
    Frame,
    SourceInsidePatientError,
    prepare_volume,
    render_drr,
)

__all__ = [
    "DEFAULT_ENERGY_KEV",
    "VIEW_NAMES",
    "AttenuationVolume",
    "Balloon",
    "CArm",
    "CementVolume",
    "Detector",
    "DoseSession",
    "DoseSummary",
    "EmptyViewError",
    "Frame",
    "FrameTooLargeError",
    "Material",
    "SourceInsidePatientError",
    "Technique",
    "Trocar",
    "angles_from_direction",
    "ap_view",
    "gauge_outer_diameter_mm",
    "hu_to_mu",
    "lateral_view",
    "level_axes",
    "mu_per_mm",
    "named_view",
    "oblique_view",
    "prepare_volume",
    "project_labels",
    "project_points",
    "render_drr",
    "to_display",
    "view_for_level",
]
