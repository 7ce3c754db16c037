"""Geometry of the phantom: each vertebra in its own frame, the column they form, implicit shapes.

Every vertebra is described in a local frame ``(u, a, s)`` in mm: ``u`` to the patient's
right, ``a`` anterior, ``s`` superior, origin at the centre of the body (mid-sagittal plane,
half-way between the endplate rims at the body's mid-depth).  The frame's axes in RAS+ are
``e_u = (1, 0, 0)``, ``e_a``, ``e_s``; a vertebra only tilts in the sagittal plane.

Endplates are the rim planes ``s = top0 + g_top * a`` (superior) and ``s = bot0 + g_bot * a``
(inferior) minus/plus a smooth central concavity.  Shapes are implicit: each primitive returns
an approximate signed distance in mm (negative inside, exact zero level set), combined by
``min`` (union) and ``max`` (intersection).  Distances are only evaluated inside each
primitive's bounding box.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

from kypho.phantom.anatomy import (
    DISC_HEIGHT_MM,
    ENDPLATE_CENTRAL_FRACTION,
    ENDPLATE_CONCAVITY_MM,
    LAMINA_THICKNESS_MM,
    SEGMENT_ANGLE_DEG,
    LevelAnatomy,
    level_anatomy,
)
from kypho.phantom.spec import FractureSpec

__all__ = [
    "LANDMARK_INSET_MM",
    "Box",
    "Primitive",
    "VertebraGeometry",
    "build_column",
    "ellipse_distance",
    "outline_distance",
]

F32 = np.float32
FloatArray = NDArray[np.float32]

#: Morphometry points lie this far inside the anterior and posterior body outline (mm), where a
#: reader places them on the endplate rim (**model choice**).
LANDMARK_INSET_MM = 2.0
#: Concave waist of the body wall at mid-height (mm, **model choice**).
WAIST_MM = 1.0
#: Posterior wall flattening: superellipse exponent of the posterior half of the body outline
#: (**model choice**; the anterior half is elliptical).
POSTERIOR_EXPONENT = 4.0
#: Disc outline extends this far beyond the rims (annular bulge, **model choice**).
DISC_BULGE_MM = 1.0


def ellipse_distance(
    x: FloatArray, y: FloatArray, ax: float, ay: float, p: float = 2.0
) -> FloatArray:
    """Signed distance (mm) to a superellipse ``|x/ax|^p + |y/ay|^p = 1`` along the ray from its centre.

    Exact on the boundary (zero level set), an over-estimate of the normal distance elsewhere.
    """
    ax, ay = max(float(ax), 1e-3), max(float(ay), 1e-3)
    r = np.sqrt(x * x + y * y)
    if p == 2.0:
        rho = np.sqrt((x / ax) ** 2 + (y / ay) ** 2)
    else:
        rho = (np.abs(x / ax) ** p + np.abs(y / ay) ** p) ** (1.0 / p)
    out = np.empty_like(r)
    small = rho < 1e-6
    np.subtract(r, np.divide(r, rho, out=np.zeros_like(r), where=~small), out=out)
    out[small] = -min(ax, ay)
    return out


def outline_distance(u: FloatArray, a: FloatArray, wh: float, dh: float) -> FloatArray:
    """Signed distance (mm, along rays) to the body outline in the ``(u, a)`` plane: elliptical
    in front, flattened behind (superellipse of exponent :data:`POSTERIOR_EXPONENT`)."""
    front = ellipse_distance(u, a, wh, dh, 2.0)
    back = ellipse_distance(u, a, wh, dh, POSTERIOR_EXPONENT)
    return np.where(a >= 0, front, back)


@dataclass(frozen=True)
class Box:
    """Axis-aligned box in RAS+ mm."""

    lo: NDArray[np.float64]
    hi: NDArray[np.float64]

    def union(self, other: Box) -> Box:
        return Box(np.minimum(self.lo, other.lo), np.maximum(self.hi, other.hi))

    def grown(self, mm: float) -> Box:
        return Box(self.lo - mm, self.hi + mm)


@dataclass(frozen=True)
class Frame:
    """A vertebra's pose: origin (RAS+ mm) and sagittal tilt ``phi`` (rad, + = flexion)."""

    origin: NDArray[np.float64]
    phi: float

    @property
    def rotation(self) -> NDArray[np.float64]:
        """Columns ``e_u, e_a, e_s`` in RAS+."""
        c, s = math.cos(self.phi), math.sin(self.phi)
        return np.array([[1.0, 0.0, 0.0], [0.0, c, s], [0.0, -s, c]])

    def to_world(self, local: ArrayLike) -> NDArray[np.float64]:
        p = np.asarray(local, dtype=float)
        return p @ self.rotation.T + self.origin

    def direction(self, local: ArrayLike) -> NDArray[np.float64]:
        return np.asarray(local, dtype=float) @ self.rotation.T

    def local_grids(
        self, xs: NDArray[np.float64], ys: NDArray[np.float64], zs: NDArray[np.float64]
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Local ``u, a, s`` of the voxel centres ``xs x ys x zs`` (broadcast 3-D, float32)."""
        r = self.rotation
        x = (xs - self.origin[0]).astype(F32)[:, None, None]
        y = (ys - self.origin[1]).astype(F32)[None, :, None]
        z = (zs - self.origin[2]).astype(F32)[None, None, :]
        # local = R^T (p - o); the rotation only mixes y and z.
        shape = (x.shape[0], y.shape[1], z.shape[2])
        a = F32(r[1, 1]) * y + F32(r[2, 1]) * z
        s = F32(r[1, 2]) * y + F32(r[2, 2]) * z
        return (
            np.broadcast_to(x, shape),
            np.broadcast_to(a, shape),
            np.broadcast_to(s, shape),
        )


@dataclass(frozen=True)
class Primitive:
    """An implicit shape in a vertebra's frame: a bounding box in local coordinates and a
    function ``(u, a, s) -> signed distance``."""

    name: str
    group: str  # "body" or "posterior"
    local_lo: tuple[float, float, float]
    local_hi: tuple[float, float, float]
    sdf: Callable[[FloatArray, FloatArray, FloatArray], FloatArray]

    def world_box(self, frame: Frame) -> Box:
        corners = np.array(
            [
                [x, y, z]
                for x in (self.local_lo[0], self.local_hi[0])
                for y in (self.local_lo[1], self.local_hi[1])
                for z in (self.local_lo[2], self.local_hi[2])
            ]
        )
        w = frame.to_world(corners)
        return Box(w.min(axis=0), w.max(axis=0))


def _oriented_cylinder(
    centre: NDArray[np.float64],
    axis: NDArray[np.float64],
    half_w: float,
    half_h: float,
    t0: float,
    t1: float,
    *,
    flare: float = 0.0,
    h_scale: tuple[float, float] = (1.0, 1.0),
) -> tuple[Callable[[FloatArray, FloatArray, FloatArray], FloatArray], tuple, tuple]:
    """Elliptic cylinder along unit ``axis`` (local coords) from ``t0`` to ``t1`` around ``centre``.

    The cross-section axis ``w`` is horizontal (perpendicular to ``axis`` and to local ``s``),
    ``h`` completes the frame.  ``flare`` widens the section by that fraction per mm beyond 2 mm
    from the centre (pedicles flare into the body and the lamina); ``h_scale`` scales the
    ``h`` semi-axis linearly from ``t0`` to ``t1`` (a tapering or widening plate).
    """
    t_hat = axis / np.linalg.norm(axis)
    w_hat = np.cross(np.array([0.0, 0.0, 1.0]), t_hat)
    if np.linalg.norm(w_hat) < 1e-6:  # vertical axis: take u as the width direction
        w_hat = np.array([1.0, 0.0, 0.0])
    w_hat /= np.linalg.norm(w_hat)
    h_hat = np.cross(t_hat, w_hat)
    c = centre.astype(float)

    def sdf(u: FloatArray, a: FloatArray, s: FloatArray) -> FloatArray:
        du, da, ds = u - F32(c[0]), a - F32(c[1]), s - F32(c[2])
        t = F32(t_hat[0]) * du + F32(t_hat[1]) * da + F32(t_hat[2]) * ds
        w = F32(w_hat[0]) * du + F32(w_hat[1]) * da + F32(w_hat[2]) * ds
        h = F32(h_hat[0]) * du + F32(h_hat[1]) * da + F32(h_hat[2]) * ds
        if flare:
            grow = F32(1.0) + F32(flare) * np.maximum(np.abs(t) - F32(2.0), F32(0.0))
            w = w / grow
            h = h / grow
            d = ellipse_distance(w, h, half_w, half_h) * grow
        elif h_scale != (1.0, 1.0):
            frac = np.clip((t - F32(t0)) / F32(t1 - t0), F32(0), F32(1))
            k = F32(h_scale[0]) + F32(h_scale[1] - h_scale[0]) * frac
            d = ellipse_distance(w, h / k, half_w, half_h)
        else:
            d = ellipse_distance(w, h, half_w, half_h)
        return np.maximum(d, np.maximum(t - F32(t1), F32(t0) - t))

    grow_max = (1.0 + flare * max(abs(t0), abs(t1))) * max(1.0, *h_scale)
    pts = np.array(
        [
            c + t * t_hat + sw * half_w * grow_max * w_hat + sh * half_h * grow_max * h_hat
            for t in (t0, t1)
            for sw in (-1, 1)
            for sh in (-1, 1)
        ]
    )
    return sdf, tuple(pts.min(axis=0)), tuple(pts.max(axis=0))


@dataclass(frozen=True)
class VertebraGeometry:
    """One vertebra as built: dimensions, endplates, pose and implicit shapes.

    Heights and slopes are of the endplate *rims*; the concave centre is subtracted by
    :meth:`s_superior` / :meth:`s_inferior`.
    """

    level: str
    anatomy: LevelAnatomy
    half_width: float
    half_depth: float
    top0: float
    g_top: float
    bot0: float
    g_bot: float
    concavity_sup: float
    concavity_inf: float
    fracture: FractureSpec | None = None
    frame: Frame = field(default_factory=lambda: Frame(np.zeros(3), 0.0))

    # --- endplates -------------------------------------------------------------------------
    @property
    def a_landmark(self) -> float:
        """``a`` of the anterior morphometry points (posterior ones at minus this)."""
        return self.half_depth - LANDMARK_INSET_MM

    def _concave_profile(self, u: ArrayLike, a: ArrayLike) -> NDArray:
        q2 = (np.asarray(u) / self.half_width) ** 2 + (np.asarray(a) / self.half_depth) ** 2
        x = np.clip(1.0 - q2 / ENDPLATE_CENTRAL_FRACTION**2, 0.0, None)
        return x * x

    def s_superior(self, u: ArrayLike, a: ArrayLike) -> NDArray:
        """``s`` of the superior endplate surface (concavity included)."""
        a = np.asarray(a)
        return self.top0 + self.g_top * a - self.concavity_sup * self._concave_profile(u, a)

    def s_inferior(self, u: ArrayLike, a: ArrayLike) -> NDArray:
        """``s`` of the inferior endplate surface (concavity included)."""
        a = np.asarray(a)
        return self.bot0 + self.g_bot * a + self.concavity_inf * self._concave_profile(u, a)

    @property
    def endplate_wedge_deg(self) -> float:
        """Angle between the rim planes, positive when the anterior height is smaller."""
        return math.degrees(math.atan(self.g_bot) - math.atan(self.g_top))

    def heights_mm(self) -> tuple[float, float, float]:
        """(Ha, Hm, Hp) between the six morphometry points."""
        al = self.a_landmark
        return tuple(  # type: ignore[return-value]
            float(self.s_superior(0.0, a) - self.s_inferior(0.0, a)) for a in (al, 0.0, -al)
        )

    def landmarks_local(self) -> dict[str, NDArray[np.float64]]:
        """Six-point morphometry landmarks in the local frame."""
        al = self.a_landmark
        out = {}
        for tag, a in (("a", al), ("m", 0.0), ("p", -al)):
            out["s" + tag] = np.array([0.0, a, float(self.s_superior(0.0, a))])
            out["i" + tag] = np.array([0.0, a, float(self.s_inferior(0.0, a))])
        return out

    # --- posterior elements ------------------------------------------------------------------
    @property
    def canal_centre_a(self) -> float:
        return -self.half_depth - self.anatomy.canal_depth_mm / 2

    @property
    def s_superior_posterior(self) -> float:
        return float(self.top0 - self.g_top * self.half_depth)

    @property
    def s_inferior_posterior(self) -> float:
        return float(self.bot0 - self.g_bot * self.half_depth)

    def pedicle_centre_local(self, side: str) -> NDArray[np.float64]:
        """Isthmus centre of the ``'left'`` or ``'right'`` pedicle (local mm)."""
        an = self.anatomy
        sign = 1.0 if side == "right" else -1.0
        u = sign * (an.canal_width_mm / 2 + an.pedicle_width_mm / 2)
        a = -self.half_depth - 0.3 * an.canal_depth_mm
        # Top of the pedicle 1.5 mm below the posterior-superior rim (model choice).
        s = self.s_superior_posterior - an.pedicle_height_mm / 2 - 1.5
        return np.array([u, a, s])

    def pedicle_axis_local(self, side: str) -> NDArray[np.float64]:
        """Unit vector of the pedicle axis pointing into the body (local)."""
        an = self.anatomy
        sign = 1.0 if side == "right" else -1.0
        tt, ts = math.radians(an.pedicle_transverse_deg), math.radians(an.pedicle_sagittal_deg)
        v = np.array(
            [-sign * math.sin(tt) * math.cos(ts), math.cos(tt) * math.cos(ts), -math.sin(ts)]
        )
        return v / np.linalg.norm(v)

    def primitives(self, disc_above_mm: float, disc_below_mm: float) -> list[Primitive]:
        """The implicit shapes of this vertebra (body first)."""
        an = self.anatomy
        wh, dh = self.half_width, self.half_depth
        prims: list[Primitive] = []
        top_max = max(self.top0 + abs(self.g_top) * dh, self.top0) + 0.5
        bot_min = min(self.bot0 - abs(self.g_bot) * dh, self.bot0) - 0.5
        half_h = max(abs(self.top0), abs(self.bot0))

        def body_sdf(u: FloatArray, a: FloatArray, s: FloatArray) -> FloatArray:
            d_rad = outline_distance(u, a, wh, dh)
            t = np.clip(s / F32(half_h), F32(-1), F32(1))
            d_rad = d_rad + F32(WAIST_MM) * (F32(1) - t * t)
            q2 = (u / F32(wh)) ** 2 + (a / F32(dh)) ** 2
            prof = np.clip(F32(1) - q2 / F32(ENDPLATE_CENTRAL_FRACTION**2), F32(0), None) ** 2
            s_top = F32(self.top0) + F32(self.g_top) * a - F32(self.concavity_sup) * prof
            s_bot = F32(self.bot0) + F32(self.g_bot) * a + F32(self.concavity_inf) * prof
            return np.maximum(d_rad, np.maximum(s - s_top, s_bot - s))

        prims.append(Primitive("body", "body", (-wh, -dh, bot_min), (wh, dh, top_max), body_sdf))

        cw, ch = an.canal_width_mm / 2, an.canal_depth_mm / 2
        a_c = self.canal_centre_a
        pdw, pdh = an.pedicle_width_mm, an.pedicle_height_mm
        for side in ("right", "left"):
            c = self.pedicle_centre_local(side)
            ax = self.pedicle_axis_local(side)
            # From the lamina junction (behind the canal centre line) to 9 mm into the body.
            t_back = (a_c - 4.0 - c[1]) / max(ax[1], 0.3)
            t_front = (-dh + 9.0 - c[1]) / max(ax[1], 0.3)
            sdf, lo, hi = _oriented_cylinder(c, ax, pdw / 2, pdh / 2, t_back, t_front, flare=0.06)
            prims.append(Primitive(f"pedicle_{side}", "posterior", lo, hi, sdf))

        t_lam = LAMINA_THICKNESS_MM
        ped_top = self.pedicle_centre_local("right")[2] + pdh / 2
        s_lam_top = ped_top
        s_lam_bot = self.s_inferior_posterior - 2.0
        outer_w, outer_d = cw + 0.9 * pdw, ch + t_lam

        def lamina_sdf(u: FloatArray, a: FloatArray, s: FloatArray) -> FloatArray:
            da = a - F32(a_c)
            d_out = ellipse_distance(u, da, outer_w, outer_d)
            d_in = ellipse_distance(u, da, cw, ch)
            d = np.maximum(d_out, -d_in)
            d = np.maximum(d, da + F32(2.0))
            return np.maximum(d, np.maximum(s - F32(s_lam_top), F32(s_lam_bot) - s))

        prims.append(
            Primitive(
                "lamina",
                "posterior",
                (-outer_w, a_c - outer_d, s_lam_bot),
                (outer_w, a_c - 2.0, s_lam_top),
                lamina_sdf,
            )
        )

        # Articular processes: superior ones rise lateral, inferior ones descend medial, so the
        # facets of neighbouring levels sit side by side with a joint gap (model choice).
        r_u, r_a = 0.22 * pdw, 4.0
        sup_top = self.s_superior_posterior + disc_above_mm / 2 + 4.0
        inf_bot = self.s_inferior_posterior - disc_below_mm / 2 - 2.0
        s_mid = self.pedicle_centre_local("right")[2]
        for side, sign in (("right", 1.0), ("left", -1.0)):
            for kind, u_c, a_cen, s0, s1 in (
                ("sup", cw + 0.75 * pdw, a_c - 3.0, s_mid, sup_top),
                ("inf", cw + 0.25 * pdw, a_c - 6.0, inf_bot, s_mid),
            ):
                centre = np.array([sign * u_c, a_cen, (s0 + s1) / 2])
                sdf, lo, hi = _oriented_cylinder(
                    centre, np.array([0.0, 0.0, 1.0]), r_u, r_a, -(s1 - s0) / 2, (s1 - s0) / 2
                )
                prims.append(Primitive(f"facet_{kind}_{side}", "posterior", lo, hi, sdf))

        # Spinous process: a plate from the lamina midline, posterior and caudal.
        beta = math.radians(an.spinous_tilt_deg)
        sp_h = an.spinous_height_ratio * an.height_posterior_mm
        start = np.array([0.0, a_c - ch - t_lam / 2, (s_lam_top + s_lam_bot) / 2])
        direction = np.array([0.0, -math.cos(beta), -math.sin(beta)])
        # Lumbar processes widen towards the tip (hatchet-shaped), thoracic ones taper (model).
        taper = (0.75, 1.0) if an.spinous_tilt_deg < 15 else (1.0, 0.6)
        sdf_sp, lo, hi = _oriented_cylinder(
            start, direction, 8.0, sp_h / 2, 0.0, an.spinous_length_mm + t_lam / 2, h_scale=taper
        )

        def spinous_sdf(u: FloatArray, a: FloatArray, s: FloatArray, _f=sdf_sp) -> FloatArray:
            # A flat plate 7 mm thick: the wide elliptic envelope cut to |u| <= 3.5 mm.
            d = _f(u, a, s)
            return np.maximum(d - F32(1.0), np.abs(u) - F32(3.5))

        prims.append(Primitive("spinous", "posterior", lo, hi, spinous_sdf))

        # Transverse processes.
        back = math.radians(an.transverse_back_deg)
        for side, sign in (("right", 1.0), ("left", -1.0)):
            # From the pedicle-lamina junction, behind the isthmus.
            start = np.array([sign * (cw + pdw - 1.0), a_c - 3.0, s_mid])
            direction = np.array([sign * math.cos(back), -math.sin(back), 0.0])
            sdf, lo, hi = _oriented_cylinder(
                start, direction, 3.5, 4.5, -1.0, an.transverse_length_mm
            )
            prims.append(Primitive(f"transverse_{side}", "posterior", lo, hi, sdf))
        return prims

    def retropulsion_primitive(self) -> Primitive | None:
        """The posterior-wall fragment pushed into the canal, if the fracture has one."""
        f = self.fracture
        if f is None or f.retropulsion_mm <= 0:
            return None
        r = float(f.retropulsion_mm)
        dh = self.half_depth
        s_top = self.s_superior_posterior
        span = 8.0  # cranio-caudal extent of the fragment (model choice)
        half_u = 0.3 * self.half_width

        def sdf(u: FloatArray, a: FloatArray, s: FloatArray) -> FloatArray:
            # Protrusion grows linearly towards the superior endplate.
            frac = np.clip((s - F32(s_top - span)) / F32(span), F32(0), F32(1))
            back = F32(-dh) - F32(r) * frac
            d = np.maximum(back - a, a - F32(-dh + 1.5))
            d = np.maximum(d, np.abs(u) - F32(half_u))
            return np.maximum(d, np.maximum(s - F32(s_top), F32(s_top - span) - s))

        return Primitive(
            "retropulsed", "body", (-half_u, -dh - r, s_top - span), (half_u, -dh + 1.5, s_top), sdf
        )


def _normal_geometry(level: str) -> VertebraGeometry:
    an = level_anatomy(level)
    wh, dh = an.endplate_width_mm / 2, an.body_depth_mm / 2
    al = dh - LANDMARK_INSET_MM
    ha, hp = an.height_anterior_mm, an.height_posterior_mm
    hc = (ha + hp) / 2
    g = (ha - hp) / (4 * al)
    return VertebraGeometry(
        level=level,
        anatomy=an,
        half_width=wh,
        half_depth=dh,
        top0=hc / 2,
        g_top=g,
        bot0=-hc / 2,
        g_bot=-g,
        concavity_sup=ENDPLATE_CONCAVITY_MM["superior"],
        concavity_inf=ENDPLATE_CONCAVITY_MM["inferior"],
    )


def _fractured(geom: VertebraGeometry, fx: FractureSpec) -> VertebraGeometry:
    """Apply a fracture to a normal vertebra (heights at the morphometry points)."""
    loss = fx.loss_pct / 100.0
    al = geom.a_landmark
    ha, hm, hp = geom.heights_mm()
    if fx.type == "wedge":
        # The superior endplate collapses anteriorly; the inferior endplate and Hp stay.
        bot_a = geom.bot0 + geom.g_bot * al
        bot_p = geom.bot0 - geom.g_bot * al
        top_a, top_p = bot_a + ha * (1 - loss), bot_p + hp
        g_top = (top_a - top_p) / (2 * al)
        return replace(geom, top0=(top_a + top_p) / 2, g_top=g_top, fracture=fx)
    if fx.type == "crush":
        k = 1 - loss
        return replace(
            geom,
            top0=geom.top0 * k,
            g_top=geom.g_top * k,
            bot0=geom.bot0 * k,
            g_bot=geom.g_bot * k,
            concavity_sup=geom.concavity_sup * k,
            concavity_inf=geom.concavity_inf * k,
            fracture=fx,
        )
    # Biconcave: the middle height loses ``loss``; the rims lose a quarter of it (model choice).
    k = 1 - loss / 4
    scaled = replace(
        geom, top0=geom.top0 * k, g_top=geom.g_top * k, bot0=geom.bot0 * k, g_bot=geom.g_bot * k
    )
    hc = scaled.top0 - scaled.bot0
    extra = hc - geom.concavity_sup - geom.concavity_inf - hm * (1 - loss)
    return replace(
        scaled,
        concavity_sup=geom.concavity_sup + extra / 2,
        concavity_inf=geom.concavity_inf + extra / 2,
        fracture=fx,
    )


def disc_centre_height_mm(
    upper: str, lower_geom_sup_conc: float, upper_geom_inf_conc: float
) -> float:
    """Rim-to-rim disc height at the centre line from the published mean of the anterior,
    middle and posterior disc heights (the middle one includes both concavities)."""
    return DISC_HEIGHT_MM[upper] - (lower_geom_sup_conc + upper_geom_inf_conc) / 3


@dataclass(frozen=True)
class Column:
    """The built column, cranial to caudal, with the disc heights and wedge angles between."""

    vertebrae: tuple[VertebraGeometry, ...]
    disc_height_mm: tuple[float, ...]  # between vertebrae[i] and vertebrae[i + 1]
    disc_wedge_deg: tuple[float, ...]
    base_phi: float

    def vertebra(self, level: str) -> VertebraGeometry:
        return next(v for v in self.vertebrae if v.level == level)

    def top_point(self) -> NDArray[np.float64]:
        """Centre of the cranial vertebra's superior rim plane (RAS+ mm)."""
        v = self.vertebrae[0]
        return v.frame.to_world([0.0, 0.0, v.top0])

    def bottom_point(self) -> NDArray[np.float64]:
        v = self.vertebrae[-1]
        return v.frame.to_world([0.0, 0.0, v.bot0])

    def length_mm(self) -> float:
        """Length of the column along its centre line: body heights between the rim planes at
        mid-depth plus the disc heights."""
        return float(sum(v.top0 - v.bot0 for v in self.vertebrae) + sum(self.disc_height_mm))


def _e_s(phi: float) -> NDArray[np.float64]:
    return np.array([0.0, math.sin(phi), math.cos(phi)])


def _stack(
    geoms: Sequence[VertebraGeometry],
    heights: Sequence[float],
    wedges_deg: Sequence[float],
    base_phi: float,
) -> list[VertebraGeometry]:
    """Place vertebrae bottom-up: each sits on the disc above the one below.  The caudal one's
    inferior rim centre is the world origin."""
    base = geoms[-1]
    out = [replace(base, frame=Frame(-base.bot0 * _e_s(base_phi), base_phi))]
    for i in range(len(geoms) - 2, -1, -1):
        low, up = out[0], geoms[i]
        phi_sup_low = low.frame.phi - math.atan(low.g_top)
        delta = math.radians(wedges_deg[i])
        p = low.frame.to_world([0.0, 0.0, low.top0])
        p_up = p + heights[i] * _e_s(phi_sup_low + delta / 2)
        phi_up = phi_sup_low + delta + math.atan(up.g_bot)
        origin = p_up - up.bot0 * _e_s(phi_up)
        out.insert(0, replace(up, frame=Frame(origin, phi_up)))
    return out


def build_column(
    levels: Sequence[str], fractures: Sequence[FractureSpec] = ()
) -> tuple[Column, Column]:
    """The normal and the fractured column over ``levels`` (cranial to caudal).

    The caudal vertebra is the fixed base; its tilt is chosen so that the line through the
    first and last body centres of the *normal* column is vertical.  The fractured column
    shares the base, so everything above a fracture drops and tilts forward with it.
    Disc heights and wedge angles come from the normal anatomy in both.
    """
    normal = [_normal_geometry(lv) for lv in levels]
    heights, wedges = [], []
    for up, low in itertools.pairwise(normal):
        heights.append(disc_centre_height_mm(up.level, low.concavity_sup, up.concavity_inf))
        wedges.append(SEGMENT_ANGLE_DEG[up.level] - up.endplate_wedge_deg)
    trial = _stack(normal, heights, wedges, 0.0)
    chord = trial[0].frame.origin - trial[-1].frame.origin
    base_phi = -math.atan2(chord[1], chord[2]) if len(levels) > 1 else 0.0
    by_level = {f.level: f for f in fractures}
    broken = [_fractured(g, by_level[g.level]) if g.level in by_level else g for g in normal]
    col_n = Column(
        tuple(_stack(normal, heights, wedges, base_phi)), tuple(heights), tuple(wedges), base_phi
    )
    col_f = Column(
        tuple(_stack(broken, heights, wedges, base_phi)), tuple(heights), tuple(wedges), base_phi
    )
    return col_n, col_f
