"""``make_phantom``: rasterise the column, discs, canal and trunk into a CT with labels and truth.

Work is done in each structure's bounding box only (vectorised NumPy, float32), the trunk slice
by slice, and the image noise in slabs, so the default phantom (T10-L3, 0.5 mm, ~10^8 voxels)
stays within a few seconds and well under 2 GB.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from kypho.core.case import Case
from kypho.core.levels import LEVEL_IDS
from kypho.core.truth import (
    CorticalBreak,
    PedicleTruth,
    PhantomTruth,
    Tissue,
    VertebraTruth,
)
from kypho.core.volume import LabelMap, Volume, affine_from_spacing
from kypho.errors import InvalidParameterError
from kypho.phantom.anatomy import (
    BLOOD_HU,
    BODY_WALL_MUSCLE_MM,
    CANCELLOUS_HU_BY_DENSITY,
    CORTICAL_SHELL_MM,
    DISC_HEIGHT_MM,
    POSTERIOR_TRABECULAR_FACTOR,
    PSOAS_HU,
    SCANNER_BLUR_MM,
    SKIN_MM,
    SUBCUTANEOUS_FAT_MM,
    TISSUE_HU,
    TORSO_CENTRE_ANTERIOR_MM,
    TORSO_EXPONENT,
    TORSO_HALF_DEPTH_MM,
    TORSO_HALF_WIDTH_MM,
    TRABECULAR_TEXTURE_FRACTION,
    TRABECULAR_TEXTURE_MM,
)
from kypho.phantom.geometry import (
    DISC_BULGE_MM,
    Box,
    Column,
    Primitive,
    VertebraGeometry,
    build_column,
    ellipse_distance,
    outline_distance,
)
from kypho.phantom.spec import PhantomSpec, genant_grade

__all__ = ["MAX_VOXELS", "fracture_lines", "make_phantom"]

F32 = np.float32
Progress = Callable[[float, str], None]

#: Largest grid the generator accepts (about 2.4 GB of arrays); finer grids raise.
MAX_VOXELS = 600_000_000
#: Relative HU increase of the compacted band under a fractured endplate and its depth (mm).
#: **Model choice**: acute compression fractures show a dense band of impacted trabeculae.
COMPACTION_GAIN = 0.8
COMPACTION_DEPTH_MM = 4.0
#: Psoas size along the column (fraction of full size at each level): **model choice** (the
#: psoas arises from T12-L5 and thickens caudally).
PSOAS_SCALE = {
    "T10": 0.0,
    "T11": 0.0,
    "T12": 0.15,
    "L1": 0.35,
    "L2": 0.6,
    "L3": 0.85,
    "L4": 1.0,
    "L5": 1.0,
}


@dataclass(frozen=True)
class _Grid:
    origin: NDArray[np.float64]  # RAS+ mm of voxel (0, 0, 0)
    voxel: float
    shape: tuple[int, int, int]

    def coords(self, axis: int, sl: slice) -> NDArray[np.float64]:
        idx = np.arange(sl.start, sl.stop)
        return self.origin[axis] + idx * self.voxel

    def slices(self, box: Box) -> tuple[slice, slice, slice] | None:
        lo = np.floor((box.lo - self.origin) / self.voxel).astype(int)
        hi = np.ceil((box.hi - self.origin) / self.voxel).astype(int) + 1
        lo = np.clip(lo, 0, self.shape)
        hi = np.clip(hi, 0, self.shape)
        if np.any(hi <= lo):
            return None
        return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))  # type: ignore[return-value]

    def xyz(self, sl: tuple[slice, slice, slice]) -> tuple[NDArray, NDArray, NDArray]:
        return self.coords(0, sl[0]), self.coords(1, sl[1]), self.coords(2, sl[2])


def _relative(inner: tuple[slice, ...], outer: tuple[slice, ...]) -> tuple[slice, ...]:
    return tuple(
        slice(max(i.start, o.start) - o.start, min(i.stop, o.stop) - o.start)
        for i, o in zip(inner, outer, strict=True)
    )


class _Canvas:
    """The arrays being painted: HU (int16), vertebra labels and tissue classes (uint8)."""

    def __init__(self, grid: _Grid, background: Tissue) -> None:
        self.grid = grid
        self.hu = np.full(grid.shape, int(TISSUE_HU[background]), dtype=np.int16)
        self.labels = np.zeros(grid.shape, dtype=np.uint8)
        self.tissue = np.full(grid.shape, int(background), dtype=np.uint8)
        self.blur = math.hypot(grid.voxel, SCANNER_BLUR_MM)

    def fraction_inside(self, d: NDArray[np.float32]) -> NDArray[np.float32]:
        """Fraction of a voxel (box of the scanner's blur width) inside ``d <= 0``."""
        return np.clip(F32(0.5) - d / F32(self.blur), F32(0), F32(1))


def _torso_centre_y(column: Column) -> float:
    """y (RAS mm) of the trunk outline's centre: in front of the mean body centre."""
    return float(np.mean([v.frame.origin[1] for v in column.vertebrae])) + TORSO_CENTRE_ANTERIOR_MM


def _build_grid(spec: PhantomSpec, column: Column, spine_box: Box) -> _Grid:
    v = spec.voxel_mm
    lo, hi = spine_box.lo.copy(), spine_box.hi.copy()
    lo[2] -= spec.margin_mm
    hi[2] += spec.margin_mm
    if spec.soft_tissue:
        y_t = _torso_centre_y(column)
        lo[0], hi[0] = -TORSO_HALF_WIDTH_MM - 4, TORSO_HALF_WIDTH_MM + 4
        lo[1], hi[1] = y_t - TORSO_HALF_DEPTH_MM - 4, y_t + TORSO_HALF_DEPTH_MM + 4
    else:
        lo[:2] -= spec.margin_mm
        hi[:2] += spec.margin_mm
    # Voxel centres on multiples of the voxel size, so x = 0 (mid-sagittal) is a voxel plane.
    origin = np.floor(lo / v) * v
    shape = tuple(int(n) for n in np.floor((hi - origin) / v).astype(int) + 1)
    count = int(np.prod(shape, dtype=np.int64))
    if count > MAX_VOXELS:
        raise InvalidParameterError(
            f"a {v:g} mm phantom of {spec.first_level}-{spec.last_level} needs {count / 1e6:.0f} M "
            f"voxels (limit {MAX_VOXELS / 1e6:.0f} M); use a larger voxel or fewer levels"
        )
    return _Grid(origin, v, shape)  # type: ignore[arg-type]


# --- trunk ---------------------------------------------------------------------------------


def _paint_trunk(canvas: _Canvas, column: Column) -> None:
    g = canvas.grid
    xs = g.coords(0, slice(0, g.shape[0])).astype(F32)
    ys = g.coords(1, slice(0, g.shape[1])).astype(F32)
    zs = g.coords(2, slice(0, g.shape[2]))
    verts = column.vertebrae
    centres = np.array([v.frame.origin for v in verts])
    y_t = _torso_centre_y(column)
    X, Y = xs[:, None], ys[None, :]
    d = ellipse_distance(
        np.broadcast_to(X, (xs.size, ys.size)),
        np.broadcast_to(Y - F32(y_t), (xs.size, ys.size)),
        TORSO_HALF_WIDTH_MM,
        TORSO_HALF_DEPTH_MM,
        TORSO_EXPONENT,
    )
    t2 = np.full(d.shape, int(Tissue.SOFT_TISSUE), np.uint8)
    t2[d > -(SKIN_MM + SUBCUTANEOUS_FAT_MM + BODY_WALL_MUSCLE_MM)] = Tissue.MUSCLE
    t2[d > -(SKIN_MM + SUBCUTANEOUS_FAT_MM)] = Tissue.FAT
    t2[d > -SKIN_MM] = Tissue.SKIN
    t2[d > 0] = Tissue.AIR
    lut = np.zeros(max(Tissue) + 1, F32)
    for t, hu in TISSUE_HU.items():
        lut[int(t)] = hu
    h2 = lut[t2]
    f = canvas.fraction_inside(d)
    edge = d > -canvas.blur
    h2[edge] = F32(-1000) + f[edge] * (h2[edge] + F32(1000))
    canvas.tissue[...] = t2[:, :, None]
    canvas.hu[...] = np.rint(h2).astype(np.int16)[:, :, None]

    # Structures that follow the spine, slice by slice, in a window around it.
    order = np.argsort(centres[:, 2])
    cz = centres[order, 2]

    def along(values: list[float]) -> NDArray[np.float64]:
        return np.interp(zs, cz, np.asarray(values, dtype=float)[order])

    yc = along([v.frame.origin[1] for v in verts])
    wh = along([v.half_width for v in verts])
    dh = along([v.half_depth for v in verts])
    canal = along([v.anatomy.canal_depth_mm for v in verts])
    psoas = along([PSOAS_SCALE.get(v.level, 1.0) for v in verts])
    x_half = float(wh.max()) + 60.0
    iw = g.slices(Box(np.array([-x_half, -1e9, -1e9]), np.array([x_half, 1e9, 1e9])))
    y_lo, y_hi = float(yc.min() - dh.max() - canal.max() - 80), float(yc.max() + dh.max() + 45)
    jw = g.slices(Box(np.array([-1e9, y_lo, -1e9]), np.array([1e9, y_hi, 1e9])))
    if iw is None or jw is None:
        return
    si, sj = iw[0], jw[1]
    Xw, Yw = xs[si][:, None], ys[sj][None, :]
    deep = d[si, sj] <= -(SKIN_MM + SUBCUTANEOUS_FAT_MM)

    def ell(cx: float, cy: float, ax: float, ay: float) -> NDArray[np.bool_]:
        return ((Xw - F32(cx)) / F32(ax)) ** 2 + ((Yw - F32(cy)) / F32(ay)) ** 2 <= 1

    for k in range(g.shape[2]):
        tk = canvas.tissue[si, sj, k]
        hk = canvas.hu[si, sj, k]
        y0, w0, d0, c0 = float(yc[k]), float(wh[k]), float(dh[k]), float(canal[k])
        # Fat around the vertebral bodies (retroperitoneal, paravertebral) and behind them
        # around the paraspinal muscles (model placement).
        m = (ell(0, y0, w0 + 14, d0 + 12) | ell(0, y0 - d0 - 30, 90, 50)) & deep
        tk[m], hk[m] = Tissue.FAT, int(TISSUE_HU[Tissue.FAT])
        # Aorta, left antero-lateral to the bodies (model placement).
        m = ell(-0.45 * w0, y0 + d0 + 14, 12, 12) & deep
        tk[m], hk[m] = Tissue.SOFT_TISSUE, int(BLOOD_HU)
        # Erector spinae and multifidus, behind the laminae.
        y_p = y0 - d0 - c0 - 24
        m = (ell(34, y_p, 30, 27) | ell(-34, y_p, 30, 27)) & deep
        tk[m], hk[m] = Tissue.MUSCLE, int(TISSUE_HU[Tissue.MUSCLE])
        if psoas[k] > 0.05:
            # Psoas in a thin fat sheath (model placement and size).
            ax_, ay_ = 24 * float(psoas[k]), 20 * float(psoas[k])
            for grow, tissue, hu in (
                (3, Tissue.FAT, TISSUE_HU[Tissue.FAT]),
                (0, Tissue.MUSCLE, PSOAS_HU),
            ):
                m = (
                    ell(w0 + 12, y0 - 4, ax_ + grow, ay_ + grow)
                    | ell(-(w0 + 12), y0 - 4, ax_ + grow, ay_ + grow)
                ) & deep
                tk[m], hk[m] = tissue, int(hu)


# --- discs and canal -------------------------------------------------------------------------


def _paint_region(
    canvas: _Canvas,
    box: Box,
    sdf: Callable[[NDArray, NDArray, NDArray], NDArray[np.float32]],
    tissue: Tissue,
    hu: float,
    *,
    keep: tuple[Tissue, ...] = (),
) -> None:
    """Paint ``tissue`` where ``sdf <= 0`` (blending HU over the voxel/blur box)."""
    sl = canvas.grid.slices(box.grown(canvas.blur))
    if sl is None:
        return
    d = sdf(*canvas.grid.xyz(sl))
    tis = canvas.tissue[sl]
    free = canvas.labels[sl] == 0
    for t in keep:
        free &= tis != t
    f = canvas.fraction_inside(d)
    upd = free & (f > 0)
    blk = canvas.hu[sl]
    blended = blk.astype(F32) * (F32(1) - f) + f * F32(hu)
    blk[upd] = np.rint(blended[upd]).astype(np.int16)
    tis[free & (d <= 0)] = tissue


def _disc_sdf(
    low: VertebraGeometry, up: VertebraGeometry | None, height: float, *, below: bool = False
):
    """Disc between ``low`` (its superior surface) and ``up`` (its inferior surface).

    With ``up`` None it is an end disc of the given height above ``low`` (or, with ``below``,
    under ``low``'s inferior surface)."""
    wh = low.half_width + DISC_BULGE_MM
    dh = low.half_depth + DISC_BULGE_MM
    if up is not None:
        wh = (low.half_width + up.half_width) / 2 + DISC_BULGE_MM
        dh = (low.half_depth + up.half_depth) / 2 + DISC_BULGE_MM

    def sdf(xs: NDArray, ys: NDArray, zs: NDArray) -> NDArray[np.float32]:
        u, a, s = low.frame.local_grids(xs, ys, zs)
        lateral = outline_distance(u, a, wh, dh)
        if below:
            d1 = s - low.s_inferior(u, a).astype(F32)
            d2 = (F32(low.bot0 - height) + F32(low.g_bot) * a) - s
            return np.maximum(lateral, np.maximum(d1, d2))
        d_low = low.s_superior(u, a).astype(F32) - s
        if up is None:
            d_up = s - (F32(low.top0 + height) + F32(low.g_top) * a)
        else:
            uu, au, su = up.frame.local_grids(xs, ys, zs)
            d_up = su - up.s_inferior(uu, au).astype(F32)
        return np.maximum(lateral, np.maximum(d_low, d_up))

    return sdf


def _disc_box(
    low: VertebraGeometry, up: VertebraGeometry | None, height: float, below: bool
) -> Box:
    """World box holding the disc above (or, with ``below``, under) ``low``."""
    wh, dh = low.half_width + 3, low.half_depth + 3
    slope = max(abs(low.g_top), abs(low.g_bot)) * dh
    if below:
        s_range = (low.bot0 - height - slope - 3, low.bot0 + slope + 3)
    else:
        s_range = (low.top0 - slope - 3, low.top0 + height + slope + 3)
    pts = [
        low.frame.to_world([su, sa, ss]) for su in (-wh, wh) for sa in (-dh, dh) for ss in s_range
    ]
    if up is not None:
        wu, du = up.half_width + 3, up.half_depth + 3
        su_slope = abs(up.g_bot) * du
        pts += [
            up.frame.to_world([su, sa, ss])
            for su in (-wu, wu)
            for sa in (-du, du)
            for ss in (up.bot0 - su_slope - 3, up.bot0 + su_slope + 3)
        ]
    p = np.array(pts)
    return Box(p.min(axis=0), p.max(axis=0))


def _canal_sdf(v: VertebraGeometry, s_lo: float, s_hi: float):
    cw, ch = v.anatomy.canal_width_mm / 2, v.anatomy.canal_depth_mm / 2
    a_c = v.canal_centre_a

    def sdf(xs: NDArray, ys: NDArray, zs: NDArray) -> NDArray[np.float32]:
        u, a, s = v.frame.local_grids(xs, ys, zs)
        d = ellipse_distance(u, a - F32(a_c), cw, ch)
        return np.maximum(d, np.maximum(s - F32(s_hi), F32(s_lo) - s))

    corners = np.array(
        [[su, sa, ss] for su in (-cw, cw) for sa in (a_c - ch, a_c + ch) for ss in (s_lo, s_hi)]
    )
    w = v.frame.to_world(corners)
    return sdf, Box(w.min(axis=0), w.max(axis=0))


# --- vertebrae -------------------------------------------------------------------------------


def _break_sites(v: VertebraGeometry, names: tuple[str, ...]) -> list[tuple[str, NDArray, float]]:
    """(location, local centre, radius) of each cortical break (positions are model choices)."""
    wh, dh = v.half_width, v.half_depth
    r_ep = 0.35 * min(wh, dh)
    a_sup = 0.35 * dh if (v.fracture is not None and v.fracture.type == "wedge") else 0.0
    s_mid = float((v.s_superior(0.0, 0.0) + v.s_inferior(0.0, 0.0)) / 2)
    sites = {
        "superior_endplate": (np.array([0.0, a_sup, float(v.s_superior(0.0, a_sup))]), r_ep),
        "inferior_endplate": (np.array([0.0, 0.0, float(v.s_inferior(0.0, 0.0))]), r_ep),
        "posterior_wall": (np.array([0.0, -dh, v.s_superior_posterior - 4.0]), 5.0),
        "anterior_wall": (np.array([0.0, dh, float(v.top0 + v.g_top * dh) - 4.0]), 5.0),
        "left_wall": (np.array([-wh, 0.0, s_mid]), 5.0),
        "right_wall": (np.array([wh, 0.0, s_mid]), 5.0),
    }
    return [(n, *sites[n]) for n in names]


@dataclass
class _Painted:
    centroid: NDArray[np.float64]
    trabecular_hu: float


def _paint_vertebra(
    canvas: _Canvas,
    v: VertebraGeometry,
    prims: list[Primitive],
    trab_hu: float,
    rng: np.random.Generator,
) -> _Painted:
    g = canvas.grid
    frame = v.frame
    label_id = LEVEL_IDS[v.level]
    retro = v.retropulsion_primitive()
    all_prims = [*prims, *([retro] if retro is not None else [])]
    boxes = [p.world_box(frame) for p in all_prims]
    vbox = boxes[0]
    for b in boxes[1:]:
        vbox = vbox.union(b)
    vsl = g.slices(vbox.grown(canvas.blur + g.voxel))
    if vsl is None:
        raise InvalidParameterError(f"{v.level} lies outside the phantom's grid")
    xs, ys, zs = g.xyz(vsl)
    shape = (xs.size, ys.size, zs.size)
    big = F32(1e3)
    d_body = np.full(shape, big, F32)
    d_post = np.full(shape, big, F32)
    d_frag = np.full(shape, big, F32)
    for p, b in zip(all_prims, boxes, strict=True):
        psl = g.slices(b.grown(canvas.blur + g.voxel))
        if psl is None:
            continue
        rel = _relative(psl, vsl)
        if any(r.stop <= r.start for r in rel):
            continue
        u, a, s = frame.local_grids(xs[rel[0]], ys[rel[1]], zs[rel[2]])
        d = p.sdf(u, a, s)
        target = d_frag if p.name == "retropulsed" else (d_body if p.group == "body" else d_post)
        np.minimum(target[rel], d, out=target[rel])
    u, a, s = frame.local_grids(xs, ys, zs)
    d_core = np.minimum(d_body, d_post)
    d = np.minimum(d_core, d_frag)

    lab = canvas.labels[vsl]
    tis = canvas.tissue[vsl]
    own = (lab == 0) | (lab == label_id)
    inside = (d <= 0) & own

    t_shell = F32(CORTICAL_SHELL_MM)
    f_in = canvas.fraction_inside(d)
    f_inner = canvas.fraction_inside(d + t_shell)
    f_shell = f_in - f_inner
    broken = np.zeros(shape, bool)
    if v.fracture is not None:
        for _name, c, r in _break_sites(v, v.fracture.breaks):
            broken |= (u - F32(c[0])) ** 2 + (a - F32(c[1])) ** 2 + (s - F32(c[2])) ** 2 <= F32(
                r * r
            )
    f_inner = np.where(broken, f_in, f_inner)
    f_shell = np.where(broken, F32(0), f_shell)

    # Trabecular bone: density class, texture, and a compacted band under a fractured endplate.
    sigma = TRABECULAR_TEXTURE_MM / g.voxel
    tex = ndimage.gaussian_filter(
        rng.standard_normal(shape, dtype=F32), sigma=sigma, mode="reflect"
    )
    tex /= max(float(tex.std()), 1e-6)
    is_body = d_body <= d_post
    trab = np.where(is_body, F32(trab_hu), F32(trab_hu * POSTERIOR_TRABECULAR_FACTOR))
    trab = trab * (F32(1) + F32(TRABECULAR_TEXTURE_FRACTION) * tex)
    cleft = np.zeros(shape, bool)
    f_cl = None
    if v.fracture is not None:
        depth_sup = v.s_superior(u, a).astype(F32) - s
        band = (depth_sup >= 0) & (depth_sup <= COMPACTION_DEPTH_MM)
        if v.fracture.type == "biconcave":
            depth_inf = s - v.s_inferior(u, a).astype(F32)
            band |= (depth_inf >= 0) & (depth_inf <= COMPACTION_DEPTH_MM)
        band &= is_body
        trab = np.where(band, trab * F32(1 + COMPACTION_GAIN), trab)
        if v.fracture.has_cleft:
            # A gas cleft: a thin slab in the upper half of the body, sparing the rim.
            hm = float(v.s_superior(0, 0) - v.s_inferior(0, 0))
            s_c = float(v.s_superior(0.0, 0.0)) - 0.3 * hm
            half = max(1.5, 0.6 * g.voxel)
            lateral = outline_distance(u, a, 0.7 * v.half_width, 0.7 * v.half_depth)
            d_cl = np.maximum(np.abs(s - F32(s_c)) - F32(half), lateral)
            f_cl = canvas.fraction_inside(d_cl) * (d_body <= -t_shell)
            cleft = (d_cl <= 0) & (d_body <= -t_shell)

    blk = canvas.hu[vsl]
    old = blk.astype(F32)
    new = old * (F32(1) - f_in) + f_inner * trab + f_shell * F32(TISSUE_HU[Tissue.CORTICAL])
    if f_cl is not None:
        new = new * (F32(1) - f_cl) + f_cl * F32(TISSUE_HU[Tissue.CLEFT])
    upd = own & (f_in > 0)
    blk[upd] = np.clip(np.rint(new[upd]), -1024, 3071).astype(np.int16)

    t_label = F32(max(CORTICAL_SHELL_MM, g.voxel))
    tmap = np.where(is_body, np.uint8(Tissue.TRABECULAR), np.uint8(Tissue.POSTERIOR_TRABECULAR))
    tmap[(d > -t_label) & ~broken] = Tissue.CORTICAL
    tmap[(d_frag <= 0) & (d_core > 0)] = Tissue.RETROPULSED
    tmap[cleft] = Tissue.CLEFT
    tis[inside] = tmap[inside]
    lab[inside] = label_id

    body_vox = (d_body <= 0) & own
    idx = np.nonzero(body_vox)
    centroid = np.array([xs[idx[0]].mean(), ys[idx[1]].mean(), zs[idx[2]].mean()])
    trab_vox = body_vox & (tmap == Tissue.TRABECULAR)
    trab_mean = float(trab[trab_vox].mean()) if trab_vox.any() else float(trab_hu)
    return _Painted(centroid, trab_mean)


def _vertebra_truth(
    v: VertebraGeometry, normal: VertebraGeometry, painted: _Painted
) -> VertebraTruth:
    fr = v.frame
    lm_local = v.landmarks_local()
    lm = {k: tuple(float(x) for x in fr.to_world(p)) for k, p in lm_local.items()}

    def dist(p: str, q: str) -> float:
        return float(np.linalg.norm(np.subtract(lm[p], lm[q])))

    ha, hm, hp = dist("sa", "ia"), dist("sm", "im"), dist("sp", "ip")
    nha, nhm, nhp = normal.heights_mm()
    loss = max(0.0, 1 - ha / nha, 1 - hm / nhm, 1 - hp / nhp) * 100.0
    # Wedge angle from the morphometry points (positive when anterior is shorter).
    al2 = 2 * v.a_landmark
    slope_sup = (lm_local["sa"][2] - lm_local["sp"][2]) / al2
    slope_inf = (lm_local["ia"][2] - lm_local["ip"][2]) / al2
    wedge = math.degrees(math.atan(slope_inf) - math.atan(slope_sup))
    an = v.anatomy
    peds = []
    for side in ("right", "left"):
        peds.append(
            PedicleTruth(
                side=side,  # type: ignore[arg-type]
                isthmus_ras_mm=tuple(float(x) for x in fr.to_world(v.pedicle_centre_local(side))),  # type: ignore[arg-type]
                axis_ras=tuple(float(x) for x in fr.direction(v.pedicle_axis_local(side))),  # type: ignore[arg-type]
                width_mm=an.pedicle_width_mm,
                height_mm=an.pedicle_height_mm,
                transverse_angle_deg=an.pedicle_transverse_deg,
                sagittal_angle_deg=an.pedicle_sagittal_deg,
            )
        )
    breaks = []
    fx = v.fracture
    if fx is not None:
        for name, c, r in _break_sites(v, fx.breaks):
            breaks.append(
                CorticalBreak(
                    location=name,  # type: ignore[arg-type]
                    centre_ras_mm=tuple(float(x) for x in fr.to_world(c)),  # type: ignore[arg-type]
                    radius_mm=float(r),
                )
            )
    vec = lambda x: tuple(float(c) for c in x)  # noqa: E731
    return VertebraTruth(
        level=v.level,
        label_id=LEVEL_IDS[v.level],
        centroid_ras_mm=vec(painted.centroid),  # type: ignore[arg-type]
        superior_axis_ras=vec(fr.direction([0.0, 0.0, 1.0])),  # type: ignore[arg-type]
        anterior_axis_ras=vec(fr.direction([0.0, 1.0, 0.0])),  # type: ignore[arg-type]
        landmarks_ras_mm=lm,  # type: ignore[arg-type]
        height_anterior_mm=ha,
        height_middle_mm=hm,
        height_posterior_mm=hp,
        normal_height_anterior_mm=float(nha),
        normal_height_middle_mm=float(nhm),
        normal_height_posterior_mm=float(nhp),
        body_width_mm=2 * v.half_width,
        body_depth_mm=2 * v.half_depth,
        wedge_angle_deg=float(wedge),
        fracture_type=fx.type if fx is not None else "none",
        genant_grade=genant_grade(loss) if fx is not None else 0,
        height_loss_pct=float(loss) if fx is not None else 0.0,
        trabecular_hu=painted.trabecular_hu,
        retropulsion_mm=float(fx.retropulsion_mm) if fx is not None else 0.0,
        pedicles=tuple(peds),
        cortical_breaks=tuple(breaks),
    )


def _add_noise(canvas: _Canvas, spec: PhantomSpec) -> None:
    if spec.noise_hu <= 0:
        return
    rng = np.random.default_rng(np.random.SeedSequence([spec.seed, 1]))
    hu = canvas.hu
    step = max(1, int(8_000_000 // max(1, hu.shape[1] * hu.shape[2])))
    for i0 in range(0, hu.shape[0], step):  # contiguous slabs of about 8 M voxels
        blk = hu[i0 : i0 + step]
        noise = rng.standard_normal(blk.shape, dtype=F32)
        noise *= F32(spec.noise_hu)
        noise += blk
        np.clip(noise, -1024, 3071, out=noise)
        blk[...] = np.rint(noise).astype(np.int16)


def make_phantom(spec: PhantomSpec | None = None, *, progress: Progress | None = None) -> Case:
    """Generate a synthetic thoracolumbar CT with labels, tissue map and ground truth.

    Parameters
    ----------
    spec : PhantomSpec, optional
        What to build; default T10-L3 at 0.5 mm, normal bone, no fracture.
    progress : callable, optional
        Called as ``progress(fraction, message)`` while working.

    Returns
    -------
    Case
        ``volume`` in HU (int16), ``labels`` with kypho level ids, ``tissue`` with
        :class:`~kypho.core.truth.Tissue` ids, ``truth`` and ``metadata['spec']``.
    """
    spec = spec if spec is not None else PhantomSpec()
    report = progress or (lambda f, m: None)
    report(0.0, "phantom: geometry")
    col_n, col_f = build_column(spec.levels, spec.fractures)
    verts = col_f.vertebrae
    n = len(verts)
    disc_above = [
        col_f.disc_height_mm[i - 1] if i > 0 else DISC_HEIGHT_MM[verts[0].level] for i in range(n)
    ]
    disc_below = [
        col_f.disc_height_mm[i] if i < n - 1 else DISC_HEIGHT_MM[verts[-1].level] for i in range(n)
    ]
    prims = [v.primitives(disc_above[i], disc_below[i]) for i, v in enumerate(verts)]
    spine_box = prims[0][0].world_box(verts[0].frame)
    for v, ps in zip(verts, prims, strict=True):
        for p in ps:
            spine_box = spine_box.union(p.world_box(v.frame))
    end_top = _disc_box(verts[0], None, disc_above[0], below=False)
    end_bot = _disc_box(verts[-1], None, disc_below[-1], below=True)
    spine_box = spine_box.union(end_top).union(end_bot)
    grid = _build_grid(spec, col_f, spine_box)
    canvas = _Canvas(grid, Tissue.AIR)

    if spec.soft_tissue:
        report(0.05, "phantom: trunk")
        _paint_trunk(canvas, col_f)

    report(0.3, "phantom: discs and canal")
    disc_hu = TISSUE_HU[Tissue.DISC]
    for i in range(n - 1):
        low, up = verts[i + 1], verts[i]
        h = col_f.disc_height_mm[i]
        _paint_region(
            canvas, _disc_box(low, up, h, False), _disc_sdf(low, up, h), Tissue.DISC, disc_hu
        )
    _paint_region(canvas, end_top, _disc_sdf(verts[0], None, disc_above[0]), Tissue.DISC, disc_hu)
    _paint_region(
        canvas,
        end_bot,
        _disc_sdf(verts[-1], None, disc_below[-1], below=True),
        Tissue.DISC,
        disc_hu,
    )
    for i, v in enumerate(verts):
        ext_up = disc_above[i] / 2 + 1.0 if i > 0 else disc_above[i] + spec.margin_mm + 10
        ext_dn = disc_below[i] / 2 + 1.0 if i < n - 1 else disc_below[i] + spec.margin_mm + 10
        sdf, box = _canal_sdf(v, v.s_inferior_posterior - ext_dn, v.s_superior_posterior + ext_up)
        _paint_region(canvas, box, sdf, Tissue.CANAL, TISSUE_HU[Tissue.CANAL], keep=(Tissue.DISC,))

    trab_hu = CANCELLOUS_HU_BY_DENSITY[spec.bone_density]
    truths: list[VertebraTruth] = []
    # Caudal to cranial: where an inferior articular process meets the pedicle or superior
    # process of the level below, the level below keeps its voxels.
    for i in range(n - 1, -1, -1):
        v = verts[i]
        report(0.35 + 0.45 * (n - 1 - i) / n, f"phantom: {v.level}")
        rng = np.random.default_rng(np.random.SeedSequence([spec.seed, 2, LEVEL_IDS[v.level]]))
        painted = _paint_vertebra(canvas, v, prims[i], trab_hu, rng)
        truths.insert(0, _vertebra_truth(v, col_n.vertebrae[i], painted))

    report(0.82, "phantom: image noise")
    _add_noise(canvas, spec)

    loss = col_n.length_mm() - col_f.length_mm()
    tissue_hu = {t.name: float(h) for t, h in TISSUE_HU.items()}
    tissue_hu["TRABECULAR"] = float(trab_hu)
    tissue_hu["POSTERIOR_TRABECULAR"] = float(trab_hu * POSTERIOR_TRABECULAR_FACTOR)
    spec_dict = spec.to_dict()
    truth = PhantomTruth(
        seed=spec.seed,
        spec=spec_dict,
        vertebrae=tuple(truths),
        tissue_hu=tissue_hu,
        column_height_loss_mm=loss,
        notes=(
            "Synthetic phantom for research and education; not patient data, not a medical device.",
            "Coordinates are RAS+ mm; landmarks lie in each vertebra's mid-sagittal plane, "
            "2 mm inside the anterior and posterior body outline.",
            "column_height_loss_mm: shortening of the column along its centre line (sum of the "
            "bodies' rim-to-rim heights at mid-depth; discs unchanged).",
        ),
    )
    affine = affine_from_spacing((grid.voxel,) * 3, grid.origin)
    report(0.95, "phantom: wrapping up")
    case = Case(
        volume=Volume(canvas.hu, affine),
        labels=LabelMap(canvas.labels, affine),
        name="phantom",
        metadata={
            "source": "kypho synthetic phantom",
            "description": _describe(spec),
            "spec": spec_dict,
        },
        truth=truth,
        tissue=LabelMap(canvas.tissue, affine),
    )
    report(1.0, "phantom: done")
    return case


def _describe(spec: PhantomSpec) -> str:
    fx = ", ".join(
        f"{f.level} {f.type} {f.loss_pct:g} % (Genant {genant_grade(f.loss_pct)})"
        for f in spec.fractures
    )
    return (
        f"Synthetic spine {spec.first_level}-{spec.last_level}, {spec.voxel_mm:g} mm voxels, "
        f"{spec.bone_density} bone" + (f", fractures: {fx}" if fx else ", no fracture")
    )


def fracture_lines(case: Case) -> list[str]:
    """One line per fracture the generator built into a phantom case (from its truth)."""
    if case.truth is None:
        return []
    return [
        f"{v.level}: {v.fracture_type}, Genant {v.genant_grade}, height loss "
        f"{v.height_loss_pct:.1f} %, wedge {v.wedge_angle_deg:.1f} deg"
        for v in case.truth.vertebrae if v.fracture_type != "none"
    ]
