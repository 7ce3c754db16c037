"""The case report's fluoroscopy section: AP and lateral frames of a level with vertebra outlines."""

from __future__ import annotations

import html
from collections.abc import Iterable

import numpy as np
from numpy.typing import ArrayLike

from kypho.core.case import Case
from kypho.core.levels import LEVELS, parse_level
from kypho.core.volume import LabelMap
from kypho.errors import EmptyLabelMapError
from kypho.fluoro.display import to_display
from kypho.fluoro.dose import DoseSession
from kypho.fluoro.outlines import outline_polylines, project_labels, view_for_level
from kypho.fluoro.render import Frame, prepare_volume, render_drr
from kypho.report import Section, figure_from_matplotlib

__all__ = ["choose_level", "fluoro_section", "plot_frame"]


def choose_level(case: Case) -> str:
    """The level to show: the most severe fracture of a phantom (highest Genant grade), else the
    middle labelled level."""
    if case.truth is not None:
        graded = [v for v in case.truth.vertebrae if v.genant_grade > 0 and v.level in LEVELS]
        if graded:
            return max(graded, key=lambda v: (v.genant_grade, v.height_loss_pct)).level
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


def fluoro_section(case: Case, *, level: str | None = None, size: int = 256, bone: str = "dark") -> Section:
    """AP and lateral frames centred on ``level`` (default :func:`choose_level`) with the outlines
    of that level (solid) and its labelled neighbours (dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lvl = parse_level(level) if level is not None else choose_level(case)
    vol = prepare_volume(case.volume)
    dose = DoseSession()
    i = LEVELS.index(lvl)
    neighbours = [x for x in LEVELS[max(i - 1, 0) : i + 2] if x in case.levels]
    fig, axes = plt.subplots(1, 2, figsize=(10, 5.4))
    rows = []
    for ax, view, title in zip(axes, ("ap", "lateral"), ("AP (prone, tube under the table)", "Lateral (detector left)"), strict=True):
        carm = view_for_level(case, lvl, view).with_size(size)
        frame = render_drr(vol, carm, dose=dose)
        plot_frame(ax, frame, labels=case.labels, levels=neighbours, highlight=lvl, bone=bone)
        ax.set_title(f"{title}\n{carm.describe()}", fontsize=9)
        rows.append((view, carm.describe(), frame.method))
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
    body = (
        f"<p>Digitally reconstructed radiographs of the CT at {vol.energy_kev:g} keV effective energy "
        "(Joseph's method, Beer-Lambert, no scatter or noise), C-arm source-to-detector "
        f"{carm.source_to_detector_mm:g} mm, source-to-isocentre {carm.source_to_isocentre_mm:g} mm.</p>"
        "<table><tr><th>View</th><th>DICOM positioner angles</th><th>Renderer</th></tr>"
        f"{table}</table><p>Dose of these two pulses (model):</p>{dose.summary().to_html()}"
    )
    return Section(key="fluoro", title=f"Fluoroscopy ({lvl})", html=body, figures=(figure,))
