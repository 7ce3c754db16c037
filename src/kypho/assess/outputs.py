"""Outputs of the assessment: a rich table, JSON, CSV, the annotated mid-sagittal picture and the
report section (key ``"assess"``).

The picture is a curved sagittal reformat of the CT: each row (a height) is sampled in the
sagittal plane through the spine at that height (the left-right position follows the body
centroids), so a scoliotic spine still shows every body.  Superior is up and anterior on the
left, as on a lateral radiograph.  Each measured body is outlined (its label anterior to the
posterior rim), its three heights drawn between the six landmarks, and its grade written beside
it.
"""

from __future__ import annotations

import csv
import html
import io
import json
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from kypho.assess.model import Assessment, VertebraAssessment
from kypho.core.atomic import write_files_atomic
from kypho.core.case import Case
from kypho.core.levels import LEVEL_IDS
from kypho.core.outputs import dumps, envelope, open_envelope
from kypho.errors import FormatError
from kypho.report import Figure, Section, figure_from_matplotlib

__all__ = [
    "ASSESS_FORMAT_VERSION",
    "CSV_COLUMNS",
    "GRADE_COLOURS",
    "assessment_table",
    "from_json",
    "output_names",
    "report_section",
    "sagittal_figure",
    "sagittal_png",
    "short_note",
    "summary_lines",
    "to_csv",
    "to_json",
    "vertebra_notes",
    "write_outputs",
]

#: Colour of each Genant grade in the picture and the table (None = not graded/measured).
GRADE_COLOURS = {0: "#2e9d57", 1: "#e3c21b", 2: "#f08a24", 3: "#d62728", None: "#9a9a9a"}
_RICH_STYLE = {0: "green", 1: "yellow", 2: "dark_orange", 3: "bold red", None: "dim"}
#: Bone window of the picture (HU): level 300, width 1500 (model choice for a spine overview).
WINDOW_HU = (-450.0, 1050.0)

#: Columns of the CSV, one row per vertebra.
CSV_COLUMNS = (
    "level",
    "status",
    "height_anterior_mm",
    "height_middle_mm",
    "height_posterior_mm",
    "ha_hp",
    "hm_hp",
    "hp_hp_adjacent",
    "expected_anterior_mm",
    "expected_middle_mm",
    "expected_posterior_mm",
    "expected_from",
    "loss_anterior_pct",
    "loss_middle_pct",
    "loss_posterior_pct",
    "max_height_loss_pct",
    "genant_grade",
    "borderline",
    "fracture_type",
    "wedge_angle_deg",
    "depth_mm",
    "width_mm",
    "trabecular_hu",
    "trabecular_hu_sd",
    "posterior_wall_protrusion_mm",
    "canal_ap_mm",
    "canal_narrowing_pct",
    "flags",
)


def _r(x: float | None, nd: int = 2) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), nd)


#: Layout version of ``assess.json`` (``"format": "kypho.assess/2"``; version 1 was
#: ``{"kind": "kypho.assess", "version": 1}``, still read).
ASSESS_FORMAT_VERSION = 2


def to_json(assessment: Assessment) -> str:
    """The whole assessment as JSON in kypho's envelope (NaN written as ``null``)."""
    return dumps(envelope("assess", ASSESS_FORMAT_VERSION, assessment.to_dict()))


def from_json(text: str, *, source: str = "assessment JSON") -> Assessment:
    """Read an assessment written by :func:`to_json`.

    Raises
    ------
    FormatError
        If ``text`` is not a kypho assessment.
    """
    try:
        d = json.loads(text)
    except ValueError as exc:
        raise FormatError(f"{source}: not JSON ({exc})") from None
    legacy = isinstance(d, dict) and d.get("kind") == "kypho.assess" and d.get("version") == 1
    if not legacy:
        d = open_envelope(d, "assess", (ASSESS_FORMAT_VERSION,), source=source)
    try:
        return Assessment.from_dict(d)
    except (ValueError, KeyError, TypeError) as exc:
        raise FormatError(f"{source}: {type(exc).__name__}: {exc}") from None


def output_names() -> tuple[str, ...]:
    """The file names :func:`write_outputs` writes."""
    return ("assess.json", "assess.csv", "assess_sagittal.png")


def _row(v: VertebraAssessment) -> dict[str, Any]:
    exp = v.expected_heights_mm or (None, None, None)
    loss = v.height_loss_pct or (None, None, None)
    return {
        "level": v.level,
        "status": v.status,
        "height_anterior_mm": _r(v.height_anterior_mm),
        "height_middle_mm": _r(v.height_middle_mm),
        "height_posterior_mm": _r(v.height_posterior_mm),
        "ha_hp": _r(v.ha_hp, 3),
        "hm_hp": _r(v.hm_hp, 3),
        "hp_hp_adjacent": _r(v.hp_hp_adjacent, 3),
        "expected_anterior_mm": _r(exp[0]),
        "expected_middle_mm": _r(exp[1]),
        "expected_posterior_mm": _r(exp[2]),
        "expected_from": v.expected_from,
        "loss_anterior_pct": _r(loss[0], 1),
        "loss_middle_pct": _r(loss[1], 1),
        "loss_posterior_pct": _r(loss[2], 1),
        "max_height_loss_pct": _r(v.max_height_loss_pct, 1),
        "genant_grade": v.genant_grade,
        "borderline": v.borderline,
        "fracture_type": v.fracture_type,
        "wedge_angle_deg": _r(v.wedge_angle_deg, 1),
        "depth_mm": _r(v.depth_mm, 1),
        "width_mm": _r(v.width_mm, 1),
        "trabecular_hu": _r(v.trabecular_hu, 0),
        "trabecular_hu_sd": _r(v.trabecular_hu_sd, 0),
        "posterior_wall_protrusion_mm": _r(v.posterior_wall_protrusion_mm, 1),
        "canal_ap_mm": _r(v.canal_ap_mm, 1),
        "canal_narrowing_pct": _r(v.canal_narrowing_pct, 0),
        "flags": "; ".join(v.flags),
    }


def to_csv(assessment: Assessment) -> str:
    """One CSV row per vertebra (columns :data:`CSV_COLUMNS`)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    w.writeheader()
    for v in assessment.vertebrae:
        w.writerow({k: ("" if x is None else x) for k, x in _row(v).items()})
    return buf.getvalue()


def _fmt(x: float | None, nd: int = 1) -> str:
    return "" if x is None or not np.isfinite(x) else f"{x:.{nd}f}"


def _grade_text(v: VertebraAssessment) -> str:
    if v.genant_grade is None:
        return ""
    return f"{v.genant_grade}{'?' if v.borderline else ''}"


def assessment_table(assessment: Assessment) -> Any:
    """A :class:`rich.table.Table` with one row per vertebra."""
    from rich import box
    from rich.table import Table

    t = Table(
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        pad_edge=False,
        title=f"Fracture assessment: {assessment.case_name}",
        caption="Heights in mm; loss against the expected heights; ? borderline grade; "
        "* flagged (see below); n/m not measurable. " + assessment.disclaimer,
        caption_justify="left",
    )
    for name, just in (
        ("level", "left"),
        ("Ha", "right"),
        ("Hm", "right"),
        ("Hp", "right"),
        ("Ha/Hp", "right"),
        ("Hm/Hp", "right"),
        ("loss%", "right"),
        ("G", "center"),
        ("type", "left"),
        ("wedge", "right"),
        ("HU", "right"),
    ):
        t.add_column(name, justify=just, no_wrap=True)  # type: ignore[arg-type]
    for v in assessment.vertebrae:
        style = _RICH_STYLE.get(v.genant_grade, "dim") if v.measured else "dim"
        if not v.measured:
            t.add_row(v.level, "n/m", *[""] * 9, style=style)
            continue
        t.add_row(
            v.level,
            _fmt(v.height_anterior_mm),
            _fmt(v.height_middle_mm),
            _fmt(v.height_posterior_mm),
            _fmt(v.ha_hp, 2),
            _fmt(v.hm_hp, 2),
            _fmt(v.max_height_loss_pct, 0),
            _grade_text(v) + ("*" if v.flags else ""),
            v.fracture_type or "",
            _fmt(v.wedge_angle_deg),
            _fmt(v.trabecular_hu, 0),
            style=style,
        )
    return t


def vertebra_notes(assessment: Assessment) -> list[str]:
    """One line per vertebra that is not measured or carries a flag (``*`` in the table)."""
    lines = []
    for v in assessment.vertebrae:
        if not v.measured:
            lines.append(f"{v.level}: {v.status}")
        elif v.flags:
            lines.append(f"{v.level}*: " + "; ".join(v.flags))
    return lines


def short_note(v: VertebraAssessment) -> str:
    """A few words on a vertebra for narrow displays (the full texts are in the JSON)."""
    if not v.measured:
        return "n/m: " + v.status.removeprefix("not measurable: ").split(" (")[0]
    notes = []
    if v.posterior_wall_protrusion_mm is not None and any("posterior wall" in f for f in v.flags):
        notes.append(f"post. wall +{v.posterior_wall_protrusion_mm:.1f} mm")
    if any("scan edge" in f for f in v.flags):
        notes.append("arch cut by edge")
    if v.body_separation and v.body_separation != "canal":
        notes.append(v.body_separation)
    return "; ".join(notes)


def _summary_lines(a: Assessment) -> list[str]:
    al = a.alignment
    lines = []
    if al.cobb_angle_deg is not None:
        lines.append(
            f"Thoracolumbar Cobb angle ({al.cobb_upper}-{al.cobb_lower}): "
            f"{al.cobb_angle_deg:+.1f} deg (kyphosis positive)"
        )
    if al.segment_cobb_angle_deg is not None:
        lines.append(
            f"Cobb angle of the measured segment ({al.segment_upper}-{al.segment_lower}): "
            f"{al.segment_cobb_angle_deg:+.1f} deg"
        )
    for k in al.local_kyphosis:
        lines.append(f"Local kyphosis over {k.level} ({k.upper}-{k.lower}): {k.angle_deg:+.1f} deg")
    if a.fractured_levels:
        lines.append(
            f"Column height lost: {al.column_height_loss_mm:.1f} mm "
            f"(anterior column {al.anterior_column_loss_mm:.1f} mm)"
        )
    lines.append(a.density_screen.text)
    for c in a.candidates:
        lines.append(
            f"Candidate {c.level}: "
            + "; ".join(c.reasons)
            + ("  Cautions: " + "; ".join(c.cautions) if c.cautions else "")
        )
    if not a.candidates:
        lines.append("No level reaches the 15 % height loss of a candidate for augmentation.")
    return lines


def _sample(data: Any, coords: NDArray[np.float64], *, order: int, cval: float) -> NDArray:
    """``map_coordinates`` on the crop of ``data`` that covers ``coords`` (no full-volume copy)."""
    shape = np.asarray(data.shape)
    flat = coords.reshape(3, -1)
    lo = np.clip(np.floor(np.nanmin(flat, axis=1)).astype(int) - 1, 0, shape - 1)
    hi = np.clip(np.ceil(np.nanmax(flat, axis=1)).astype(int) + 2, 1, shape)
    if np.any(hi <= lo):
        return np.full(coords.shape[1:], cval, dtype=np.float32)
    crop = np.asarray(data[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]])
    local = coords - lo.reshape(3, *([1] * (coords.ndim - 1)))
    out_dtype = crop.dtype if order == 0 else np.float32
    return ndimage.map_coordinates(
        crop, local, order=order, mode="constant", cval=cval, output=out_dtype
    )


def _curved_sagittal(case: Case, a: Assessment, px_mm: float) -> dict[str, Any]:
    """Sample the CT and labels on the curved mid-sagittal surface through the bodies.

    Each picture row (a height ``z``) lies in the sagittal plane at the left-right position of
    the spine at that height, interpolated between the measured bodies' centroids (the label
    centroids of levels not measured), so a spine off the midline or scoliotic is still cut
    through its bodies.
    """
    from kypho.anatomy.spine import SpineAnatomy

    vol = case.volume
    labels = case.labels
    assert labels is not None
    meas = {v.level: np.asarray(v.centroid_ras_mm) for v in a.vertebrae if v.centroid_ras_mm}
    data = np.asarray(labels.data)
    boxes = labels.boxes
    label_centroids = SpineAnatomy.of(case).centroids_ras_mm
    cents = dict(meas)
    for v in a.vertebrae:
        if v.level not in cents and v.level in label_centroids:
            cents[v.level] = label_centroids[v.level]
    corners = np.array(
        [
            [i, j, k]
            for i in (0, vol.shape[0] - 1)
            for j in (0, vol.shape[1] - 1)
            for k in (0, vol.shape[2] - 1)
        ],
        float,
    )
    ras = vol.ijk_to_ras(corners)
    lo, hi = ras.min(axis=0), ras.max(axis=0)
    if cents:
        c = np.array(list(cents.values()))
        order = np.argsort(c[:, 2])
        zc, xc = c[order, 2], c[order, 0]
        yb = np.array(list(meas.values()))[:, 1] if meas else c[:, 1]
        z0, z1 = max(lo[2], zc.min() - 30.0), min(hi[2], zc.max() + 30.0)
        # room for the spinous processes behind and for the annotations in front (mm)
        y0, y1 = max(lo[1], yb.min() - 75.0), min(hi[1], yb.max() + 70.0)
    else:
        zc = np.array([0.5 * (lo[2] + hi[2])])
        xc = np.array([0.5 * (lo[0] + hi[0])])
        z0, z1, y0, y1 = lo[2], hi[2], lo[1], hi[1]
    zs = np.arange(z1, z0, -px_mm)  # top row = superior
    ys = np.arange(y1, y0, -px_mm)  # left column = anterior
    xs = np.interp(zs, zc, xc)
    Z, Y = np.meshgrid(zs, ys, indexing="ij")
    X = np.broadcast_to(xs[:, None], Z.shape)
    pts = np.stack([X, Y, Z], axis=-1)
    coords = np.moveaxis(vol.ras_to_ijk(pts), -1, 0)
    img = _sample(vol.data, coords, order=1, cval=-1000.0)
    lab = _sample(data, coords, order=0, cval=0)
    return {
        "img": img,
        "lab": lab,
        "pts": pts,
        "coords": coords,
        "boxes": boxes,
        "extent": (-y1, -y0, z0, z1),
    }


def _smooth_mask(
    data: NDArray, lid: int, box: tuple[slice, ...] | None, coords: NDArray[np.float64]
) -> NDArray[np.float32]:
    """Linear interpolation of one label's mask at ``coords`` (smooth outlines on thick slices)."""
    out = np.zeros(coords.shape[1:], dtype=np.float32)
    if box is None:
        return out
    start = np.array([max(0, sl.start - 1) for sl in box])
    stop = np.array([min(n, sl.stop + 1) for sl, n in zip(box, data.shape, strict=True)])
    inside = np.all(
        (coords >= (start - 1).reshape(3, 1, 1)) & (coords <= stop.reshape(3, 1, 1)), axis=0
    )
    if not inside.any():
        return out
    crop = data[tuple(slice(a, b) for a, b in zip(start, stop, strict=True))] == lid
    local = coords[:, inside] - start.reshape(3, 1)
    out[inside] = ndimage.map_coordinates(
        crop.astype(np.float32), local, order=1, mode="constant", cval=0.0
    )
    return out


def _label_text(v: VertebraAssessment) -> str:
    ha, hm, hp = v.heights_mm  # type: ignore[misc]
    heights = f"{ha:.1f} / {hm:.1f} / {hp:.1f} mm"
    if v.genant_grade is None:
        return f"{v.level}  not graded\n{heights}"
    q = "?" if v.borderline else ""
    if v.genant_grade == 0:
        return f"{v.level}  G0{q}\n{heights}"
    return (
        f"{v.level}  G{v.genant_grade}{q} {v.fracture_type}, "
        f"-{v.max_height_loss_pct:.0f} %\n{heights}"
    )


def sagittal_figure(case: Case, assessment: Assessment, *, px_mm: float | None = None) -> Any:
    """The annotated mid-sagittal picture (a matplotlib Figure, Agg backend).

    Each measured body is outlined in the colour of its Genant grade, its anterior, middle and
    posterior heights are drawn between the six landmarks, and its level, grade, type, loss and
    heights (Ha / Hm / Hp) are written beside it; levels not measured are listed under the
    picture with the reason.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    px = float(px_mm or max(0.5, min(case.volume.spacing_mm)))
    s = _curved_sagittal(case, assessment, px)
    img, lab, pts, coords, boxes = s["img"], s["lab"], s["pts"], s["coords"], s["boxes"]
    data = np.asarray(case.labels.data)  # type: ignore[union-attr]
    x0, x1, y0, y1 = s["extent"]
    h_mm, w_mm = y1 - y0, x1 - x0
    fig_h = 9.5
    fig_w = max(5.5, min(10.0, fig_h * w_mm / max(h_mm, 1.0) + 2.5))
    fig, ax = plt.subplots(figsize=(fig_w, fig_h))
    ax.imshow(
        img,
        cmap="gray",
        vmin=WINDOW_HU[0],
        vmax=WINDOW_HU[1],
        extent=(x0, x1, y0, y1),
        interpolation="bilinear",
    )
    xs_img = -pts[0, :, 1]
    zs_img = pts[:, 0, 2]
    missing = []
    for v in assessment.vertebrae:
        colour = GRADE_COLOURS.get(v.genant_grade, GRADE_COLOURS[None])
        lid = LEVEL_IDS[v.level]
        box = boxes.get(v.level)
        if v.measured and v.landmarks_ras_mm:
            o = np.asarray(v.centroid_ras_mm)
            ant = np.asarray(v.anterior_axis_ras)
            # cut the label just behind the posterior wall (the landmark is 2 mm inside it)
            v_cut = float((np.asarray(v.landmarks_ras_mm["sp"]) - o) @ ant) - 3.0
            m = _smooth_mask(data, lid, box, coords)
            m[((pts - o) @ ant) < v_cut] = 0.0
            if (m >= 0.5).any():
                ax.contour(xs_img, zs_img, m, levels=[0.5], colors=[colour], linewidths=1.3)
            for k in ("a", "m", "p"):
                p, q = v.landmarks_ras_mm[f"s{k}"], v.landmarks_ras_mm[f"i{k}"]
                ax.plot([-p[1], -q[1]], [p[2], q[2]], color=colour, lw=1.1)
                ax.plot([-p[1], -q[1]], [p[2], q[2]], "o", color=colour, ms=2.5)
            sa, ia = v.landmarks_ras_mm["sa"], v.landmarks_ras_mm["ia"]
            tx, ty = -max(sa[1], ia[1]) - 5.0, 0.5 * (sa[2] + ia[2])
            ax.text(
                tx,
                ty,
                _label_text(v),
                color=colour,
                fontsize=7,
                ha="right",
                va="center",
                fontweight="bold" if v.fractured else "normal",
                clip_on=True,
                bbox={"facecolor": "black", "alpha": 0.45, "edgecolor": "none", "pad": 1.0},
            )
        else:
            missing.append(f"{v.level}: {v.status.removeprefix('not measurable: ')}")
            sel = lab == lid
            if sel.any():
                rr, cc = np.nonzero(sel)
                ty = float(zs_img[int(np.median(rr))])
                tx = float(xs_img[int(cc.min())]) - 4.0
                ax.text(
                    tx,
                    ty,
                    f"{v.level} n/m",
                    color=GRADE_COLOURS[None],
                    fontsize=7,
                    ha="right",
                    va="center",
                    clip_on=True,
                )
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("anterior  <-  A-P position (mm)  ->  posterior", fontsize=8)
    ax.set_ylabel("superior (mm)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title(
        f"{assessment.case_name}: curved mid-sagittal reformat through the vertebral bodies\n"
        "Genant grade, Ha / Hm / Hp per body; research software, not a medical device",
        fontsize=9,
    )
    handles = [
        plt.Line2D([], [], color=GRADE_COLOURS[g], lw=2, label=lbl)
        for g, lbl in (
            (0, "grade 0"),
            (1, "grade 1"),
            (2, "grade 2"),
            (3, "grade 3"),
            (None, "not graded"),
        )
    ]
    ax.legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.7)
    if missing:
        wrapped = "\n".join(textwrap.fill(m, 110) for m in missing)
        ax.text(
            0.0,
            -0.06,
            "Not measured:\n" + wrapped,
            transform=ax.transAxes,
            fontsize=6.5,
            va="top",
            ha="left",
            color="#444444",
        )
    fig.tight_layout()
    return fig


def sagittal_png(case: Case, assessment: Assessment, *, dpi: int = 110) -> bytes:
    """The annotated mid-sagittal picture as PNG bytes."""
    return figure_from_matplotlib(sagittal_figure(case, assessment), "", dpi=dpi).png


def _html_table(a: Assessment) -> str:
    head = (
        "<tr><th>level</th><th>Ha</th><th>Hm</th><th>Hp</th><th>Ha/Hp</th><th>Hm/Hp</th>"
        "<th>loss %</th><th>grade</th><th>type</th><th>wedge °</th><th>HU</th><th>notes</th></tr>"
    )
    rows = []
    for v in a.vertebrae:
        if not v.measured:
            rows.append(
                f"<tr><td>{v.level}</td>"
                + "<td></td>" * 10
                + f"<td>{html.escape(v.status)}</td></tr>"
            )
            continue
        cls = ' class="flag"' if v.fractured else ""
        rows.append(
            f"<tr{cls}><td>{v.level}</td><td>{_fmt(v.height_anterior_mm)}</td>"
            f"<td>{_fmt(v.height_middle_mm)}</td><td>{_fmt(v.height_posterior_mm)}</td>"
            f"<td>{_fmt(v.ha_hp, 2)}</td><td>{_fmt(v.hm_hp, 2)}</td>"
            f"<td>{_fmt(v.max_height_loss_pct, 0)}</td><td>{_grade_text(v)}</td>"
            f"<td>{v.fracture_type or ''}</td><td>{_fmt(v.wedge_angle_deg)}</td>"
            f"<td>{_fmt(v.trabecular_hu, 0)}</td><td>{html.escape('; '.join(v.flags))}</td></tr>"
        )
    return "<table>" + head + "".join(rows) + "</table>"


def report_section(case: Case, assessment: Assessment) -> Section:
    """The report section (key ``"assess"``): table, summary and the annotated picture."""
    body = [
        _html_table(assessment),
        "<ul>"
        + "".join(f"<li>{html.escape(x)}</li>" for x in _summary_lines(assessment))
        + "</ul>",
        "<p>"
        + " ".join(html.escape(n) for n in assessment.notes)
        + " Heights in mm; ? marks a borderline grade. See docs/references/assess.md for the "
        "thresholds and their sources.</p>",
    ]
    fig = sagittal_figure(case, assessment)
    figure: Figure = figure_from_matplotlib(
        fig,
        "Mid-sagittal reformat: each vertebral body outlined in the colour of its Genant grade, "
        "with its anterior, middle and posterior heights.",
    )
    return Section(key="assess", title="Fracture assessment", html="".join(body), figures=(figure,))


def write_outputs(case: Case, assessment: Assessment, out_dir: str | Path) -> dict[str, Path]:
    """Write ``assess.json``, ``assess.csv`` and ``assess_sagittal.png`` into ``out_dir``.

    Everything is made in memory first, then written all or none
    (:func:`kypho.core.atomic.write_files_atomic`).  Returns the paths by kind.
    """
    out = Path(out_dir)
    files = {
        "assess.json": to_json(assessment).encode("utf-8"),
        "assess.csv": to_csv(assessment).encode("utf-8"),
        "assess_sagittal.png": sagittal_png(case, assessment),
    }
    write_files_atomic(out, files)
    return {"json": out / "assess.json", "csv": out / "assess.csv",
            "png": out / "assess_sagittal.png"}


def summary_lines(assessment: Assessment) -> list[str]:
    """Alignment, density screen and candidates as plain sentences."""
    return _summary_lines(assessment)
