"""Trocar path planning and fluoroscopy-guided insertion rehearsal (research and education only).

>>> from kypho.plan import PlanSpec, plan_level  # doctest: +SKIP
>>> plan = plan_level(case, "L1", PlanSpec(gauge=11))  # doctest: +SKIP

The vertebra's frame, its resampled grid and its pedicles come from the case's measured anatomy
(:mod:`kypho.anatomy`); this package searches, scores and rehearses the paths.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "figures": ["plan_figure", "plan_section"],
        "margins": ["SAFE_MARGIN_MM", "evaluate_path"],
        "markups": [
            "SLICER_MARKUPS_SCHEMA_URL",
            "read_plan_json",
            "to_slicer_markups",
            "write_plan_json",
            "write_slicer_markups",
        ],
        "outputs": ["plan_to_dict", "write_outputs"],
        "paths": ["Breach", "Margins", "TrocarPath", "gauge_outer_diameter_mm", "path_angles"],
        "rehearse": ["Rehearsal", "RehearsalStep", "rehearse", "write_rehearsal"],
        "search": ["LevelPlan", "plan_level", "search_paths"],
        "spec": ["PlanSpec"],
    },
)
