"""Search for trocar paths that maximise the smallest safety margin, and the plan of a level.

A candidate path passes through a point of the pedicle's isthmus section (a grid over the section
shrunk by the trocar radius) and ends at a target in the anterior part of the body:

- bipedicular: target depth :data:`TARGET_DEPTH_FRACTION` of the body's depth from the posterior
  wall (inside the anterior third, openradiology.org; clinical-anchors 3a), on the pedicle's side,
  between 15 % and 75 % of the half-width from the midline;
- unipedicular: same depth, 0-4 mm across the midline (medial trajectory, final position in the
  midline: Pain Physician 2004;7:111-4, clinical-anchors 3a);
- extrapedicular (thoracic levels whose pedicle is narrower than the trocar plus
  :data:`~kypho.plan.margins.SAFE_MARGIN_MM` on both sides): through a point just lateral to the
  pedicle's lateral wall, into the body's posterolateral corner.

Score (mm) = min(smallest bone clearance, canal clearance) minus, for bipedicular paths,
:data:`AXIS_PENALTY_MM_PER_DEG` per degree between the path and the measured pedicle axis (a
**model choice**: it prefers the "down the pedicle" path among those with about equal margins).
The best candidates are evaluated in full (:func:`~kypho.plan.margins.evaluate_path`) and
returned ranked.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kypho.anatomy.grid import VertebraGrid
from kypho.anatomy.pedicle import PedicleAnatomy
from kypho.anatomy.spine import SpineAnatomy
from kypho.core.case import Case
from kypho.core.levels import parse_level
from kypho.plan.margins import ENTRY_SKIP_MM, SAFE_MARGIN_MM, evaluate_path
from kypho.plan.paths import TrocarPath, gauge_outer_diameter_mm
from kypho.plan.spec import PlanSpec

__all__ = [
    "AXIS_PENALTY_MM_PER_DEG",
    "CLEARANCE_CAP_MM",
    "TARGET_DEPTH_FRACTION",
    "LevelPlan",
    "plan_level",
    "search_paths",
]

#: Target depth as a fraction of the body depth from the posterior wall.  **Model choice**: 0.75,
#: inside the anterior third (openradiology.org) and at the anterior-quarter boundary of the
#: technique review quoted in clinical-anchors 3a.
TARGET_DEPTH_FRACTION = 0.75
#: Depths (fractions of the body's depth from its posterior wall) at which targets on the
#: pedicle's axis are tried.  **Model choice**: from the anterior-third boundary (2/3,
#: openradiology.org) to :data:`TARGET_DEPTH_FRACTION`.
AXIS_TARGET_DEPTH_FRACTIONS = (0.67, 0.71, TARGET_DEPTH_FRACTION)
#: Least distance of a bipedicular target from the midline, as a fraction of the body's
#: half-width at the target depth.  **Model choice**: each trocar fills its own half of the body
#: (bipedicular kyphoplasty places one balloon per side, clinical-anchors 3a).
BIPEDICULAR_MIN_HALF_FRACTION = 0.15
#: Score penalty per degree away from the pedicle axis (bipedicular).  **Model choice**.
AXIS_PENALTY_MM_PER_DEG = 0.25
#: Clearance (mm, beyond the trocar's radius) above which the bipedicular score no longer grows,
#: so among paths that all keep it the one nearest the pedicle's axis wins.  **Model choice**:
#: twice :data:`~kypho.plan.margins.SAFE_MARGIN_MM`.
CLEARANCE_CAP_MM = 2.0 * SAFE_MARGIN_MM
#: Weight of each mm of clearance short of the safe margin, and the margin's guard (mm) against
#: the search sampling the line more coarsely than :func:`~kypho.plan.margins.evaluate_path`.
#: **Model choices**: a missing millimetre of margin outweighs 20 degrees off the axis.
SHORTFALL_WEIGHT = 5.0
SAMPLING_GUARD_MM = 0.1
Progress = Callable[[float, str], None]


@dataclass(frozen=True, eq=False)
class LevelPlan:
    """Planned paths for one level.

    Attributes
    ----------
    level : str
    mode : {'bipedicular', 'unipedicular'}
    gauge : int
    pedicles : dict side -> PedicleAnatomy
    paths : tuple of TrocarPath
        The chosen path per side used (two for bipedicular, one for unipedicular).
    options : dict side -> tuple of TrocarPath
        Ranked alternatives (best first) per side.
    grid : VertebraGrid
        The vertebra's frame, masks and distance fields (for pictures and rehearsal).
    """

    level: str
    mode: str
    gauge: int
    pedicles: dict[str, PedicleAnatomy]
    paths: tuple[TrocarPath, ...]
    options: dict[str, tuple[TrocarPath, ...]] = field(default_factory=dict, repr=False)
    grid: VertebraGrid | None = field(default=None, repr=False)

    @property
    def verdict(self) -> str:
        """Worst verdict over the chosen paths."""
        order = {"safe": 0, "caution": 1, "unsafe": 2}
        return max((p.verdict or "unsafe" for p in self.paths), key=order.__getitem__)


def _body_extent(grid: VertebraGrid, a_t: float) -> tuple[float, float, float]:
    """(mid-height s, half-height, half-width) of the body at depth ``a_t`` on the midline."""
    fr = grid.frame
    p0 = fr.to_ras([0.0, a_t, 0.0])
    sup, right = np.asarray(fr.superior), np.asarray(fr.right)
    if not grid.inside(p0[None])[0]:
        # Canal height may lie above a collapsed body: look downward for bone.
        down = grid.march(p0, -sup, want_inside=True, max_mm=30.0)
        p0 = p0 - ((down or 0.0) + 1.0) * sup
    up = grid.march(p0, sup, want_inside=False) or 0.0
    dn = grid.march(p0, -sup, want_inside=False) or 0.0
    s0 = fr.to_local(p0)[2]
    s_mid = s0 + (up - dn) / 2
    pm = fr.to_ras([0.0, a_t, s_mid])
    half_w = min(grid.march(pm, right, want_inside=False) or 15.0,
                 grid.march(pm, -right, want_inside=False) or 15.0)
    return float(s_mid), float((up + dn) / 2), float(half_w)


def _entry(grid: VertebraGrid, through: NDArray, d: NDArray) -> NDArray[np.float64]:
    """Docking point: walking back from ``through`` along ``-d``, the last bone point."""
    t = grid.march(through, -d, want_inside=False, max_mm=60.0)
    back = (t if t is not None else 30.0) - 0.25
    return through - max(back, 0.0) * d


#: How many distinct top-scoring candidates are evaluated in full before ranking: the search's
#: fast clearance score and the full evaluation can disagree near the entry, so a few more
#: than the options kept are checked (a cost/benefit choice).
FULL_EVALUATIONS = 8


def search_paths(
    grid: VertebraGrid,
    pedicle: PedicleAnatomy,
    *,
    gauge: int = 11,
    mode: str = "bipedicular",
    approach: str = "transpedicular",
    n_options: int = 3,
    volume=None,
) -> tuple[TrocarPath, ...]:
    """Ranked paths through ``pedicle`` (best first), evaluated in full."""
    fr = grid.frame
    side = pedicle.side
    sgn = 1.0 if side == "right" else -1.0
    r = gauge_outer_diameter_mm(gauge) / 2
    ist = np.asarray(pedicle.isthmus_ras_mm)
    w, h = np.asarray(pedicle.lateral_dir_ras), np.asarray(pedicle.up_dir_ras)
    axis = np.asarray(pedicle.axis_ras)
    a_t = grid.body_posterior_a_mm + TARGET_DEPTH_FRACTION * grid.body_depth_mm
    s_mid, half_h, half_w = _body_extent(grid, a_t)
    if approach == "extrapedicular":
        xs = pedicle.width_mm / 2 + r + np.array([0.5, 1.0, 2.0])
        ys = np.linspace(-0.25, 0.25, 3) * pedicle.height_mm
    else:
        mx = max(pedicle.width_mm / 2 - r - 0.25, 0.0)
        my = max(pedicle.height_mm / 2 - r - 0.25, 0.0)
        xs = np.linspace(-mx, mx, 7)
        ys = np.linspace(-my, my, 7)
    throughs = (ist + xs[:, None, None] * w + ys[None, :, None] * h).reshape(-1, 3)
    if mode == "unipedicular":
        us = -sgn * np.array([0.0, 2.0, 4.0])
    elif approach == "extrapedicular":
        us = sgn * np.linspace(0.1, 0.5, 5) * half_w
    else:
        us = sgn * np.linspace(BIPEDICULAR_MIN_HALF_FRACTION, 0.75, 9) * half_w
    ss = s_mid + np.array([-0.2, 0.0, 0.2]) * half_h
    targets_l = [fr.to_ras([u, a_t, s]) for u in us for s in ss]
    if mode == "bipedicular" and approach == "transpedicular":
        # Where the pedicle axis itself reaches the target depth, and points around it.
        # Shallower depths too: an axis that runs nearly straight ahead reaches the rounded
        # anterolateral cortex before the deepest target depth.
        d_loc = fr.direction_to_local(axis)
        i_loc = fr.to_local(ist)
        for frac_t in AXIS_TARGET_DEPTH_FRACTIONS:
            a_k = grid.body_posterior_a_mm + frac_t * grid.body_depth_mm
            k = (a_k - i_loc[1]) / max(d_loc[1], 0.2)
            hit = i_loc + k * d_loc
            s_mid_k, half_h_k, half_w_k = _body_extent(grid, a_k)
            # Inside the body's outline at that depth (the body clearance is scored anyway).
            # Bipedicular targets stay in their own half of the body (at least
            # BIPEDICULAR_MIN_HALF_FRACTION of the half-width from the midline): an axis that
            # converges steeply must not pull the tip onto the midline.
            lo_u = BIPEDICULAR_MIN_HALF_FRACTION * half_w_k
            if lo_u <= sgn * hit[0] < 0.9 * half_w_k and abs(hit[2] - s_mid_k) < 0.7 * half_h_k:
                for du in (-1.5, 0.0, 1.5):
                    if sgn * (hit[0] + du) < lo_u:
                        continue
                    for ds in (-1.5, 0.0, 1.5):
                        targets_l.append(fr.to_ras([hit[0] + du, a_k, hit[2] + ds]))
    targets = np.array(targets_l)
    # All candidates: (n_through * n_target) lines.
    P = np.repeat(throughs, len(targets), axis=0)
    T = np.tile(targets, (len(throughs), 1))
    D = T - P
    L = np.linalg.norm(D, axis=1)
    D = D / L[:, None]
    back = 6.0 if approach != "extrapedicular" else 0.0
    n_s = 64
    frac = np.linspace(0.0, 1.0, n_s)
    seg_len = L + back
    pts = (P - back * D)[:, None, :] + (frac[None, :, None] * seg_len[:, None, None]) * D[:, None, :]
    sdf = grid.sdf(pts)
    in_body = grid.frame.to_local(pts)[..., 1] >= grid.body_posterior_a_mm + 1.0
    if approach == "extrapedicular":
        bone = np.where(in_body, sdf, np.inf).min(axis=1) - r
    else:
        # Where the line enters the bone behind the isthmus (its docking point): the first
        # ENTRY_SKIP_MM after it are the entry cortex, not the pedicle, and are not scored (as
        # in evaluate_path).
        t_back = np.arange(0.0, 30.0 + 1e-6, 0.5)
        sdf_back = grid.sdf(P[:, None, :] - t_back[None, :, None] * D[:, None, :])
        outside = sdf_back <= 0.0
        t_entry = np.where(outside.any(axis=1), t_back[np.argmax(outside, axis=1)], 30.0)
        pos = frac[None, :] * seg_len[:, None] - back  # along the line from the isthmus point
        scored = pos >= -(t_entry[:, None] - ENTRY_SKIP_MM)
        # The pedicle sets the path; in the body the trocar only has to keep the safe margin
        # (a path is not bent towards the body's centre at the pedicle's expense).
        ped = np.where(in_body | ~scored, np.inf, sdf).min(axis=1) - r
        body = np.where(in_body, sdf, np.inf).min(axis=1) - r
        bone = np.minimum(ped, np.where(body >= SAFE_MARGIN_MM, np.inf, body))
    behind = P[:, None, :] - np.linspace(0.0, 40.0, 41)[None, :, None] * D[:, None, :]
    canal = np.minimum(grid.canal_distance(pts).min(axis=1), grid.canal_distance(behind).min(axis=1)) - r
    score = np.minimum(bone, canal)
    if mode == "bipedicular" and approach == "transpedicular":
        # Safety first: a clearance short of the safe margin (plus a sampling guard) costs
        # SHORTFALL_WEIGHT per mm; beyond CLEARANCE_CAP_MM a wider clearance buys nothing,
        # and the path nearest the pedicle's axis wins.
        short = np.maximum(SAFE_MARGIN_MM + SAMPLING_GUARD_MM - score, 0.0)
        score = np.minimum(score, CLEARANCE_CAP_MM) - SHORTFALL_WEIGHT * short
        ang = np.degrees(np.arccos(np.clip(D @ axis, -1.0, 1.0)))
        score = score - AXIS_PENALTY_MM_PER_DEG * ang
    order = np.argsort(-score)
    chosen: list[int] = []
    for i in order:
        if all(np.linalg.norm(T[i] - T[j]) + np.linalg.norm(P[i] - P[j]) > 2.0 for j in chosen):
            chosen.append(int(i))
        if len(chosen) >= max(n_options, FULL_EVALUATIONS):
            break
    out = []
    for i in chosen:
        entry = _entry(grid, P[i], D[i]) if approach != "extrapedicular" else None
        if entry is None:
            start = P[i] - 40.0 * D[i]
            t_in = grid.march(start, D[i], want_inside=True, max_mm=120.0)
            entry = start + (t_in if t_in is not None else 40.0) * D[i]
        if np.linalg.norm(T[i] - entry) < ENTRY_SKIP_MM + 1.0:
            continue
        path = TrocarPath(
            level=grid.level, side=side, approach=approach,  # type: ignore[arg-type]
            entry_ras_mm=tuple(entry), target_ras_mm=tuple(T[i]), gauge=gauge,  # type: ignore[arg-type]
            score=float(score[i]),
        )
        out.append(evaluate_path(grid, path, pedicle=pedicle, volume=volume))
    rank = {"safe": 0, "caution": 1, "unsafe": 2}
    out.sort(key=lambda p: (rank[p.verdict or "unsafe"], -p.score))
    return tuple(out[: max(n_options, 1)])


def plan_level(
    case: Case,
    level: str,
    spec: PlanSpec | None = None,
    *,
    anatomy: SpineAnatomy | None = None,
    progress: Progress | None = None,
    **changes: Any,
) -> LevelPlan:
    """Plan bipedicular (default) or unipedicular trocar paths at ``level``.

    Parameters
    ----------
    case : Case
        CT with vertebra labels.
    level : str
    spec : PlanSpec, optional
        The planner's options (gauge, uni- or bipedicular, side, options kept); default
        :class:`PlanSpec()`.  Keyword ``changes`` (``gauge=8``) vary it.
    anatomy : SpineAnatomy, optional
        The case's measured anatomy (default :meth:`SpineAnatomy.of`): the vertebra's frame,
        resampled grid and pedicles come from it and are not measured again.
    progress : callable, optional
        ``progress(fraction, message)``.

    Raises
    ------
    NotMeasurableError
        The level is cut by the scan's edge or its pedicles cannot be found.
    """
    spec = (spec or PlanSpec()).with_(**changes)
    report = progress or (lambda f, m: None)
    level = parse_level(level)
    spine = anatomy if anatomy is not None else SpineAnatomy.of(case)
    report(0.0, f"plan {level}: anatomy")
    vertebra = spine.vertebra(level)
    grid = vertebra.grid
    peds = vertebra.pedicles
    od = gauge_outer_diameter_mm(spec.gauge)
    options: dict[str, tuple[TrocarPath, ...]] = {}
    sides = ("left", "right") if spec.side is None else (spec.side,)
    for i, sd in enumerate(sides):
        report(0.2 + 0.7 * i / len(sides), f"plan {level}: {sd} path")
        ped = peds[sd]  # type: ignore[index]
        approach = "transpedicular"
        if level.startswith("T") and ped.width_mm < od + 2 * SAFE_MARGIN_MM:
            approach = "extrapedicular"
        options[sd] = search_paths(
            grid, ped, gauge=spec.gauge, mode=spec.mode, approach=approach,
            n_options=spec.n_options, volume=case.volume,
        )
    if spec.unipedicular:
        rank = {"safe": 0, "caution": 1, "unsafe": 2}
        best = min(
            (opts[0] for opts in options.values() if opts),
            key=lambda p: (rank[p.verdict or "unsafe"], -p.score),
        )
        paths: tuple[TrocarPath, ...] = (best,)
    else:
        paths = tuple(opts[0] for opts in options.values() if opts)
    report(1.0, f"plan {level}: done")
    return LevelPlan(level, spec.mode, spec.gauge, dict(peds), paths, options, grid)


def angle_between_deg(u: NDArray, v: NDArray) -> float:
    """Angle between two directions, degrees."""
    c = float(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)))
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))


__all__ += ["angle_between_deg"]
