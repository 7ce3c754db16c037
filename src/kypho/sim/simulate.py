"""Simulate kyphoplasty or vertebroplasty on one vertebral body.

:func:`simulate` runs the whole procedure: builds the porous model of the body
(:mod:`kypho.sim.bone`), inflates the balloon(s) for kyphoplasty (:mod:`kypho.sim.balloon`),
injects the cement (:mod:`kypho.sim.flow`) and summarises what a surgeon wants to know: cement
volume and fill, whether it crosses the midline and touches the endplates, every leak with its
class and volume, the balloon's pressure-volume curve, heights and wedge angle before and after.
``mode="preview"`` replaces the time-stepped injection by a filling order from a shortest-path
pass over the flow resistance (well under a second).

Research and education software, not a medical device.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage
from scipy.sparse.csgraph import dijkstra

from kypho.errors import InvalidParameterError
from kypho.sim.balloon import (
    BalloonResult,
    inflate,
)
from kypho.sim.bone import (
    BodyGeometry,
    BoneModel,
    build_bone_model,
)
from kypho.sim.cement import (
    DEFAULT_INJECTION_RATE_ML_PER_MIN,
    DEFAULT_START_TIME_MIN,
    get_cement,
)
from kypho.sim.flow import (
    FlowGrid,
    InjectionSettings,
    LeakRecord,
    ProgressCallback,
    inject,
)
from kypho.sim.spec import TECHNIQUES, SimulationSpec, Technique

__all__ = [
    "DEFAULT_VP_VOLUME_ML",
    "KP_MIN_VOLUME_ML",
    "KP_OVERFILL_FRACTION",
    "TECHNIQUES",
    "SimulationResult",
    "default_trocar_tips",
    "simulate",
]


#: Default vertebroplasty volume (mL): cadaver L1 VP mean 4.4 mL (3.8-5.0), J Orthop Surg Res
#: 2020, doi:10.1186/s13018-020-01906-0; 4.0 is a model choice inside that range.
DEFAULT_VP_VOLUME_ML = 4.0
#: Kyphoplasty default: cement = cavity volume x (1 + this).  FREE trial: IBT inflation volume
#: about equal to the cement volume (2.4 cc per side); the 10 % overfill is a model choice.
KP_OVERFILL_FRACTION = 0.10
#: Kyphoplasty default volume when the balloon opened (almost) nothing (mL): model choice.
KP_MIN_VOLUME_ML = 1.0
#: Cement in a voxel counts as "cement" for distribution measures at fill >= this (model choice).
_FILLED = 0.5


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """Everything one simulated procedure produced.

    Volumes in mL, heights in mm, angles in degrees, pressures in kPa (injection) or MPa
    (balloon).  ``cement_fraction`` is the cement volume fraction of every voxel of the working
    grid (``affine``): inside the body it is fill x porosity (1 in the cavity), outside it shows
    leaked cement as blobs next to the exits.  ``leaks`` lists every exit cement left through.
    """

    technique: str
    level: str
    cement: str
    mode: str
    seed: int
    injected_volume_ml: float
    cement_inside_ml: float
    fill_fraction: float
    crosses_midline: bool
    endplate_contact: dict[str, bool]
    leaks: tuple[LeakRecord, ...]
    stop_reason: str
    pv_curve: NDArray[np.float64] | None
    cavity_volume_ml: float
    heights_before_mm: tuple[float, float, float]
    heights_after_mm: tuple[float, float, float]
    wedge_angle_before_deg: float
    wedge_angle_after_deg: float
    cement_fraction: NDArray[np.float32]
    affine: NDArray[np.float64]
    injection_history: dict[str, NDArray[np.float64]]
    timings_s: dict[str, float]
    model: BoneModel
    balloon: BalloonResult | None = None
    trocar_tips_ras_mm: tuple[tuple[float, float, float], ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)
    trocar_axes_ras: tuple[tuple[float, float, float], ...] = ()
    arrival_ml: NDArray[np.float32] | None = None
    start_time_min: float = DEFAULT_START_TIME_MIN
    rate_ml_per_min: float = DEFAULT_INJECTION_RATE_ML_PER_MIN

    def cement_fraction_at(self, injected_ml: float) -> NDArray[np.float32]:
        """Cement volume fraction per voxel when ``injected_ml`` had been injected.

        Uses the filling order (:attr:`arrival_ml`): voxels reached by then keep their final
        fraction; leaked cement outside the body is scaled by the share leaked by then
        (approximation for pictures, not a re-simulation).
        """
        if self.arrival_ml is None or injected_ml >= self.injected_volume_ml - 1e-9:
            return self.cement_fraction
        v = max(float(injected_ml), 0.0)
        m = self.model
        inside = m.fluid & (self.arrival_ml <= v + 1e-9)
        out = np.where(inside, self.cement_fraction, 0.0).astype(np.float32)
        h = self.injection_history
        leaked_then = 0.0
        if h and len(h.get("injected_ml", ())):
            leaked_then = float(np.interp(v, h["injected_ml"], h["leaked_ml"], left=0.0))
        total = self.leaked_volume_ml
        if total > 0 and leaked_then > 0:
            outside = ~m.body & (self.cement_fraction > 0)
            # the blobs grow outward from the body: keep the share nearest the body
            idx = np.flatnonzero(outside.ravel())
            dist = ndimage.distance_transform_edt(~m.body).ravel()[idx]
            idx = idx[np.argsort(dist, kind="stable")]
            keep = idx[: int(np.ceil(len(idx) * min(leaked_then / total, 1.0)))]
            out.ravel()[keep] = self.cement_fraction.ravel()[keep]
        return out

    @property
    def leaked_volume_ml(self) -> float:
        return float(sum(lk.volume_ml for lk in self.leaks))

    def leaked(self, min_volume_ml: float = 0.0) -> bool:
        """True if any exit took more than ``min_volume_ml``."""
        return any(lk.volume_ml > min_volume_ml for lk in self.leaks)

    @property
    def height_restoration_pct(self) -> float | None:
        """Anterior height regained as a percentage of the anterior height lost (or None)."""
        normal = self.model.normal_heights_mm
        if normal is None:
            return None
        lost = normal[0] - self.heights_before_mm[0]
        if lost <= 1e-6:
            return None
        return 100.0 * (self.heights_after_mm[0] - self.heights_before_mm[0]) / lost

    def summary(self) -> dict[str, object]:
        """JSON-able key figures."""
        return {
            "technique": self.technique,
            "level": self.level,
            "cement": self.cement,
            "mode": self.mode,
            "injected_ml": round(self.injected_volume_ml, 3),
            "inside_ml": round(self.cement_inside_ml, 3),
            "fill_fraction": round(self.fill_fraction, 4),
            "crosses_midline": self.crosses_midline,
            "endplate_contact": dict(self.endplate_contact),
            "leaks": [
                {"exit": lk.name, "class": lk.kind, "yeom_type": lk.yeom_type,
                 "volume_ml": round(lk.volume_ml, 4)}
                for lk in self.leaks
            ],
            "stop_reason": self.stop_reason,
            "cavity_ml": round(self.cavity_volume_ml, 3),
            "heights_before_mm": [round(h, 2) for h in self.heights_before_mm],
            "heights_after_mm": [round(h, 2) for h in self.heights_after_mm],
            "wedge_angle_before_deg": round(self.wedge_angle_before_deg, 2),
            "wedge_angle_after_deg": round(self.wedge_angle_after_deg, 2),
            "timings_s": {k: round(v, 3) for k, v in self.timings_s.items()},
        }


def default_trocar_tips(
    model: BoneModel, *, technique: Technique = "vertebroplasty", bipedicular: bool = False
) -> tuple[tuple[float, float, float], ...]:
    """Usual needle-tip positions when no plan is given.

    Vertebroplasty: the midline of the anterior third (openradiology.org; Authorea 514879:
    "midline of the anterior third"); bipedicular tips 1/5 of the width either side.
    Kyphoplasty: the balloon centred in the middle of the body's depth, slightly anterior, at
    mid-height (model choice); bipedicular balloons 1/5 of the width either side.
    """
    c = np.asarray(model.centroid_ras_mm)
    a = np.asarray(model.anterior_axis_ras)
    s = np.asarray(model.superior_axis_ras)
    r = np.cross(a, s)
    r /= np.linalg.norm(r)
    # the middle of the anterior third lies depth/3 in front of the centre
    fwd = model.depth_mm / 3.0 if technique == "vertebroplasty" else 0.08 * model.depth_mm
    base = c + a * fwd
    # put the tip at mid-height of the cancellous space along the superior axis
    col = _column_mid(model, base, s)
    lat = [0.0] if not bipedicular else [-0.2 * model.width_mm, 0.2 * model.width_mm]
    tips = []
    for dx in lat:
        p = col + r * dx
        tips.append(tuple(float(v) for v in model.snap_to_fluid(p)))  # type: ignore[union-attr]
    return tuple(tips)  # type: ignore[return-value]


def _column_mid(model: BoneModel, p: NDArray, s: NDArray) -> NDArray:
    ts = np.arange(-40.0, 40.0, model.spacing_mm / 2)
    pts = p + ts[:, None] * s
    ijk = np.rint(model.ras_to_ijk(pts)).astype(int)
    ok = np.all((ijk >= 0) & (ijk < np.array(model.shape)), axis=1)
    inside = np.zeros(len(ts), bool)
    inside[ok] = model.fluid[tuple(ijk[ok].T)]
    if not inside.any():
        return p
    return p + s * float(ts[inside].mean())


def _check_volume(volume_ml: float | None, model: BoneModel) -> None:
    if volume_ml is not None and volume_ml > model.body_volume_ml:
        raise InvalidParameterError(
            f"cement volume {volume_ml:.2f} mL exceeds the volume of the {model.level} body "
            f"({model.body_volume_ml:.2f} mL)"
        )


def simulate(
    body: BodyGeometry | BoneModel,
    spec: SimulationSpec | None = None,
    *,
    trocar_tips_ras_mm: Sequence[ArrayLike] | None = None,
    trocar_axes_ras: Sequence[ArrayLike] | None = None,
    progress: ProgressCallback | None = None,
    **changes: Any,
) -> SimulationResult:
    """Simulate one kyphoplasty or vertebroplasty.

    Parameters
    ----------
    body : BodyGeometry or BoneModel
        The vertebral body (a prebuilt :class:`BoneModel` skips the model build).
    spec : SimulationSpec, optional
        The procedure (technique, cement, volume, balloon, model options...); default
        :class:`SimulationSpec()`.  Keyword ``changes`` (``technique="vertebroplasty"``) vary it.
    trocar_tips_ras_mm : sequence of 3-vectors, optional
        Needle tips (balloon centres for kyphoplasty), RAS mm; default
        :func:`default_trocar_tips` (unipedicular).
    trocar_axes_ras : sequence of 3-vectors, optional
        Trocar directions (balloon axes); default the body's anterior axis.
    progress : callable, optional
        ``progress(fraction, message)``.

    Raises
    ------
    InvalidParameterError
        Unknown technique/cement/balloon, non-positive rate or volume, a volume beyond the
        body, or a trocar tip outside the body.
    """
    spec = (spec or SimulationSpec()).with_(**changes)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    technique = spec.technique
    cem = get_cement(spec.cement)
    seed = spec.seed
    if isinstance(body, BoneModel):
        model = body
    else:
        model = build_bone_model(
            body, calibration=spec.calibration, spacing_mm=spec.spacing_mm,
            heterogeneity_sigma=spec.heterogeneity_sigma, venous_exits=spec.venous_exits,
            seed=seed,
        )
    timings["build_model"] = time.perf_counter() - t0
    _check_volume(spec.volume_ml, model)
    if trocar_tips_ras_mm is None:
        tips = default_trocar_tips(model, technique=technique)
    else:
        tips = tuple(tuple(float(x) for x in np.asarray(t, float)) for t in trocar_tips_ras_mm)
        if not tips:
            raise InvalidParameterError("trocar_tips_ras_mm is empty")
    src = [model.nearest_fluid_voxel(t, what=f"trocar tip {i + 1}") for i, t in enumerate(tips)]
    if trocar_axes_ras is None:
        axes = tuple(tuple(float(x) for x in model.anterior_axis_ras) for _ in tips)
    else:
        if len(trocar_axes_ras) != len(tips):
            raise InvalidParameterError(
                f"{len(trocar_axes_ras)} trocar axes for {len(tips)} trocar tips: give one each"
            )
        axes_l = []
        for i, ax in enumerate(trocar_axes_ras):
            v = np.asarray(ax, float).reshape(-1)
            if v.shape != (3,) or not np.all(np.isfinite(v)) or np.linalg.norm(v) < 1e-9:
                raise InvalidParameterError(f"trocar axis {i + 1} must be a non-zero 3-vector")
            axes_l.append(tuple(float(x) for x in v / np.linalg.norm(v)))
        axes = tuple(axes_l)
    if progress is not None:
        progress(0.0, "bone model built")

    bres: BalloonResult | None = None
    work = model
    t1 = time.perf_counter()
    if technique == "kyphoplasty":
        bres = inflate(
            model, tips, axes, balloon=spec.balloon, volume_ml=spec.balloon_volume_ml,
            pressure_cap_mpa=spec.pressure_cap_mpa, preload_n=spec.preload_n,
        )
        work = bres.model
        if progress is not None:
            progress(0.1, f"balloon {bres.cavity_volume_ml:.2f} mL at {bres.max_pressure_mpa:.2f} MPa")
    timings["balloon"] = time.perf_counter() - t1
    volume_ml = spec.volume_ml
    if volume_ml is None:
        if bres is not None:
            volume_ml = round(max(bres.cavity_volume_ml * (1.0 + KP_OVERFILL_FRACTION),
                                  KP_MIN_VOLUME_ML), 2)
        else:
            volume_ml = DEFAULT_VP_VOLUME_ML
    pore_ml = work.pore_volume_ml
    if volume_ml > pore_ml:
        raise InvalidParameterError(
            f"cement volume {volume_ml:.2f} mL exceeds the pore volume of the {work.level} body "
            f"({pore_ml:.2f} mL)"
        )
    settings = InjectionSettings(
        cement=cem, volume_ml=float(volume_ml), rate_ml_per_min=spec.rate_ml_per_min,
        start_time_min=spec.start_time_min, marrow_viscosity_pa_s=spec.marrow_viscosity_pa_s,
        cannula=spec.cannula, visible_leak_ml=spec.visible_leak_ml,
    )
    t2 = time.perf_counter()
    notes: list[str] = list(work.notes)
    if spec.mode == "full":

        def sub(frac: float, msg: str) -> None:
            if progress is not None:
                progress(0.1 + 0.9 * frac, msg)

        res = inject(work, src, settings, progress=sub if progress is not None else None)
        fill = res.fill
        leaks = res.leaks
        injected = res.injected_ml
        inside = res.inside_ml
        stop = res.stop_reason
        history = res.history
        arrival = res.arrival_ml
        for k, v in res.timings_s.items():
            timings[f"inject_{k}"] = v
    else:
        fill, leaks, injected, stop, arrival = _preview(work, src, settings)
        inside = injected - sum(lk.volume_ml for lk in leaks)
        history = {}
        notes.append("preview: filling order from a shortest-path pass, no time stepping; leak "
                     "volumes are not computed (exits reached are listed with 0 mL)")
    timings["injection"] = time.perf_counter() - t2
    t3 = time.perf_counter()
    frac = _cement_fraction(work, fill, leaks)
    metrics = _distribution(work, fill)
    timings["summary"] = time.perf_counter() - t3
    after = work.profile  # the balloon's model carries the lifted endplate
    timings["total"] = time.perf_counter() - t0
    if progress is not None:
        progress(1.0, stop)
    return SimulationResult(
        technique=technique,
        level=model.level,
        cement=cem.name,
        mode=spec.mode,
        seed=seed,
        injected_volume_ml=float(injected),
        cement_inside_ml=float(inside),
        fill_fraction=float(inside) / model.body_volume_ml,
        crosses_midline=metrics["crosses_midline"],
        endplate_contact={"superior": metrics["superior"], "inferior": metrics["inferior"]},
        leaks=tuple(leaks),
        stop_reason=stop,
        pv_curve=None if bres is None else bres.pv_curve,
        cavity_volume_ml=0.0 if bres is None else bres.cavity_volume_ml,
        heights_before_mm=model.profile.heights_mm,
        heights_after_mm=after.heights_mm,
        wedge_angle_before_deg=model.profile.wedge_angle_deg,
        wedge_angle_after_deg=after.wedge_angle_deg,
        cement_fraction=frac,
        affine=work.affine,
        injection_history=history,
        timings_s=timings,
        model=work,
        balloon=bres,
        trocar_tips_ras_mm=tips,  # type: ignore[arg-type]
        notes=tuple(notes),
        trocar_axes_ras=axes,
        arrival_ml=arrival,
        start_time_min=float(spec.start_time_min),
        rate_ml_per_min=float(spec.rate_ml_per_min),
    )


def _distribution(model: BoneModel, fill: NDArray[np.float32]) -> dict[str, bool]:
    cem = (fill >= _FILLED) & model.fluid
    idx = np.argwhere(cem)
    out = {"crosses_midline": False, "superior": False, "inferior": False}
    if idx.size == 0:
        return out
    lat = model.lateral_coordinate_mm(idx)
    h = model.spacing_mm
    out["crosses_midline"] = bool((lat >= h).any() and (lat <= -h).any())
    struct = ndimage.generate_binary_structure(3, 1)
    grown = ndimage.binary_dilation(cem, struct)
    out["superior"] = bool((grown & model.endplate_superior).any())
    out["inferior"] = bool((grown & model.endplate_inferior).any())
    return out


def _cement_fraction(
    model: BoneModel, fill: NDArray[np.float32], leaks: Sequence[LeakRecord]
) -> NDArray[np.float32]:
    """Cement volume fraction per voxel, with leaked cement drawn as blobs outside the exits."""
    frac = (fill * np.where(model.fluid, model.porosity, 0.0)).astype(np.float32)
    frac[model.cavity & (fill > 0)] = fill[model.cavity & (fill > 0)]
    outside = ~model.body
    vvox = model.voxel_volume_mm3
    by_name = {op.name: op for op in model.openings}
    for lk in leaks:
        op = by_name.get(lk.name)
        if op is None or lk.volume_ml <= 0:
            continue
        frac[op.mask] = 1.0
        dist = ndimage.distance_transform_edt(~op.mask)
        cand = np.flatnonzero(outside.ravel() & (dist.ravel() <= 15.0 / model.spacing_mm))
        cand = cand[np.argsort(dist.ravel()[cand], kind="stable")]
        n = min(len(cand), int(np.ceil(lk.volume_ml * 1000.0 / vvox)))
        if n:
            frac.ravel()[cand[:n]] = np.maximum(frac.ravel()[cand[:n]], 1.0)
    return frac


def _preview(
    model: BoneModel, src: Sequence[tuple[int, int, int]], settings: InjectionSettings
) -> tuple[NDArray[np.float32], tuple[LeakRecord, ...], float, str, NDArray[np.float32]]:
    """Fill voxels in the order of their flow-resistance distance from the needle tips."""
    grid = FlowGrid(model)
    # resistance of a face ~ dx / k (the viscosity is common to all cement paths)
    w = grid.dx / (2.0 / (1.0 / grid.ka + 1.0 / grid.kb))
    n = grid.n
    g = sp.coo_matrix((w, (grid.fa, grid.fb)), shape=(n, n)).tocsr()
    idx = [int(grid.fid[s]) for s in src]
    dist = dijkstra(g, directed=False, indices=idx, min_only=True)
    order = np.argsort(dist, kind="stable")
    order = order[np.isfinite(dist[order])]
    cap = grid.capacity[order]
    cum = np.cumsum(cap)
    target = settings.volume_ml * 1000.0
    k = int(np.searchsorted(cum, target))
    fill_f = np.zeros(n)
    fill_f[order[:k]] = 1.0
    if k < len(order):
        prev = cum[k - 1] if k > 0 else 0.0
        fill_f[order[k]] = (target - prev) / cap[k]
    fill = np.zeros(model.shape, np.float32)
    fill[model.fluid] = fill_f
    # exits whose neighbour voxel is filled: at risk (volume unknown in a preview)
    leaks = []
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(len(order))
    for oi, op in enumerate(model.openings):
        sel = grid.eo == oi
        if not sel.any():
            continue
        v = grid.ev[sel]
        reached = fill_f[v] >= 1.0
        if reached.any():
            first = float(cum[int(rank[v[reached]].min())]) / 1000.0
            leaks.append(LeakRecord(op.name, op.kind, 0.0, first, op.natural))
    arr_f = np.full(n, np.inf)
    arr_f[order[: k + 1]] = np.minimum(cum[: k + 1], target) / 1000.0
    arrival = np.full(model.shape, np.inf, np.float32)
    arrival[model.fluid] = arr_f
    return (fill, tuple(leaks), float(min(target, cum[-1]) / 1000.0), "preview filling order",
            arrival)
