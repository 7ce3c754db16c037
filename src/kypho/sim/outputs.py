"""The files ``kypho simulate`` writes for the procedures it simulated on one level.

* ``simulate.json``: every technique's summary (volumes, leaks, heights, pressures, dose) in
  kypho's envelope (``"format": "kypho.simulate/1"``);
* ``simulate_<technique>_frames.png`` and ``simulate_<technique>.gif``: the simulated
  fluoroscopy, as a contact sheet and an animation (when frames were rendered);
* ``simulate_<technique>_slices.png`` and ``simulate_<technique>_pv.png``: cement slices and
  the balloon's pressure-volume curve (kyphoplasty);
* ``simulate_report.html``: the report page comparing the techniques.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kypho.core.atomic import write_files_atomic
from kypho.core.case import Case
from kypho.core.outputs import dumps, envelope
from kypho.report import Section
from kypho.sim.pipeline import CaseSimulation

__all__ = [
    "SIMULATE_FORMAT_VERSION",
    "RenderedOutputs",
    "output_names",
    "render_outputs",
    "simulation_to_dict",
    "write_outputs",
]

#: Layout version of ``simulate.json`` (``"format": "kypho.simulate/1"``).
SIMULATE_FORMAT_VERSION = 1


def simulation_to_dict(case: Case, runs: Mapping[str, CaseSimulation]) -> dict[str, Any]:
    """JSON-able summary of the techniques simulated on one level of ``case``."""
    level = next(iter(runs.values())).result.level if runs else None
    return {
        "case": case.name,
        "level": level,
        "coordinates": "RAS+ mm",
        "results": {t: r.summary() for t, r in runs.items()},
    }


def output_names(techniques: Sequence[str]) -> tuple[str, ...]:
    """The file names :func:`write_outputs` may write for ``techniques``."""
    names = ["simulate.json", "simulate_report.html"]
    for t in techniques:
        names += [f"simulate_{t}_frames.png", f"simulate_{t}.gif", f"simulate_{t}_slices.png",
                  f"simulate_{t}_pv.png"]
    return tuple(names)


@dataclass(frozen=True, eq=False)
class RenderedOutputs:
    """Every file of :func:`write_outputs` in memory, and the report section they make."""

    files: dict[str, bytes]
    section: Section


def render_outputs(case: Case, runs: Mapping[str, CaseSimulation]) -> RenderedOutputs:
    """Draw the pictures, animations and report page of ``runs`` in memory (nothing written)."""
    from kypho.report import render_html
    from kypho.sim.frames import animation_gif, contact_sheet_png
    from kypho.sim.report import cement_slices_figure, pv_figure, sim_section

    files: dict[str, bytes] = {}
    sheets: dict[str, bytes] = {}
    for t, run in runs.items():
        if run.frames:
            sheets[t] = contact_sheet_png(
                run.frames, title=f"{t} of {run.result.level}, {run.result.cement} cement "
                "(simulated fluoroscopy; not a medical device)")
            files[f"simulate_{t}_frames.png"] = sheets[t]
            files[f"simulate_{t}.gif"] = animation_gif(run.frames)
        files[f"simulate_{t}_slices.png"] = cement_slices_figure(run.result).png
        pv = pv_figure(run.result)
        if pv is not None:
            files[f"simulate_{t}_pv.png"] = pv.png
    section = sim_section([r.result for r in runs.values()],
                          doses={t: r.dose for t, r in runs.items()}, contact_sheets=sheets)
    level = next(iter(runs.values())).result.level if runs else ""
    files["simulate_report.html"] = render_html(
        f"kypho simulate: {case.name} {level}", [section]).encode("utf-8")
    return RenderedOutputs(files, section)


def write_outputs(
    case: Case,
    runs: Mapping[str, CaseSimulation],
    out_dir: str | Path,
    *,
    rendered: RenderedOutputs | None = None,
) -> dict[str, Path]:
    """Write the summary, pictures, animations and report page into ``out_dir``.

    Everything is drawn in memory first (:func:`render_outputs`, or ``rendered`` when already
    drawn), then written all or none (:func:`kypho.core.atomic.write_files_atomic`).
    Returns the paths by name.
    """
    rendered = rendered or render_outputs(case, runs)
    out = Path(out_dir)
    summary = dumps(envelope("simulate", SIMULATE_FORMAT_VERSION, simulation_to_dict(case, runs)))
    files = {"simulate.json": summary.encode("utf-8"), **rendered.files}
    write_files_atomic(out, files)
    return {name: out / name for name in files}
