"""Balloon (inflatable bone tamp) inflation: cavity creation, compaction and endplate lift.

No published balloon-compaction model was found (``biomech-anchors.md`` section 2a), so this is
**our model**, quasi-static, in volume steps:

1. Envelope.  Each balloon can only fill a capsule along its trocar axis, centred at the
   trocar tip: the shape it takes at the device's maximum volume in free space, its straight
   part sized so that the capsule is then exactly the nominal length long (a 10/3 or 15/3
   balloon is a 3 mL sphere, 17.9 mm across; a 20/3 a 20 mm capsule 16.1 mm across).  Cortex
   is not crushed: the balloon flattens against walls.
2. Pressure and growth.  Trabecular bone crushes at its compressive yield stress (Kopperdahl
   2002, ``37.4 rho^1.39`` MPa) and then compacts at about that stress until it densifies (the
   plateau of cellular solids).  The balloon pressure is uniform, so bone yields where it is
   weakest: the cavity grows from the tip into the weakest voxel on its surface first, inside
   the envelope, with the yield stress smoothed over 1 mm (the membrane spreads its load) and
   weighted by ``1 + (d / r_envelope)^2`` (the membrane resists fingers, keeping the cavity
   rounded; model choices); the pressure of a volume step is the highest (smoothed) yield
   stress crushed in it (cleft and cavity: zero).  A uniform body gives a capsule growing at
   constant pressure.  The channel drilled for the deflated balloon (3 mm across, model choice)
   offers no resistance.
3. Compaction.  The mineral of the swept voxels is not lost: it is added to a layer outside the
   cavity, each voxel up to a densification cap of 600 mg/cm^3 (model choice, 60 % of fully
   mineralised tissue), then the next layer out.  The denser layer has a lower porosity and
   permeability for the cement (Kozeny-Carman).
4. Lift.  Once the balloon touches an endplate (the bone on its other side bearing the
   reaction), a further volume step either lifts the
   collapsed endplate or crushes more bone sideways, whichever needs less pressure: lifting
   needs ``preload / A`` with ``A`` the balloon's area projected on the endplate (0 for Belkoff
   2001's unloaded cadaver bodies), and a lift of ``dh`` under the balloon takes ``A dh`` of
   balloon volume.  The lift
   raises the endplate as a plate hinged at the posterior wall (wedge fractures) or translates
   it (crush and biconcave fractures), never above the pre-fracture heights.  The lifted volume
   is added to the cavity's capacity (the voxel grid is not deformed).
5. Sealing.  Where the balloon presses against a broken endplate, the compacted bone and
   fracture debris it tamps there close the break (model assumption, the usual explanation of
   kyphoplasty's lower leak rate); breaks elsewhere stay open.
6. Stops, as a surgeon would: the device volume, the pressure cap, contact with the lateral,
   anterior or posterior cortex, or a cortical breach (the balloon reaching an opening).  The
   balloons of a bipedicular pair are watched one by one: the one that reaches the cortex
   stops, the other goes on; a breach stops both.

Device figures: Kyphon Xpander IBT sizes 10/3, 15/3, 20/3 and Express 10/2, 15/2 (Medtronic IFU
M708348B151E).  The meaning of "15/3" was NOT FOUND in the IFU pages read; we read it as
length 15 mm / maximum volume 3 mL (model assumption).  Manufacturer maximum pressure NOT FOUND;
we use 400 psi = 2.76 MPa, the constrained-burst acceptance of a 510(k) kyphoplasty balloon
(K223709) as the device limit, and cap the working pressure at 1.72 MPa = 175 + 2 x 37 psi, the
mean + 2 SD of Kyphon inflations in osteoporotic cadaver bodies under 110 N (arithmetic).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from kypho.errors import InvalidParameterError
from kypho.sim.bone import TISSUE_DENSITY_MG_CC, BoneModel

__all__ = [
    "BALLOONS",
    "DEVICE_MAX_PRESSURE_MPA",
    "WORKING_PRESSURE_CAP_MPA",
    "Balloon",
    "BalloonResult",
    "get_balloon",
    "inflate",
]

PSI_TO_MPA = 6894.757e-6
#: Device limit: 400 psi constrained burst (FDA 510(k) K223709 summary).
DEVICE_MAX_PRESSURE_MPA = 400.0 * PSI_TO_MPA
#: Working cap: mean + 2 SD of Kyphon inflation pressures in osteoporotic cadaver bodies under a
#: 110 N preload, 175 +/- 37 psi ("Effect of an outer sleeve on an inflatable balloon tamp",
#: discovery.researcher.life abstract), arithmetic.
WORKING_PRESSURE_CAP_MPA = (175.0 + 2 * 37.0) * PSI_TO_MPA
#: Diameter of the working channel drilled for the deflated balloon (mm): model choice; the
#: bone in it offers no resistance.
DEFLATED_DIAMETER_MM = 3.0
#: Length over which the balloon membrane spreads its load (mm): the crush stress is smoothed
#: over it (model choice).
SMOOTHING_MM = 1.0
#: Membrane compactness (model choice): a voxel at the envelope's edge must be twice as weak
#: as one on the axis to be crushed first; keeps the cavity rounded, as balloons are.
COMPACTNESS = 1.0
#: Densification cap of compacted trabecular bone (mg/cm^3): model choice.
COMPACTION_CAP_MG_CC = 0.6 * TISSUE_DENSITY_MG_CC


def _straight_half_length_mm(length_mm: float, max_volume_ml: float) -> float:
    """Half-length of the capsule's straight part so that, at the maximum volume, the capsule
    (radius r, straight part L - 2r) is ``length_mm`` long; 0 if a sphere of that volume is
    longer than the balloon."""
    v = max_volume_ml * 1000.0
    r_sphere = (3.0 * v / (4.0 * np.pi)) ** (1.0 / 3.0)
    if 2.0 * r_sphere >= length_mm:
        return 0.0
    lo, hi = 0.0, length_mm / 2.0
    for _ in range(60):  # pi r^2 L - 2/3 pi r^3 is increasing on [0, L/2]
        r = 0.5 * (lo + hi)
        if np.pi * r * r * length_mm - 2.0 / 3.0 * np.pi * r**3 < v:
            lo = r
        else:
            hi = r
    return max(length_mm / 2.0 - lo, 0.0)


@dataclass(frozen=True)
class Balloon:
    """An inflatable bone tamp: nominal length, maximum volume and pressure."""

    name: str
    length_mm: float
    max_volume_ml: float
    max_pressure_mpa: float = DEVICE_MAX_PRESSURE_MPA


#: Kyphon Xpander (10/3, 15/3, 20/3) and Express (10/2, 15/2) sizes, read as length/volume.
BALLOONS: MappingProxyType[str, Balloon] = MappingProxyType(
    {
        name: Balloon(name, float(name.split("/")[0]), float(name.split("/")[1]))
        for name in ("10/2", "10/3", "15/2", "15/3", "20/3")
    }
)


def get_balloon(balloon: str | Balloon) -> Balloon:
    """A balloon from its size name (``"15/3"``) or pass one through."""
    if isinstance(balloon, Balloon):
        return balloon
    key = str(balloon).strip()
    if key not in BALLOONS:
        raise InvalidParameterError(
            f"unknown balloon {balloon!r}: expected one of {', '.join(BALLOONS)}"
        )
    return BALLOONS[key]


@dataclass(frozen=True, eq=False)
class BalloonResult:
    """Outcome of the inflation.

    ``pv_curve`` is an (n, 2) array of total balloon volume (mL) and pressure (MPa);
    ``stopped_at_wall`` is true when a balloon stopped at the cortex or at a breach.
    """

    cavity: NDArray[np.bool_]
    cavity_volume_ml: float
    lift_volume_ml: float
    pv_curve: NDArray[np.float64]
    max_pressure_mpa: float
    stop_reason: str
    endplate_contact: tuple[bool, bool]
    heights_before_mm: tuple[float, float, float]
    heights_inflated_mm: tuple[float, float, float]
    heights_after_mm: tuple[float, float, float]
    wedge_angle_before_deg: float
    wedge_angle_after_deg: float
    model: BoneModel
    stopped_at_wall: bool = False


def _segment_distance(
    model: BoneModel, tip_ras: NDArray, axis: NDArray, half_len: float
) -> NDArray[np.float64]:
    idx = np.indices(model.shape).reshape(3, -1).T
    ras = model.ijk_to_ras(idx)
    rel = ras - tip_ras
    t = np.clip(rel @ axis, -half_len, half_len)
    return np.linalg.norm(rel - t[:, None] * axis, axis=1).reshape(model.shape)


def _lift_heights(
    model: BoneModel, heights: tuple[float, float, float], delta_mm: float, x_b_mm: float
) -> tuple[float, float, float]:
    """Raise the superior endplate by ``delta_mm`` under the balloon at ``x_b_mm`` from the
    posterior wall (hinge at the posterior wall for wedges, translation otherwise)."""
    ha, hm, hp = heights
    normal = model.normal_heights_mm
    if normal is None:
        return heights
    na, nm, np_ = normal
    loss_a, loss_p = na - ha, np_ - hp
    depth = model.depth_mm
    if loss_a > 0 and loss_p < 0.25 * loss_a:
        theta = delta_mm / max(x_b_mm, 0.25 * depth)
        ha = min(na, ha + theta * depth)
        hm = min(nm, hm + theta * depth / 2.0)
    else:
        ha, hm, hp = min(na, ha + delta_mm), min(nm, hm + delta_mm), min(np_, hp + delta_mm)
    return (ha, hm, hp)


def inflate(
    model: BoneModel,
    tips_ras_mm: Sequence[ArrayLike],
    axes_ras: Sequence[ArrayLike] | None = None,
    *,
    balloon: str | Balloon = "15/3",
    volume_ml: float | None = None,
    step_ml: float = 0.1,
    pressure_cap_mpa: float = WORKING_PRESSURE_CAP_MPA,
    preload_n: float = 0.0,
    deflation_loss_fraction: float = 0.0,
) -> BalloonResult:
    """Inflate one balloon per trocar tip and return the cavity and the new bone model.

    Parameters
    ----------
    model : BoneModel
        The body before inflation.
    tips_ras_mm : sequence of 3-vectors
        Balloon centres (trocar tips), RAS mm.
    axes_ras : sequence of 3-vectors, optional
        Trocar directions (default: the body's anterior axis).
    balloon : str or Balloon
        Device size.
    volume_ml : float, optional
        Volume per balloon to inflate to (default and upper limit: the device maximum).
    step_ml : float
        Volume step per balloon.
    pressure_cap_mpa : float
        Working pressure cap; never above the device maximum.
    preload_n : float
        Axial load on the body (N); 0 reproduces Belkoff 2001's unloaded bodies.
    deflation_loss_fraction : float
        Fraction of the lifted height lost when the balloon is deflated (model choice, 0).
    """
    bal = get_balloon(balloon)
    if volume_ml is None:
        volume_ml = bal.max_volume_ml
    if not 0 < volume_ml <= bal.max_volume_ml + 1e-9:
        raise InvalidParameterError(
            f"balloon volume must lie in (0, {bal.max_volume_ml}] mL for a {bal.name} balloon, "
            f"got {volume_ml}"
        )
    if step_ml <= 0 or preload_n < 0 or not 0 <= deflation_loss_fraction <= 1:
        raise InvalidParameterError("step_ml > 0, preload_n >= 0, deflation loss in [0, 1]")
    cap = min(float(pressure_cap_mpa), bal.max_pressure_mpa)
    tips = [np.asarray(t, float) for t in tips_ras_mm]
    if not tips:
        raise InvalidParameterError("at least one trocar tip is needed for a balloon")
    for t in tips:
        model.nearest_fluid_voxel(t, what="trocar tip")
    if axes_ras is None:
        axes = [np.asarray(model.anterior_axis_ras, float)] * len(tips)
    else:
        axes = [np.asarray(a, float) / np.linalg.norm(a) for a in axes_ras]
        if len(axes) != len(tips):
            raise InvalidParameterError("one trocar axis per trocar tip is needed")
    vvox = model.voxel_volume_mm3
    fluid = model.fluid
    sigma0 = model.yield_stress_mpa()  # intact bone's plateau stress
    bmd = model.bmd_mg_cc.astype(np.float64).copy()
    a_ax = np.asarray(model.anterior_axis_ras)
    centroid = np.asarray(model.centroid_ras_mm)
    # what a cavity voxel can touch: 1 side cortex, 2 superior / 3 inferior endplate (broken
    # endplates included), 4 an opening other than an endplate break (breach)
    touch = np.zeros(model.shape, np.int8)
    touch[model.wall] = 1
    touch[model.endplate_superior] = 2
    touch[model.endplate_inferior] = 3
    for op in model.openings:
        if op.kind != "disc":
            touch[op.mask] = 4
    touch_f = touch.ravel()
    # the membrane spreads its load over about a millimetre: crush stress smoothed over fluid
    fl32 = fluid.astype(np.float32)
    sm = ndimage.gaussian_filter(np.where(fluid, sigma0, 0.0), SMOOTHING_MM / model.spacing_mm)
    sigma_f = (sm / np.maximum(ndimage.gaussian_filter(fl32, SMOOTHING_MM / model.spacing_mm),
                               1e-6)).ravel()
    sigma_f[~fluid.ravel()] = np.inf
    fluid_f = fluid.ravel()
    strides = np.array([model.shape[1] * model.shape[2], model.shape[2], 1])
    offsets = np.concatenate([strides, -strides])
    half = _straight_half_length_mm(bal.length_mm, bal.max_volume_ml)
    r_env = _radius_at_volume(half, bal.max_volume_ml) + 0.5 * model.spacing_mm
    envs = []
    heaps: list[list[tuple[float, float, int]]] = []
    queued = []
    for t, a in zip(tips, axes, strict=True):
        d = _segment_distance(model, t, a, half).ravel()
        env = fluid_f & (d <= r_env)
        seed_vox = int(np.ravel_multi_index(model.nearest_fluid_voxel(t), model.shape))
        env[seed_vox] = True
        # the working channel drilled for the deflated balloon is already crushed
        sigma_f[env & (d <= DEFLATED_DIAMETER_MM / 2.0)] = 0.0
        envs.append((env, d))
        heaps.append([(0.0, 0.0, float(d[seed_vox]), seed_vox)])
        q = np.zeros(env.size, bool)
        q[seed_vox] = True
        queued.append(q)
    cavity_f = np.zeros(int(np.prod(model.shape)), bool)
    count = [0] * len(tips)
    heights = tuple(float(h) for h in model.heights_mm)
    heights_before = heights
    lift_total = 0.0
    pv = [(0.0, 0.0)]
    stop = "balloon volume reached"
    sup_contact = inf_contact = False
    p_last = 0.0
    halted = [False] * len(tips)  # stopped at the cortex
    capped = [False] * len(tips)  # could not grow below the pressure cap
    breached = False
    n_steps = int(np.ceil(volume_ml / step_ml - 1e-9))

    def next_sigma(b: int) -> float:
        h = heaps[b]
        while h and cavity_f[h[0][3]]:
            heapq.heappop(h)
        return h[0][1] if h else np.inf

    for k in range(1, n_steps + 1):
        v_target = min(k * step_ml, volume_ml) * 1000.0  # per balloon, mm^3
        active = [b for b in range(len(tips)) if not halted[b]]
        p_next = min(next_sigma(b) for b in active)
        can_lift = (
            (sup_contact or inf_contact) and model.normal_heights_mm is not None
            and any(h < n - 1e-6 for h, n in zip(heights, model.normal_heights_mm, strict=True))
        )
        if can_lift:
            area_mm2 = _projected_area_mm2(model, cavity_f.reshape(model.shape))
            p_lift = preload_n / max(area_mm2, 1e-6)
            if p_lift < p_next and area_mm2 > 0:
                dv = step_ml * 1000.0 * len(active)
                x_b = float(np.mean([(t - centroid) @ a_ax for t in tips])) + model.depth_mm / 2
                new_heights = _lift_heights(model, heights, dv / area_mm2, x_b)
                # volume actually lifted under the balloon(s)
                if new_heights[0] - heights[0] > 0 and abs(new_heights[2] - heights[2]) < 1e-9:
                    dh_b = (new_heights[0] - heights[0]) / model.depth_mm * max(
                        x_b, 0.25 * model.depth_mm)
                else:
                    dh_b = new_heights[1] - heights[1]
                lifted = min(dh_b * area_mm2, dv)
                if lifted > 1e-6:
                    heights = new_heights
                    lift_total += lifted
                    # quasi-static: the balloon keeps the pressure the compacted bone holds
                    pv.append(((float(cavity_f.sum()) * vvox + lift_total) / 1000.0,
                               max(p_lift, p_last)))
                    continue
        if p_next > cap:
            stop = f"pressure cap {cap:.2f} MPa reached"
            break
        if not np.isfinite(p_next):
            stop = "balloon cannot expand further (enclosed by cortex)"
            break
        added: list[int] = []
        hits = [0] * len(tips)
        for b in active:
            env, d = envs[b]
            need = round((v_target - lift_total / len(tips)) / vvox) - count[b]
            h = heaps[b]
            while need > 0:
                if next_sigma(b) > cap or not h:
                    capped[b] = True
                    break
                _key, _sig, _dd, v = heapq.heappop(h)
                cavity_f[v] = True
                count[b] += 1
                need -= 1
                added.append(v)
                for off in offsets:
                    nb = v + off
                    what = int(touch_f[nb])
                    if what in (1, 4):  # side cortex, breach (4 outranks 1)
                        hits[b] = max(hits[b], what)
                    elif what == 2:
                        sup_contact = True
                    elif what == 3:
                        inf_contact = True
                    if env[nb] and not queued[b][nb] and not cavity_f[nb]:
                        queued[b][nb] = True
                        sig_nb = float(sigma_f[nb])
                        key = sig_nb * (1.0 + COMPACTNESS * (float(d[nb]) / r_env) ** 2)
                        heapq.heappush(h, (key, sig_nb, float(d[nb]), int(nb)))
        if not added:
            stop = f"pressure cap {cap:.2f} MPa reached"
            break
        p_step = float(sigma_f[added].max())
        # compaction: move the swept mineral outward
        bmd_f = bmd.reshape(-1)
        mass = float(bmd_f[added].sum())  # mg/cm^3 x voxels
        bmd_f[added] = 0.0
        _deposit(bmd, cavity_f.reshape(model.shape), fluid, mass)
        p_last = max(p_step, 0.0)
        pv.append(((float(cavity_f.sum()) * vvox + lift_total) / 1000.0, p_last))
        if 4 in hits:
            stop = "cortical breach (balloon reached a cortical opening)"
            breached = True
            break
        # each balloon is watched on its own: one at the cortex stops, the other goes on
        for b in active:
            halted[b] = halted[b] or hits[b] == 1
        if all(halted):
            stop = "balloon touched the cortex"
            break
    if stop == "balloon volume reached" and any(capped):
        stop = f"pressure cap {cap:.2f} MPa reached"
    if stop != "balloon touched the cortex" and any(halted):
        stop += f" ({sum(halted)} of {len(tips)} balloons stopped earlier at the cortex)"
    cavity = cavity_f.reshape(model.shape)
    heights_inflated = heights
    after = tuple(
        h0 + (h - h0) * (1.0 - deflation_loss_fraction)
        for h0, h in zip(heights_before, heights_inflated, strict=True)
    )
    # the tamp presses compacted bone and fracture debris against a broken endplate it
    # touches: those opening voxels are sealed (model assumption)
    struct = ndimage.generate_binary_structure(3, 1)
    near = ndimage.binary_dilation(cavity, struct)
    plugged = np.zeros(model.shape, bool)
    for op in model.openings:
        if op.kind == "disc":
            plugged |= op.mask & near
    profile_after = model.profile.with_heights(after)  # type: ignore[arg-type]
    new_model = model.with_cavity(
        cavity, bmd.astype(np.float32), extra_capacity_mm3=lift_total,
        profile=profile_after, plugged=plugged,
    )
    pv_arr = np.asarray(pv, float)
    return BalloonResult(
        cavity=cavity,
        cavity_volume_ml=(float(cavity.sum()) * vvox + lift_total) / 1000.0,
        lift_volume_ml=lift_total / 1000.0,
        pv_curve=pv_arr,
        max_pressure_mpa=float(pv_arr[:, 1].max()),
        stop_reason=stop,
        endplate_contact=(sup_contact, inf_contact),
        heights_before_mm=heights_before,
        heights_inflated_mm=heights_inflated,
        heights_after_mm=after,  # type: ignore[arg-type]
        wedge_angle_before_deg=model.profile.wedge_angle_deg,
        wedge_angle_after_deg=profile_after.wedge_angle_deg,
        model=new_model,
        stopped_at_wall=any(halted) or breached,
    )


def _radius_at_volume(half_mm: float, volume_ml: float) -> float:
    """Capsule radius (mm) with straight half-length ``half_mm`` holding ``volume_ml``."""
    v = volume_ml * 1000.0
    lo, hi = 0.0, 100.0
    for _ in range(60):
        r = 0.5 * (lo + hi)
        if np.pi * r * r * 2.0 * half_mm + 4.0 / 3.0 * np.pi * r**3 < v:
            lo = r
        else:
            hi = r
    return lo


def _projected_area_mm2(model: BoneModel, mask: NDArray[np.bool_]) -> float:
    """Area (mm^2) of ``mask`` projected along the body's superior axis."""
    idx = np.argwhere(mask)
    if idx.size == 0:
        return 0.0
    ras = model.ijk_to_ras(idx)
    s = np.asarray(model.superior_axis_ras)
    a = np.asarray(model.anterior_axis_ras)
    r = np.cross(a, s)
    uv = np.rint(np.stack([ras @ r, ras @ a], axis=1) / model.spacing_mm).astype(np.int64)
    return float(len(np.unique(uv, axis=0))) * model.spacing_mm**2


def _deposit(
    bmd: NDArray[np.float64], cavity: NDArray[np.bool_], fluid: NDArray[np.bool_], mass: float
) -> None:
    """Add ``mass`` (mg/cm^3 x voxels) to layers around the cavity, each up to the cap."""
    struct = ndimage.generate_binary_structure(3, 1)
    inner = cavity.copy()
    for _ in range(12):
        if mass <= 1e-9:
            return
        layer = ndimage.binary_dilation(inner, struct) & ~inner & fluid & ~cavity
        if not layer.any():
            return
        room = np.clip(COMPACTION_CAP_MG_CC - bmd[layer], 0.0, None)
        total_room = float(room.sum())
        if total_room <= 0:
            inner |= layer
            continue
        put = min(mass, total_room)
        bmd[layer] += room * (put / total_room)
        mass -= put
        inner |= layer
    # whatever is left (cavity enclosed by walls) stays in the last layer
