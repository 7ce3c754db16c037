"""Guided insertion rehearsal: the trocar advances in steps under simulated AP and lateral views.

At every step kypho renders an AP and a lateral frame with the trocar (a steel cylinder,
:class:`kypho.fluoro.Trocar`), counts both exposures in a :class:`kypho.fluoro.DoseSession`, and
checks two things:

- **the fluoroscopic rule** (Radiology Key, "Spine Percutaneous Interventions"; technique review in
  clinical-anchors 4a): on the AP view the tip must not pass the medial wall of the pedicle before,
  on the lateral view, it has reached the posterior wall of the vertebral body.  Tested on the
  frames' geometry: the tip and the pedicle's medial wall at the isthmus are projected on the AP
  detector, the tip and the body's posterior wall (midline, pedicle height) on the lateral one;
- **the 3D check**: a breach of the path (:func:`~kypho.plan.margins.evaluate_path`) counts from
  the first step whose tip has reached it.

Outputs: a contact sheet (PNG), an animated GIF (Pillow), a step log and a summary.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from kypho.anatomy.spine import SpineAnatomy
from kypho.core.atomic import write_files_atomic
from kypho.core.case import Case
from kypho.core.outputs import dumps, envelope
from kypho.errors import InvalidParameterError
from kypho.plan.margins import evaluate_path
from kypho.plan.paths import TrocarPath

__all__ = [
    "MAX_STEPS",
    "REHEARSAL_FILES",
    "REHEARSE_FORMAT_VERSION",
    "Rehearsal",
    "RehearsalStep",
    "rehearse",
    "write_rehearsal",
]

#: Layout version of the rehearsal's ``summary.json`` (``"format": "kypho.rehearse/1"``).
REHEARSE_FORMAT_VERSION = 1
#: The files :func:`write_rehearsal` writes.
REHEARSAL_FILES = ("contact.png", "rehearsal.gif", "steps.jsonl", "summary.json")

Progress = Callable[[float, str], None]
#: Depth (mm) behind the docking point where the rehearsal starts (tip in the soft tissue).
#: **Model choice**.
START_BEHIND_MM = 10.0
#: Most steps a rehearsal renders (two frames each): a time budget, model choice (an 80 mm
#: path at the CLI's finest 0.5 mm step is 180 steps).
MAX_STEPS = 500
#: Detector field (mm) of the rehearsal frames: a magnified field centred on the level.
#: **Model choice** (C-arms offer magnification modes; no device figure cited).
FIELD_MM = 160.0


@dataclass(frozen=True)
class RehearsalStep:
    """One step of the insertion."""

    step: int
    depth_mm: float  # tip position along the path from the docking point (negative: behind it)
    tip_ras_mm: tuple[float, float, float]
    ap_tip_medial_mm: float  # on the AP view, how far the tip lies medial to the medial wall
    lateral_tip_past_wall_mm: float  # on the lateral view, how far anterior of the posterior wall
    rule_violation: bool
    breaches: tuple[str, ...]  # 3D breaches reached so far
    frames_total: int
    air_kerma_mgy: float


@dataclass(frozen=True, eq=False)
class Rehearsal:
    """Result of :func:`rehearse`: steps, 8-bit AP and lateral pictures, dose and verdicts."""

    path: TrocarPath
    steps: tuple[RehearsalStep, ...]
    ap_images: tuple[NDArray[np.uint8], ...]
    lateral_images: tuple[NDArray[np.uint8], ...]
    ap_marks: tuple[tuple[float, float], ...] = field(default_factory=tuple)
    lateral_marks: tuple[tuple[float, float], ...] = field(default_factory=tuple)
    summary: dict = field(default_factory=dict)

    @property
    def first_rule_violation_step(self) -> int | None:
        return next((s.step for s in self.steps if s.rule_violation), None)

    def first_breach_step(self, wall: str | None = None) -> int | None:
        for s in self.steps:
            if s.breaches and (wall is None or wall in s.breaches):
                return s.step
        return None


def _image_offset(carm, p: NDArray, q: NDArray, ref: NDArray, toward: NDArray) -> float:
    """Signed distance (mm at the isocentre) of ``p`` beyond ``ref`` along the projection of
    ``toward`` on the detector."""
    uv = carm.project(np.stack([p, ref, ref + 5.0 * toward]))
    axis = uv[2] - uv[1]
    n = float(np.linalg.norm(axis))
    if not n > 0:
        return 0.0
    pitch = carm.detector.pixel_pitch_mm[1] / carm.magnification
    return float((uv[0] - uv[1]) @ (axis / n)) * pitch


def rehearse(
    case: Case,
    path: TrocarPath,
    *,
    step_mm: float = 2.5,
    size: int = 256,
    anatomy: SpineAnatomy | None = None,
    progress: Progress | None = None,
) -> Rehearsal:
    """Advance a trocar along ``path`` and render AP and lateral frames at every step.

    Parameters
    ----------
    case : Case
    path : TrocarPath
        A planned path or one the user gives (it may be wrong).
    step_mm : float
        Advance per step (mm).
    size : int
        Frame size in pixels.
    anatomy : SpineAnatomy, optional
        The case's measured anatomy (default :meth:`SpineAnatomy.of`): the vertebra's grid and
        the pedicle on the path's side come from it.
    progress : callable, optional
    """
    from kypho.fluoro import DoseSession, Trocar, prepare_volume, view_for_level
    from kypho.fluoro.detector import Detector
    from kypho.fluoro.sequence import render_sequence

    if not (step_mm > 0):
        raise InvalidParameterError(f"step must be positive, got {step_mm!r} mm")
    report = progress or (lambda f, m: None)
    spine = anatomy if anatomy is not None else SpineAnatomy.of(case)
    vertebra = spine.vertebra(path.level)
    grid = vertebra.grid
    side = path.side if path.side in ("left", "right") else "right"
    pedicle = vertebra.pedicles[side]  # type: ignore[index]
    evaluated = evaluate_path(grid, path, pedicle=pedicle, volume=case.volume)
    entry = np.asarray(path.entry_ras_mm)
    d = path.direction_ras
    length = path.bone_length_mm
    n_steps = (length + START_BEHIND_MM) / step_mm
    if not np.isfinite(n_steps) or n_steps > MAX_STEPS:
        raise InvalidParameterError(
            f"a rehearsal of {length + START_BEHIND_MM:.0f} mm in steps of {step_mm:g} mm would "
            f"take {n_steps:.3g} steps, over the {MAX_STEPS} allowed: use a longer step"
        )
    depths = [*list(np.arange(-START_BEHIND_MM, length, step_mm)), length]
    zoom = Detector(size, size, FIELD_MM, FIELD_MM)
    ap = view_for_level(case, path.level, "ap", anatomy=spine, detector=zoom)
    lat = view_for_level(case, path.level, "lateral", anatomy=spine, detector=zoom)
    dose = DoseSession()
    tips = [entry + depth * d for depth in depths]
    trocars = [[Trocar(tuple(t), tuple(t - 150.0 * d), gauge=path.gauge)] for t in tips]  # type: ignore[arg-type]
    pictures = render_sequence(
        prepare_volume(case.volume), (ap, lat), trocars, dose=dose, edge_enhance=0.0,
        progress=lambda f, m: report(f, f"rehearse {path.name}: {m}"),
    )
    med = np.asarray(pedicle.medial_wall_ras_mm)
    medial_dir = -np.asarray(pedicle.lateral_dir_ras)
    ped_s = grid.frame.to_local(np.asarray(pedicle.isthmus_ras_mm))[2]
    pw = grid.frame.to_ras([0.0, grid.body_posterior_a_mm, ped_s])
    ant = np.asarray(grid.frame.anterior)
    steps = []
    shots_per_step = 2
    for i, (depth, tip) in enumerate(zip(depths, tips, strict=True)):
        medial_mm = _image_offset(ap, tip, tip, med, medial_dir)
        past_mm = _image_offset(lat, tip, tip, pw, ant)
        reached = tuple(dict.fromkeys(b.wall for b in evaluated.breaches if b.depth_mm <= depth))
        frames_so_far = shots_per_step * (i + 1)
        steps.append(
            RehearsalStep(
                step=i,
                depth_mm=float(depth),
                tip_ras_mm=tuple(float(x) for x in tip),  # type: ignore[arg-type]
                ap_tip_medial_mm=medial_mm,
                lateral_tip_past_wall_mm=past_mm,
                rule_violation=bool(medial_mm > 0 and past_mm < 0),
                breaches=reached,
                frames_total=frames_so_far,
                air_kerma_mgy=float(dose.reference_air_kerma_mgy) * frames_so_far / dose.frames,
            )
        )
    ap_imgs = tuple(p[0] for p in pictures)
    lat_imgs = tuple(p[1] for p in pictures)
    ds = dose.summary()
    first_rule = next((s.step for s in steps if s.rule_violation), None)
    summary = {
        "path": path.name,
        "verdict_3d": evaluated.verdict,
        "reasons": list(evaluated.reasons),
        "steps": len(steps),
        "step_mm": step_mm,
        "shots": ds.frames,
        "fluoroscopy_time_s": round(ds.fluoroscopy_time_s, 2),
        "reference_air_kerma_mgy": round(ds.reference_air_kerma_mgy, 3),
        "dap_gy_cm2": round(ds.dap_gy_cm2, 4),
        "breaches": [
            {"wall": b.wall, "depth_mm": round(b.depth_mm, 2),
             "step": next((s.step for s in steps if b.wall in s.breaches), None)}
            for b in evaluated.breaches
        ],
        "first_rule_violation_step": first_rule,
        "rule": "AP: tip not medial to the medial pedicle wall before the lateral view shows it "
                "at the posterior wall of the body",
        "note": "Simulation for education; not a medical device.",
    }
    ap_marks = tuple(tuple(float(x) for x in ap.project(med[None])[0]) for _ in (0,))
    lat_marks = tuple(tuple(float(x) for x in lat.project(pw[None])[0]) for _ in (0,))
    report(1.0, f"rehearse {path.name}: done")
    return Rehearsal(evaluated, tuple(steps), ap_imgs, lat_imgs, ap_marks,  # type: ignore[arg-type]
                     lat_marks, summary)  # type: ignore[arg-type]


def _pair_image(reh: Rehearsal, i: int):
    from PIL import Image, ImageDraw

    a, b = reh.ap_images[i], reh.lateral_images[i]
    h = a.shape[0]
    img = Image.new("RGB", (a.shape[1] + b.shape[1] + 4, h + 16), (0, 0, 0))
    img.paste(Image.fromarray(a).convert("RGB"), (0, 16))
    img.paste(Image.fromarray(b).convert("RGB"), (a.shape[1] + 4, 16))
    dr = ImageDraw.Draw(img)
    s = reh.steps[i]
    col = (255, 60, 60) if (s.rule_violation or s.breaches) else (120, 255, 120)
    flag = "RULE!" if s.rule_violation else ""
    flag += (" BREACH:" + ",".join(s.breaches)) if s.breaches else ""
    dr.text((2, 2), f"{i:02d} {s.depth_mm:+.0f}mm {flag}", fill=col)
    # Marks: medial pedicle wall on AP (vertical tick), posterior body wall on lateral.
    if reh.ap_marks:
        x, y = reh.ap_marks[0]
        dr.line([(x, 16 + y - 8), (x, 16 + y + 8)], fill=(255, 176, 0), width=1)
    if reh.lateral_marks:
        x, y = reh.lateral_marks[0]
        x += a.shape[1] + 4
        dr.line([(x, 16 + y - 12), (x, 16 + y + 12)], fill=(79, 195, 247), width=1)
    return img


def write_rehearsal(reh: Rehearsal, out_dir: str | Path, *, columns: int = 4) -> dict[str, Path]:
    """Write ``contact.png``, ``rehearsal.gif``, ``steps.jsonl`` and ``summary.json`` (the
    envelope ``kypho.rehearse/1``): made in memory, then written all or none.  Returns the
    paths by kind."""
    import io

    from PIL import Image

    out = Path(out_dir)
    pairs = [_pair_image(reh, i) for i in range(len(reh.steps))]
    w, h = pairs[0].size
    rows = (len(pairs) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * (w + 4), rows * (h + 4)), (30, 30, 30))
    for i, p in enumerate(pairs):
        sheet.paste(p, ((i % columns) * (w + 4), (i // columns) * (h + 4)))
    png = io.BytesIO()
    sheet.save(png, format="PNG")
    gif = io.BytesIO()
    pairs[0].save(gif, format="GIF", save_all=True, append_images=pairs[1:], duration=400, loop=0)
    files = {
        "contact.png": png.getvalue(),
        "rehearsal.gif": gif.getvalue(),
        "steps.jsonl": "".join(json.dumps(asdict(s)) + "\n" for s in reh.steps).encode(),
        "summary.json": dumps(envelope("rehearse", REHEARSE_FORMAT_VERSION, reh.summary)).encode(),
    }
    write_files_atomic(out, files)
    kinds = {"contact.png": "contact", "rehearsal.gif": "gif", "steps.jsonl": "steps",
             "summary.json": "summary"}
    return {kinds[name]: out / name for name in files}
