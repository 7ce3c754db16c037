"""Simulated C-arm fluoroscopy: DRRs of the CT with instruments and cement, geometry, dose.

The imaging chain, one module each: :mod:`~kypho.fluoro.carm` (pose, DICOM angles, 3x4
projection), :mod:`~kypho.fluoro.detector`, :mod:`~kypho.fluoro.attenuation` (HU to mu at the
beam's effective energy), :mod:`~kypho.fluoro.render` (Joseph / shear-warp kernels and the NumPy
reference), :mod:`~kypho.fluoro.instruments`, :mod:`~kypho.fluoro.display`,
:mod:`~kypho.fluoro.dose`, :mod:`~kypho.fluoro.io`, :mod:`~kypho.fluoro.outlines` and
:mod:`~kypho.fluoro.report`.  Not a medical device.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "attenuation": ["DEFAULT_ENERGY_KEV", "Material", "hu_to_mu", "mu_per_mm"],
        "carm": [
            "CArm",
            "VIEW_NAMES",
            "angles_from_direction",
            "ap_view",
            "lateral_view",
            "named_view",
            "oblique_view",
            "project_points",
        ],
        "detector": ["Detector", "FrameTooLargeError"],
        "display": ["to_display"],
        "dose": ["DoseSession", "DoseSummary", "Technique"],
        "instruments": ["Balloon", "CementVolume", "Trocar", "gauge_outer_diameter_mm"],
        "outlines": ["level_axes", "project_labels", "view_for_level"],
        "outputs": ["FluoroView", "render_view", "write_outputs"],
        "sequence": ["render_sequence"],
        "spec": ["FluoroSpec"],
        "render": [
            "AttenuationVolume",
            "EmptyViewError",
            "Frame",
            "SourceInsidePatientError",
            "prepare_volume",
            "render_drr",
        ],
    },
)
