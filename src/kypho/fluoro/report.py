"""The case report's fluoroscopy section: AP and lateral frames of a level with vertebra outlines."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from kypho.anatomy.spine import SpineAnatomy
from kypho.core.case import Case
from kypho.core.levels import LEVELS, parse_level
from kypho.core.volume import LabelMap
from kypho.errors import EmptyLabelMapError
from kypho.fluoro.display import to_display
from kypho.fluoro.dose import DoseSession
from kypho.fluoro.outlines import outline_polylines, project_labels
from kypho.fluoro.render import Frame
from kypho.report import Section, figure_from_matplotlib

if TYPE_CHECKING:
    from kypho.assess.model import Assessment
    from kypho.fluoro.outputs import FluoroView

__all__ = ["choose_level", "fluoro_section", "plot_frame"]


def choose_level(case: Case, assessment: Assessment | None = None) -> str:
    """The level to show: the assessment's first candidate for augmentation (its most relevant
    fracture) when one is given, else the middle labelled level."""
    if assessment is not None and assessment.candidates:
        return assessment.candidates[0].level
    if not case.levels:
        raise EmptyLabelMapError(f"case {case.name!r} has no vertebra labels to choose a level from")
    return case.levels[len(case.levels) // 2]


def plot_frame(
    ax: object,
    frame: Frame,
    *,
    labels: LabelMap | None = None,
    levels: Iterable[str] | None = None,
    highlight: str | None = None,
    points_ras_mm: ArrayLike | None = None,
    bone: str = "dark",
) -> None:
    """Draw a frame as the monitor shows it on a matplotlib ``ax``, with vertebra outlines
    (``highlight`` solid orange, the others dashed blue, each named) and world points (e.g. a
    trocar tip) as red crosses at the pixel the projection matrix gives."""
    ax.imshow(to_display(frame, bone=bone), cmap="gray", vmin=0, vmax=255)  # type: ignore[attr-defined]
    if labels is not None:
        for name, mask in project_labels(labels, frame.carm, levels=levels).items():
            own = name == highlight
            colour = "#ffb000" if own else "#4fc3f7"
            for line in outline_polylines(mask):
                ax.plot(line[:, 0], line[:, 1], color=colour, lw=1.4 if own else 0.9,  # type: ignore[attr-defined]
                        ls="-" if own else "--")
            ys, xs = np.nonzero(mask)
            ax.text(min(xs.max() + 3, mask.shape[1] - 12), ys.mean(), name, color=colour,  # type: ignore[attr-defined]
                    fontsize=8, va="center")
    if points_ras_mm is not None:
        uv = frame.carm.project(np.asarray(points_ras_mm, float).reshape(-1, 3))
        ax.plot(uv[:, 0], uv[:, 1], "+", color="#ff3030", ms=10, mew=1.5)  # type: ignore[attr-defined]
    ax.set_xlim(-0.5, frame.shape[1] - 0.5)  # type: ignore[attr-defined]
    ax.set_ylim(frame.shape[0] - 0.5, -0.5)  # type: ignore[attr-defined]
    ax.set_axis_off()  # type: ignore[attr-defined]


def fluoro_section(
    case: Case,
    *,
    level: str | None = None,
    size: int = 256,
    bone: str = "dark",
    assessment: Assessment | None = None,
    anatomy: SpineAnatomy | None = None,
    views: Sequence[FluoroView] | None = None,
) -> Section:
    """AP and lateral frames centred on ``level`` (default :func:`choose_level`) with the outlines
    of that level (solid) and its labelled neighbours (dashed).

    ``views`` already rendered (:func:`kypho.fluoro.outputs.render_view`) are shown as they are;
    otherwise the AP and lateral views are rendered here.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kypho.fluoro.outputs import render_view
    from kypho.fluoro.spec import FluoroSpec

    if views is None:
        lvl = parse_level(level) if level is not None else choose_level(case, assessment)
        views = [render_view(case, FluoroSpec(view=v, size=size, bone=bone), level=lvl,  # type: ignore[arg-type]
                             anatomy=anatomy) for v in ("ap", "lateral")]
    lvl = views[0].level or (case.levels[len(case.levels) // 2] if case.levels else "")
    dose = DoseSession()
    i = LEVELS.index(lvl) if lvl in LEVELS else 0
    neighbours = [x for x in LEVELS[max(i - 1, 0) : i + 2] if x in case.levels]
    titles = {"ap": "AP (prone, tube under the table)", "lateral": "Lateral (detector left)"}
    fig, axes = plt.subplots(1, len(views), figsize=(5 * len(views), 5.4), squeeze=False)
    rows = []
    for ax, v in zip(axes[0], views, strict=True):
        carm = v.frame.carm
        dose.record(carm)
        plot_frame(ax, v.frame, labels=case.labels, levels=neighbours, highlight=lvl,
                   bone=v.spec.bone)
        ax.set_title(f"{titles.get(v.spec.view, v.spec.view)}\n{carm.describe()}", fontsize=9)
        rows.append((v.spec.view, carm.describe(), v.frame.method))
    fig.tight_layout()
    fig.suptitle(f"Simulated fluoroscopy of {lvl} (not a medical device)", fontsize=10, y=1.04)
    figure = figure_from_matplotlib(
        fig,
        f"Simulated AP and lateral C-arm frames centred on {lvl}, aligned with its axes; {lvl} outlined "
        "in orange, labelled neighbours dashed in blue. Image up is cranial; AP seen from behind the "
        "patient (patient's right on the right); lateral with the detector on the patient's left "
        "(posterior on the right).",
    )
    table = "".join(
        f"<tr><td>{html.escape(v)}</td><td>{html.escape(d)}</td><td>{html.escape(m)}</td></tr>" for v, d, m in rows
    )
    carm = views[0].frame.carm
    body = (
        f"<p>Digitally reconstructed radiographs of the CT at {views[0].frame.energy_kev:g} keV "
        "effective energy (Joseph's method, Beer-Lambert, no scatter or noise), C-arm "
        f"source-to-detector {carm.source_to_detector_mm:g} mm, source-to-isocentre "
        f"{carm.source_to_isocentre_mm:g} mm.</p>"
        "<table><tr><th>View</th><th>DICOM positioner angles</th><th>Renderer</th></tr>"
        f"{table}</table><p>Dose of these pulses (model):</p>{dose.summary().to_html()}"
    )
    return Section(key="fluoro", title=f"Fluoroscopy ({lvl})", html=body, figures=(figure,))
