"""The vertebra as measured from CT and labels, once, for every stage (research and education only).

>>> import kypho
>>> spine = kypho.SpineAnatomy.of(case)        # doctest: +SKIP
>>> l1 = spine.vertebra("L1")                   # doctest: +SKIP
>>> l1.frame, l1.heights_mm, l1.trabecular.mean_hu, l1.pedicles["left"]   # doctest: +SKIP

Modules, one concept each: :mod:`~kypho.anatomy.frame` (the vertebra's axes and the spine's
tangent), :mod:`~kypho.anatomy.body` (body and canal from the label),
:mod:`~kypho.anatomy.sampling` (sub-voxel surfaces), :mod:`~kypho.anatomy.morphometry`
(six-point landmarks, heights, endplates), :mod:`~kypho.anatomy.tissue` (trabecular region,
cortical rim, gas cleft), :mod:`~kypho.anatomy.grid` (the vertebra resampled in its frame with
distance fields), :mod:`~kypho.anatomy.pedicle` (isthmus, walls, axis),
:mod:`~kypho.anatomy.norms` (published heights) and :mod:`~kypho.anatomy.spine` (the lazy,
cached :class:`SpineAnatomy` that the stages share).  See ``docs/anatomy.md``.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "body": ["CanalInfo", "VertebraGeometry", "body_only_geometry", "extract_vertebra"],
        "frame": ["VertebraFrame", "spine_tangents", "step_along_mm"],
        "grid": ["VertebraGrid", "build_vertebra_grid"],
        "morphometry": [
            "LANDMARK_INSET_MM",
            "EndplateProfile",
            "Morphometry",
            "endplate_angle_deg",
            "measure_morphometry",
        ],
        "norms": ["LevelNorm", "level_norm"],
        "outputs": ["anatomy_figure", "anatomy_to_dict", "write_outputs"],
        "pedicle": ["PedicleAnatomy", "find_pedicles", "published_comparison"],
        "spine": [
            "MEASURED",
            "NoLabelsError",
            "SpineAnatomy",
            "VertebraAnatomy",
            "labels_help",
            "totalsegmentator_command",
        ],
        "tissue": [
            "TrabecularDensity",
            "cortical_rim",
            "gas_cleft",
            "rim_threshold_hu",
            "trabecular_hu",
        ],
    },
)
