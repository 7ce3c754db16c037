"""The files ``kypho plan`` writes for the levels it planned.

* ``plan.json``: every level's paths, margins, verdicts and pedicles in kypho's envelope
  (``"format": "kypho.plan/2"``), readable by ``kypho rehearse --path``;
* ``paths.mrk.json``: the chosen trocars as 3D Slicer line markups (LPS, Slicer's schema);
* ``plan_<level>.png``: axial and sagittal slices with the trocars (one per level).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from kypho.core.atomic import write_bytes_atomic
from kypho.core.case import Case
from kypho.plan.figures import plan_figure
from kypho.plan.markups import plan_to_dict, write_plan_json, write_slicer_markups
from kypho.plan.search import LevelPlan

__all__ = ["output_names", "plan_to_dict", "write_outputs"]


def output_names(levels: Sequence[str]) -> tuple[str, ...]:
    """The file names :func:`write_outputs` writes for ``levels``."""
    return ("plan.json", "paths.mrk.json", *(f"plan_{lv}.png" for lv in levels))


def write_outputs(case: Case, plans: Sequence[LevelPlan], out_dir: str | Path) -> dict[str, Path]:
    """Write ``plan.json``, ``paths.mrk.json`` and ``plan_<level>.png`` into ``out_dir``.

    Every file is written atomically.  Returns the paths by name.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    pictures = {}
    for pl in plans:  # drawn first: a failure leaves no file
        fig = plan_figure(case, pl)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        plt.close(fig)
        pictures[f"plan_{pl.level}.png"] = buf.getvalue()
    paths = {
        "plan.json": write_plan_json(out / "plan.json", list(plans)),
        "paths.mrk.json": write_slicer_markups(out / "paths.mrk.json",
                                               [p for pl in plans for p in pl.paths]),
    }
    for name, data in pictures.items():
        paths[name] = write_bytes_atomic(out / name, data)
    return paths
