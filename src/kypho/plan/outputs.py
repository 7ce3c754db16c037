"""The files ``kypho plan`` writes for the levels it planned.

* ``plan.json``: every level's paths, margins, verdicts and pedicles in kypho's envelope
  (``"format": "kypho.plan/2"``), readable by ``kypho rehearse --path``;
* ``paths.mrk.json``: the chosen trocars as 3D Slicer line markups (LPS, Slicer's schema);
* ``plan_<level>.png``: axial and sagittal slices with the trocars (one per level).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kypho.core.atomic import write_files_atomic
from kypho.core.case import Case
from kypho.core.outputs import dumps, envelope, figure_png
from kypho.plan.figures import plan_figure
from kypho.plan.markups import (
    PLAN_FORMAT_VERSION,
    plan_to_dict,
    plans_payload,
    slicer_markups_json,
)
from kypho.plan.search import LevelPlan

__all__ = ["output_names", "plan_to_dict", "write_outputs"]


def output_names(levels: Sequence[str]) -> tuple[str, ...]:
    """The file names :func:`write_outputs` writes for ``levels``."""
    return ("plan.json", "paths.mrk.json", *(f"plan_{lv}.png" for lv in levels))


def write_outputs(case: Case, plans: Sequence[LevelPlan], out_dir: str | Path) -> dict[str, Path]:
    """Write ``plan.json``, ``paths.mrk.json`` and ``plan_<level>.png`` into ``out_dir``.

    Everything is made in memory first, then written all or none
    (:func:`kypho.core.atomic.write_files_atomic`).  Returns the paths by name.
    """
    import matplotlib

    matplotlib.use("Agg")

    out = Path(out_dir)
    files = {
        "plan.json": dumps(envelope("plan", PLAN_FORMAT_VERSION, plans_payload(plans))).encode(),
        "paths.mrk.json": slicer_markups_json([p for pl in plans for p in pl.paths]).encode(),
    }
    for pl in plans:
        files[f"plan_{pl.level}.png"] = figure_png(plan_figure(case, pl), dpi=110)
    write_files_atomic(out, files)
    return {name: out / name for name in files}
