"""Trocar path planning and fluoroscopy-guided insertion rehearsal (research and education only).

>>> from kypho.plan import plan_level  # doctest: +SKIP
>>> plan = plan_level(case, "L1", gauge=11)  # doctest: +SKIP
"""

from kypho.plan.anatomy import VertebraFrame, VertebraModel, build_vertebra_model
from kypho.plan.figures import plan_figure, plan_section
from kypho.plan.margins import SAFE_MARGIN_MM, evaluate_path
from kypho.plan.markups import (
    SLICER_MARKUPS_SCHEMA_URL,
    read_plan_json,
    to_slicer_markups,
    write_plan_json,
    write_slicer_markups,
)
from kypho.plan.paths import Breach, Margins, TrocarPath, gauge_outer_diameter_mm, path_angles
from kypho.plan.pedicle import PedicleAnatomy, find_pedicles, published_comparison
from kypho.plan.rehearse import Rehearsal, RehearsalStep, rehearse, write_rehearsal
from kypho.plan.search import LevelPlan, plan_level, search_paths

__all__ = [
    "SAFE_MARGIN_MM",
    "SLICER_MARKUPS_SCHEMA_URL",
    "Breach",
    "LevelPlan",
    "Margins",
    "PedicleAnatomy",
    "Rehearsal",
    "RehearsalStep",
    "TrocarPath",
    "VertebraFrame",
    "VertebraModel",
    "build_vertebra_model",
    "evaluate_path",
    "find_pedicles",
    "gauge_outer_diameter_mm",
    "path_angles",
    "plan_figure",
    "plan_level",
    "plan_section",
    "published_comparison",
    "read_plan_json",
    "rehearse",
    "search_paths",
    "to_slicer_markups",
    "write_plan_json",
    "write_rehearsal",
    "write_slicer_markups",
]
