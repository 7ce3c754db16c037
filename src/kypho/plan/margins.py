"""Safety margins of a trocar path (its radius subtracted), breaches found in 3D, and the verdict.

Clearances are measured on the vertebra's label (surface half-way between voxel centres):

- pedicle walls: from points of the path inside the pedicle zone (behind the posterior body
  wall), rays across the path towards the medial, lateral, inferior and superior walls;
  clearance = distance to the surface minus the trocar radius;
- canal: distance from the path (entry to tip, and 40 mm behind the entry) to the canal minus
  the radius;
- tip to anterior cortex: distance from the tip along the path to the body's surface.

A breach is a stretch of the path, past the first :data:`ENTRY_SKIP_MM` after the docking point,
where the trocar's wall lies outside the bone (signed distance < radius) or in the canal.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from kypho.anatomy.grid import VertebraGrid
from kypho.anatomy.pedicle import PedicleAnatomy
from kypho.plan.paths import Breach, Margins, TrocarPath, path_angles

__all__ = [
    "ENTRY_SKIP_MM",
    "MIN_TIP_TO_CORTEX_MM",
    "SAFE_MARGIN_MM",
    "UNSAFE_WALLS",
    "evaluate_path",
    "path_samples",
]

#: Clearance (mm, beyond the trocar's radius) below which a path is "caution".  **Model choice**:
#: 1 mm, about one CT voxel, the smallest gap a CT-based plan can claim.
SAFE_MARGIN_MM = 1.0
#: Distance (mm) from the tip to the anterior cortex below which a path is "caution".
#: **Model choice**: the target lies in the anterior third of the body (openradiology.org;
#: clinical-anchors 3a) but not against the anterior cortex; 3 mm keeps two voxels of bone.
MIN_TIP_TO_CORTEX_MM = 3.0
#: Length (mm) after the docking point over which the trocar is still crossing the entry cortex
#: and is not checked for breaches.  **Model choice**.
ENTRY_SKIP_MM = 3.0
#: Sampling step along the path (mm).
STEP_MM = 0.25
#: Walls whose breach makes a path unsafe (canal and medial wall: dura and cord; inferior wall:
#: the exiting nerve root runs under the pedicle (Lien 2007: lumbar root 2.4-9.6 mm lateral to
#: the pedicle); anterior cortex: great vessels).  Lateral/superior walls and endplates: caution.
UNSAFE_WALLS = ("canal", "medial wall", "inferior wall", "anterior cortex", "outside vertebra")


def path_samples(
    entry: NDArray[np.float64], target: NDArray[np.float64], step_mm: float = STEP_MM
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(t, points) along entry -> target every ``step_mm``, ``t`` in mm from the entry."""
    length = float(np.linalg.norm(target - entry))
    t = np.append(np.arange(0.0, length, step_mm), length)
    d = (target - entry) / length
    return t, entry + t[:, None] * d


def _cross_dirs(
    grid: VertebraGrid, d: NDArray[np.float64], side: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Unit lateral (towards ``side``) and cranial directions across the path."""
    sup = np.asarray(grid.frame.superior)
    right = np.asarray(grid.frame.right)
    w = np.cross(sup, d)
    if np.linalg.norm(w) < 1e-6:
        w = right.copy()
    w /= np.linalg.norm(w)
    lateral_sign = 1.0 if side == "right" else -1.0
    if w @ right * lateral_sign < 0:
        w = -w
    h = np.cross(d, w)
    if h @ sup < 0:
        h = -h
    return w, h / np.linalg.norm(h)


def _ray_distances(grid: VertebraGrid, pts: NDArray, direction: NDArray, max_mm: float = 16.0):
    """Distance from each point along ``direction`` to the first point outside the bone."""
    steps = np.arange(0.0, max_mm + STEP_MM, STEP_MM)
    samples = pts[:, None, :] + steps[None, :, None] * direction
    inside = grid.inside(samples)
    first_out = np.where(~inside.any(axis=1), 0, np.argmax(~inside, axis=1))
    all_in = inside.all(axis=1)
    return np.where(all_in, max_mm, steps[first_out])


def _classify(
    grid: VertebraGrid, p: NDArray, d: NDArray, side: str, in_pedicle: bool,
    pedicle: PedicleAnatomy | None = None,
) -> str:
    """Which wall the trocar crosses at ``p``: in the pedicle zone from where ``p`` lies relative
    to the pedicle's axis (scaled by its half-width and half-height), else from the outward
    normal of the surface."""
    if grid.canal_distance(p[None])[0] < 0.5:
        return "canal"
    if in_pedicle and pedicle is not None:
        c = np.asarray(pedicle.isthmus_ras_mm)
        ax = np.asarray(pedicle.axis_ras)
        off = (p - c) - ((p - c) @ ax) * ax
        ow = float(off @ np.asarray(pedicle.lateral_dir_ras)) / (pedicle.width_mm / 2)
        oh = float(off @ np.asarray(pedicle.up_dir_ras)) / (pedicle.height_mm / 2)
        if abs(ow) >= abs(oh):
            return "lateral wall" if ow > 0 else "medial wall"
        return "superior wall" if oh > 0 else "inferior wall"
    eps = 0.5
    offs = np.eye(3) * eps
    grad = np.array(
        [
            (grid.sdf((p + o)[None])[0] - grid.sdf((p - o)[None])[0]) / (2 * eps)
            for o in offs
        ]
    )
    if np.linalg.norm(grad) < 1e-6:
        return "outside vertebra"
    n = -grad / np.linalg.norm(grad)  # outward
    if grid.sdf(p[None])[0] < -6.0:
        # Far from any bone: name the side it missed on.
        w, _ = _cross_dirs(grid, d, side)
        return "lateral wall" if n @ w > 0 else "medial wall"
    w, h = _cross_dirs(grid, d, side)
    if in_pedicle:
        cw, ch = float(n @ w), float(n @ h)
        if abs(cw) >= abs(ch):
            return "lateral wall" if cw > 0 else "medial wall"
        return "superior wall" if ch > 0 else "inferior wall"
    loc = grid.frame.direction_to_local(n)
    k = int(np.argmax(np.abs(loc)))
    if k == 1:
        return "anterior cortex" if loc[1] > 0 else "posterior body wall"
    if k == 2:
        return "superior endplate" if loc[2] > 0 else "inferior endplate"
    return "lateral body wall"


def _skin_point(grid: VertebraGrid, entry: NDArray, d: NDArray, hu_volume) -> NDArray | None:
    """Where the line behind the entry leaves the body (HU above -400 to below), or ``None``."""
    if hu_volume is None:
        return None
    from scipy import ndimage

    t = np.arange(0.0, 250.0, 0.5)
    pts = entry - t[:, None] * d
    ijk = hu_volume.ras_to_ijk(pts).T
    hu = ndimage.map_coordinates(
        np.asarray(hu_volume.data, np.float32), ijk, order=1, mode="constant", cval=np.nan
    )
    inside_ct = np.isfinite(hu)
    air = inside_ct & (hu < -400.0)
    if not air.any():
        return None
    k = int(np.argmax(air))
    if k == 0 or not inside_ct[:k].all():
        return None
    return pts[k - 1]


def evaluate_path(
    grid: VertebraGrid,
    path: TrocarPath,
    *,
    pedicle: PedicleAnatomy | None = None,
    volume=None,
) -> TrocarPath:
    """Margins, breaches, verdict and reasons of ``path`` (returns an updated copy).

    Parameters
    ----------
    grid : VertebraGrid
    path : TrocarPath
    pedicle : PedicleAnatomy, optional
        The pedicle the path uses (for the extrapedicular check and the notes).
    volume : Volume, optional
        The whole CT, to find the skin point behind the entry.
    """
    entry = np.asarray(path.entry_ras_mm)
    target = np.asarray(path.target_ras_mm)
    d = path.direction_ras
    r = path.radius_mm
    t, pts = path_samples(entry, target)
    loc = grid.frame.to_local(pts)
    a_post = grid.body_posterior_a_mm
    in_ped = (loc[:, 1] < a_post) & (t >= ENTRY_SKIP_MM)
    extrapedicular = path.approach == "extrapedicular"
    w, h = _cross_dirs(grid, d, path.side)
    sdf = grid.sdf(pts)

    def wall(direction: NDArray) -> float | None:
        if extrapedicular or not in_ped.any():
            return None
        sel = pts[in_ped]
        dist = _ray_distances(grid, sel, direction)
        dist = np.where(sdf[in_ped] < 0, sdf[in_ped], dist)
        return float(np.min(dist) - r)

    medial, lateral = wall(-w), wall(w)
    inferior, superior = wall(-h), wall(h)
    behind = entry - np.arange(0.0, 40.0, STEP_MM)[:, None] * d
    canal = float(min(grid.canal_distance(pts).min(), grid.canal_distance(behind).min()) - r)
    checked = t >= ENTRY_SKIP_MM
    if extrapedicular:
        checked &= loc[:, 1] >= a_post
    bone_min = float(np.min(sdf[checked]) - r) if checked.any() else float(sdf[-1] - r)
    tip_in = bool(grid.inside(target[None])[0])
    if tip_in:
        tip_cortex = grid.march(target, d, want_inside=False, max_mm=80.0)
        tip_cortex_mm = float(tip_cortex) if tip_cortex is not None else None
    else:
        tip_cortex_mm = float(sdf[-1])
    margins = Margins(
        medial_wall_mm=medial,
        lateral_wall_mm=lateral,
        inferior_wall_mm=inferior,
        superior_wall_mm=superior,
        canal_mm=canal,
        tip_to_anterior_cortex_mm=tip_cortex_mm,
        min_bone_mm=bone_min,
    )
    # --- breaches ---------------------------------------------------------------------------------
    bad = checked & ((sdf - r < 0) | (grid.canal_distance(pts) - r < 0))
    breaches: list[Breach] = []
    k = 0
    while k < len(t):
        if not bad[k]:
            k += 1
            continue
        j = k
        while j + 1 < len(t) and bad[j + 1]:
            j += 1
        seg = slice(k, j + 1)
        worst = k + int(np.argmin(sdf[seg]))
        wall_name = _classify(
            grid, pts[k], d, path.side, bool(loc[k, 1] < a_post), pedicle
        )
        if wall_name not in ("canal",) and grid.canal_distance(pts[seg]).min() < r:
            wall_name = "canal"
        breaches.append(
            Breach(
                wall=wall_name,
                depth_mm=float(t[k]),
                point_ras_mm=tuple(float(x) for x in pts[k]),  # type: ignore[arg-type]
                depth_beyond_mm=float(max(r - sdf[worst], 0.0)),
            )
        )
        k = j + 1
    if not tip_in and not any(b.wall == "outside vertebra" for b in breaches):
        breaches.append(
            Breach("outside vertebra", float(t[-1]), tuple(float(x) for x in target), float(-sdf[-1]))  # type: ignore[arg-type]
        )
    # --- verdict ------------------------------------------------------------------------------------
    reasons: list[str] = []
    verdict = "safe"
    for b in breaches:
        sev = "unsafe" if b.wall in UNSAFE_WALLS else "caution"
        reasons.append(f"{b.wall} breached {b.depth_mm:.1f} mm past the entry ({sev})")
        if sev == "unsafe":
            verdict = "unsafe"
        elif verdict == "safe":
            verdict = "caution"
    if canal < 0 and not any(b.wall == "canal" for b in breaches):
        verdict = "unsafe"
        reasons.append(f"trocar within {-canal:.1f} mm of the canal")
    named = {
        "medial wall": medial, "lateral wall": lateral, "inferior wall": inferior,
        "superior wall": superior, "canal": canal,
    }
    for name, v in named.items():
        if v is not None and v < 0 and name != "canal":
            # The trocar's surface lies beyond this wall even where the breach above was
            # classified by its first point as another wall: judge by the wall itself.
            sev = "unsafe" if name in UNSAFE_WALLS else "caution"
            reasons.append(f"trocar reaches {-v:.1f} mm beyond the {name} ({sev})")
            if sev == "unsafe":
                verdict = "unsafe"
            elif verdict == "safe":
                verdict = "caution"
        elif v is not None and 0 <= v < SAFE_MARGIN_MM:
            reasons.append(f"{name} clearance {v:.1f} mm < {SAFE_MARGIN_MM:g} mm")
            if verdict == "safe":
                verdict = "caution"
    if tip_cortex_mm is not None and tip_in and tip_cortex_mm < MIN_TIP_TO_CORTEX_MM:
        reasons.append(
            f"tip {tip_cortex_mm:.1f} mm from the anterior cortex (< {MIN_TIP_TO_CORTEX_MM:g} mm)"
        )
        if verdict == "safe":
            verdict = "caution"
    if extrapedicular:
        reasons.append(
            "extrapedicular: ribs, costovertebral joint and pleura are not in the label map and "
            "were not checked"
        )
        if verdict == "safe":
            verdict = "caution"
    if pedicle is not None and not extrapedicular:
        need = path.outer_diameter_mm + 2 * SAFE_MARGIN_MM
        if pedicle.width_mm < need:
            reasons.append(
                f"pedicle {pedicle.width_mm:.1f} mm wide, narrower than the trocar plus margins "
                f"({need:.1f} mm)"
            )
    if verdict == "safe":
        reasons.append("all clearances >= 1 mm, tip in the body, no breach")
    tr, sg = path_angles(grid.frame, d, path.side)
    skin = _skin_point(grid, entry, d, volume)
    return replace(
        path,
        margins=margins,
        breaches=tuple(breaches),
        verdict=verdict,  # type: ignore[arg-type]
        reasons=tuple(reasons),
        transverse_angle_deg=float(tr),
        sagittal_angle_deg=float(sg),
        skin_ras_mm=tuple(float(x) for x in skin) if skin is not None else path.skin_ras_mm,  # type: ignore[arg-type]
    )
