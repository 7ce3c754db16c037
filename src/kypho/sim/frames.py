"""The simulated procedure under fluoroscopy: AP and lateral frames, contact sheet, animation, dose.

Frames are rendered with :mod:`kypho.fluoro` (digitally reconstructed radiographs of the case's CT)
with the instruments of the moment added to the line integrals: the trocar(s) (steel, 11 G),
the contrast-filled balloon(s) (kyphoplasty) and the radiopaque cement, drawn from the
simulation's filling order (:meth:`SimulationResult.cement_fraction_at`).  Each balloon is drawn
as the prolate spheroid (:class:`kypho.fluoro.Balloon`) with the cavity's volume and its extent
along the trocar, centred on the cavity part nearest its trocar tip.

Fluoroscopy time and dose of the rehearsal (:func:`procedure_dose`) follow a stated exposure
model (model choices, ``docs/references/sim.md``): continuous pulsed lateral fluoroscopy during
the cement injection (Provenzano 2004: continuous lateral fluoroscopy during injection), one AP
and one lateral spot frame per 0.5 mL of balloon inflation and per mL of cement, and one AP and
one lateral frame before and after.  Access (trocar placement) is the planning stage's and is not
counted here.

Research and education software, not a medical device.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kypho.anatomy.spine import SpineAnatomy
from kypho.core.case import Case
from kypho.core.outputs import figure_png
from kypho.errors import InvalidParameterError
from kypho.fluoro import (
    Balloon,
    CArm,
    CementVolume,
    Detector,
    DoseSession,
    DoseSummary,
    Trocar,
    ap_view,
    lateral_view,
    prepare_volume,
    view_for_level,
)
from kypho.fluoro.sequence import render_sequence
from kypho.sim.simulate import SimulationResult

__all__ = [
    "AP_SPOTS_PER_ML_CEMENT",
    "FIELD_DETECTOR_MM",
    "SPOTS_PER_ML_BALLOON",
    "ProcedureFrame",
    "animation_gif",
    "balloon_instruments",
    "contact_sheet_png",
    "procedure_carms",
    "procedure_dose",
    "procedure_frames",
    "trocar_instruments",
]

#: Detector area used for the rehearsal frames (mm, square): a collimated/zoomed field of about
#: 120 mm at the isocentre with the default 1000/600 mm geometry (display model choice).
FIELD_DETECTOR_MM = 200.0
#: AP + lateral spot pairs per 0.5 mL of balloon inflation (model choice).
SPOTS_PER_ML_BALLOON = 2.0
#: AP + lateral spot pairs per mL of cement, on top of continuous lateral fluoroscopy (model
#: choice).
AP_SPOTS_PER_ML_CEMENT = 1.0
#: Trocar gauge drawn (11 G, inside Provenzano 2004's 11-13 G for vertebroplasty).
TROCAR_GAUGE = 11
#: Length of trocar drawn behind the tip (mm): model choice, well out of the field.
TROCAR_LENGTH_MM = 160.0


@dataclass(frozen=True, eq=False)
class ProcedureFrame:
    """One moment of the rehearsal: AP and lateral monitor pictures (8-bit)."""

    label: str
    injected_ml: float
    balloon_fraction: float
    ap: NDArray[np.uint8]
    lateral: NDArray[np.uint8]


def procedure_carms(
    result: SimulationResult,
    case: Case | None = None,
    *,
    size: int = 192,
    anatomy: SpineAnatomy | None = None,
) -> tuple[CArm, CArm]:
    """True AP and true (left) lateral views of the treated level (from the case's anatomy when
    a case is given, else from the bone model's centroid and axes)."""
    det = Detector(rows=size, cols=size, height_mm=FIELD_DETECTOR_MM, width_mm=FIELD_DETECTOR_MM)
    if case is not None:
        ap = view_for_level(case, result.level, "ap", anatomy=anatomy, detector=det)
        lat = view_for_level(case, result.level, "lateral", anatomy=anatomy, detector=det)
        return ap, lat
    m = result.model
    kw = dict(superior_axis_ras=m.superior_axis_ras, anterior_axis_ras=m.anterior_axis_ras,
              detector=det)
    return ap_view(m.centroid_ras_mm, **kw), lateral_view(m.centroid_ras_mm, **kw)


def trocar_instruments(result: SimulationResult) -> list[Trocar]:
    """One 11 G trocar per tip, along its trocar axis."""
    out = []
    axes = result.trocar_axes_ras or tuple(result.model.anterior_axis_ras
                                           for _ in result.trocar_tips_ras_mm)
    for tip, ax in zip(result.trocar_tips_ras_mm, axes, strict=True):
        t = np.asarray(tip, float)
        a = np.asarray(ax, float) / np.linalg.norm(ax)
        out.append(Trocar(tuple(t), tuple(t - TROCAR_LENGTH_MM * a), gauge=TROCAR_GAUGE))
    return out


def balloon_instruments(result: SimulationResult, fraction: float = 1.0) -> list[Balloon]:
    """Contrast-filled balloons at ``fraction`` of their final volume (kyphoplasty only).

    Each balloon takes the cavity voxels nearest its tip; it is drawn as a prolate spheroid
    along its trocar with that part's volume (plus its share of any endplate lift) and its
    extent along the trocar (scaled by ``fraction^(1/3)``).
    """
    if result.balloon is None or fraction <= 0:
        return []
    if not 0 < fraction <= 1:
        raise InvalidParameterError(f"balloon fraction must be in (0, 1], got {fraction}")
    m = result.model
    cav = np.argwhere(m.cavity)
    if len(cav) == 0:
        return []
    ras = m.ijk_to_ras(cav)
    tips = np.asarray(result.trocar_tips_ras_mm, float)
    axes = np.asarray(result.trocar_axes_ras or [m.anterior_axis_ras] * len(tips), float)
    owner = np.argmin(np.linalg.norm(ras[:, None, :] - tips[None], axis=2), axis=1)
    lift_each = result.balloon.lift_volume_ml * 1000.0 / len(tips)
    out = []
    for b in range(len(tips)):
        pts = ras[owner == b]
        if len(pts) == 0:
            continue
        a = axes[b] / np.linalg.norm(axes[b])
        vol = (len(pts) * m.voxel_volume_mm3 + lift_each) * fraction
        t = (pts - pts.mean(0)) @ a
        length = max(float(np.ptp(t)) + m.spacing_mm, 2.0) * fraction ** (1.0 / 3.0)
        diam = float(np.sqrt(6.0 * vol / (np.pi * length)))
        out.append(Balloon(tuple(pts.mean(0)), tuple(a), length, diam))
    return out


def _moments(result: SimulationResult, n_cement: int) -> list[tuple[str, float, float]]:
    """(label, injected mL, balloon fraction) of the moments shown."""
    out = [("trocar(s) in place", 0.0, 0.0)]
    if result.balloon is not None:
        out.append(("balloon half inflated", 0.0, 0.5))
        p = result.balloon.max_pressure_mpa
        out.append((f"balloon {result.balloon.cavity_volume_ml:.1f} mL, {p:.2f} MPa", 0.0, 1.0))
    v = result.injected_volume_ml
    for i in range(1, n_cement + 1):
        vi = v * i / n_cement
        out.append((f"cement {vi:.1f} mL", vi, 0.0))
    return out


def procedure_frames(
    case: Case,
    result: SimulationResult,
    *,
    size: int = 192,
    n_cement: int = 3,
    dose: DoseSession | None = None,
    anatomy: SpineAnatomy | None = None,
) -> tuple[ProcedureFrame, ...]:
    """AP and lateral frames at the chosen moments of the procedure.

    Moments: trocar(s) in place; for kyphoplasty the balloon half and fully inflated; then the
    cement at ``n_cement`` equal steps of the injected volume.  Rendered by
    :func:`kypho.fluoro.sequence.render_sequence`; each frame is counted in ``dose`` when given.
    """
    if n_cement < 1:
        raise InvalidParameterError(f"n_cement must be >= 1, got {n_cement}")
    ap, lat = procedure_carms(result, case, size=size, anatomy=anatomy)
    trocars = trocar_instruments(result)
    moments = _moments(result, n_cement)
    instruments = []
    for _label, v, bf in moments:
        inst: list = list(trocars)
        inst += balloon_instruments(result, bf) if bf > 0 else []
        if v > 0:
            frac = result.cement_fraction_at(v)
            if frac.any():
                inst.append(CementVolume(np.clip(frac, 0.0, 1.0), result.affine))
        instruments.append(inst)
    pictures = render_sequence(prepare_volume(case.volume), (ap, lat), instruments, dose=dose)
    return tuple(
        ProcedureFrame(label, v, bf, pics[0], pics[1])
        for (label, v, bf), pics in zip(moments, pictures, strict=True)
    )


def procedure_dose(
    result: SimulationResult,
    case: Case | None = None,
    *,
    rendered_frames: int = 0,
    anatomy: SpineAnatomy | None = None,
) -> DoseSummary:
    """Fluoroscopy time and dose of the simulated procedure under the stated exposure model.

    Counts continuous pulsed lateral fluoroscopy for the injection time (injected volume /
    rate), ``SPOTS_PER_ML_BALLOON`` AP+lateral pairs per mL of balloon, ``AP_SPOTS_PER_ML_CEMENT``
    pairs per mL of cement, one pair before and one after, plus ``rendered_frames`` pairs (the
    pictures shown).  Trocar placement is not included (planning stage).
    """
    ap, lat = procedure_carms(result, case, size=64, anatomy=anatomy)
    s = DoseSession()
    pairs = 2 + int(rendered_frames)
    if result.balloon is not None:
        pairs += int(np.ceil(SPOTS_PER_ML_BALLOON * result.balloon.cavity_volume_ml))
    pairs += int(np.ceil(AP_SPOTS_PER_ML_CEMENT * result.injected_volume_ml))
    s.record(ap, pairs)
    s.record(lat, pairs)
    inj_s = result.injected_volume_ml / max(result.rate_ml_per_min, 1e-9) * 60.0
    s.fluoroscopy(lat, inj_s)
    return s.summary()


def contact_sheet_png(
    frames: Sequence[ProcedureFrame], *, title: str = "", dpi: int = 100
) -> bytes:
    """All moments as a grid: one column per moment, AP on top, lateral below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(frames)
    if n == 0:
        raise InvalidParameterError("no frames to show")
    fig, axes = plt.subplots(2, n, figsize=(2.3 * n, 5.0), squeeze=False)
    for c, fr in enumerate(frames):
        for r, (img, view) in enumerate(((fr.ap, "AP"), (fr.lateral, "lateral"))):
            ax = axes[r][c]
            ax.imshow(img, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(fr.label, fontsize=8)
            if c == 0:
                ax.set_ylabel(view, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return figure_png(fig, dpi=dpi)


def animation_gif(frames: Sequence[ProcedureFrame], *, ms_per_frame: int = 700) -> bytes:
    """An animated GIF: AP and lateral side by side, one image per moment, with its label."""
    from PIL import Image, ImageDraw

    if not frames:
        raise InvalidParameterError("no frames to animate")
    images = []
    for fr in frames:
        pair = np.concatenate([fr.ap, np.full((fr.ap.shape[0], 4), 0, np.uint8), fr.lateral],
                              axis=1)
        band = np.zeros((14, pair.shape[1]), np.uint8)
        img = Image.fromarray(np.concatenate([band, pair], axis=0))
        ImageDraw.Draw(img).text((3, 1), f"{fr.label}   (AP | lateral)", fill=255)
        images.append(img.convert("P"))
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:],
                   duration=ms_per_frame, loop=0)
    return buf.getvalue()
