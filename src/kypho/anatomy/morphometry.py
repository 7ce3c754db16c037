"""Six-point morphometry of a vertebral body in its own mid-sagittal plane.

The mid-sagittal plane is spanned by the body's superior and anterior axes through its
centroid (see :mod:`kypho.anatomy.frame` and :mod:`kypho.anatomy.body`).  In that plane:

* **Walls.**  The posterior and anterior walls are located at every height between the
  corners as the outermost crossings of the body surface along the anterior axis.  Each wall
  profile (less :data:`CORNER_MARGIN_FRACTION` of its height at each end) is fitted with a
  robust line (points bulging outwards by more than :data:`WALL_TOLERANCE_MM`, such as a
  retropulsed fragment, are rejected first).  The **rim** position of a wall is the outer
  :data:`RIM_PERCENTILE` of its inlier profile.  The **posterior-wall protrusion** is how far
  the profile, followed up to the corners, reaches posterior to the wall's own position (the
  inner quartile of its central heights): a retropulsed fragment.
* **Axis.**  On grids about as fine along the body's axis as across it, the superior axis is
  refined from the walls, which keep the body's axis when an endplate collapses (a wedge tilts
  the superior endplate, not the walls): the sagittal tilt follows the mean slope of the
  posterior and anterior walls when they agree (:data:`WALL_SLOPE_AGREEMENT`), the straighter
  of the two when they do not (a fragment or a collapse bends one), and the posterior wall alone
  when the anterior one is much shorter (a wedge); the coronal tilt follows the mid-line between
  the left and right walls.  The pass whose walls agree best with its own axis is kept.
* **Landmarks.**  The six points lie on the superior (``s*``) and inferior (``i*``) endplate
  surfaces at three antero-posterior positions: posterior (``*p``) and anterior (``*a``)
  :data:`LANDMARK_INSET_MM` inside the rims, and middle (``*m``) half-way between the rims.
  Each endplate point is the crossing of the body surface along the superior axis, fitted over
  a patch around the landmark (transverse and antero-posterior quadratic terms, kept
  :data:`RIM_CLEARANCE_MM` inside the rims) so that the staircase of a voxelised surface
  averages out where the surface is tilted against the grid.

Surfaces are located on the trilinear interpolation of the binary body mask at the 0.5 level,
i.e. half-way between the last voxel centre inside and the first outside.

Heights are distances between paired landmarks: ``Ha = |sa - ia|``, ``Hm = |sm - im|``,
``Hp = |sp - ip|``: kypho's one definition of a vertebral height, used by the assessment, the
simulation (before and after a procedure) and every report.  The wedge angle is the angle
between the two endplate lines ``sp-sa`` and ``ip-ia`` (:func:`endplate_angle_deg`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kypho.anatomy.body import ANISOTROPY_FOR_WALLS, VertebraGeometry
from kypho.anatomy.frame import VertebraFrame, step_along_mm
from kypho.anatomy.sampling import MaskSampler, outer_crossings
from kypho.errors import NotMeasurableError

__all__ = [
    "LANDMARK_INSET_MM",
    "EndplateProfile",
    "Morphometry",
    "endplate_angle_deg",
    "measure_morphometry",
]

Vec3 = tuple[float, float, float]

#: Distance of the anterior and posterior landmarks inside the body's rims (mm).  Model choice:
#: six-point morphometry places the points at the corners of the endplates; 2 mm keeps them off
#: the rounded rim and osteophytes while staying at the corner (the same inset as the kypho
#: phantom's ground truth, ``kypho.phantom.geometry.LANDMARK_INSET_MM``).
LANDMARK_INSET_MM = 2.0
#: Part of a wall's height next to each corner left out of its profile fit (model choice).
CORNER_MARGIN_FRACTION = 0.08
#: Walls whose fitted slopes differ by less than this are averaged for the axis (model choice,
#: about 1.7 degrees).
WALL_SLOPE_AGREEMENT = 0.03
#: The wall profile (for the posterior-wall protrusion) runs this close to the corners (mm).
CORNER_PROFILE_MM = 0.5
#: Outward excursion of a wall profile still counted as wall (mm): the concave waist and the
#: rim lips of a normal body stay within it, a retropulsed fragment goes beyond (model choice).
WALL_TOLERANCE_MM = 1.2
#: Percentile of a wall profile (outermost side) taken as the rim's position (model choice:
#: the outer edge of the wall, robust to single heights, without extrapolating).
RIM_PERCENTILE = 5.0
#: Largest change of the superior axis the walls may make to the body's first axis (degrees;
#: model choice, a safety net for irregular walls).
MAX_AXIS_CHANGE_DEG = 25.0
#: Half-extent of the surface-fitting patch around a landmark: transverse, antero-posterior (mm).
PATCH_HALF_U_MM = 3.0
PATCH_HALF_V_MM = 4.0
#: The patch stays this far inside the rims (mm).
RIM_CLEARANCE_MM = 1.5
#: Crossings farther than this from the patch's median are not on the endplate (mm; model
#: choice above the 2 mm an endplate with a slope of 0.5 rises over the patch's half-length).
PATCH_OUTLIER_MM = 3.0
#: Half-width of the band of lines about the mid-sagittal plane used for the wall profiles (mm).
WALL_BAND_MM = 1.5


@dataclass(frozen=True, eq=False)
class Morphometry:
    """Six-point morphometry of one body; local coordinates ``(u, v, w)`` in mm in ``frame``."""

    frame: VertebraFrame
    landmarks_local_mm: dict[str, tuple[float, float, float]]
    landmarks_ras_mm: dict[str, Vec3]
    height_anterior_mm: float
    height_middle_mm: float
    height_posterior_mm: float
    depth_mm: float  # rim to rim, antero-posterior
    landmark_span_mm: float  # anterior to posterior landmarks (the endplate lines' run)
    width_mm: float  # left to right wall at mid-depth (median over the body's height)
    v_posterior_mm: float  # posterior rim
    v_anterior_mm: float  # anterior rim
    superior_slope: float  # dw/dv of the superior endplate line (sp -> sa)
    inferior_slope: float  # dw/dv of the inferior endplate line (ip -> ia)
    superior_normal_ras: Vec3  # normal of the superior endplate line in the mid-sagittal plane
    inferior_normal_ras: Vec3
    wedge_angle_deg: float
    posterior_wall_protrusion_mm: float
    wall_w_mm: NDArray[np.float64]  # heights of the posterior-wall profile
    wall_v_mm: NDArray[np.float64]  # posterior-most body surface at each of those heights
    wall_fit_v_mm: NDArray[np.float64]  # the fitted wall at those heights

    @property
    def heights_mm(self) -> tuple[float, float, float]:
        """(Ha, Hm, Hp), mm."""
        return (self.height_anterior_mm, self.height_middle_mm, self.height_posterior_mm)

    @property
    def profile(self) -> EndplateProfile:
        """Heights and endplate lines as an :class:`EndplateProfile`."""
        return EndplateProfile(self.heights_mm, self.superior_slope, self.inferior_slope,
                               self.landmark_span_mm)


def endplate_angle_deg(superior_slope: float, inferior_slope: float) -> float:
    """Angle (deg) between the endplate lines of slopes ``dw/dv`` in the mid-sagittal plane.

    Positive when the endplates converge anteriorly (a wedge: the anterior height is shorter).
    With heights only, a change of the anterior and posterior heights by ``dha`` and ``dhp`` at
    a fixed inferior endplate tilts the superior line by ``(dha - dhp) / landmark_span_mm``.
    """
    return float(np.degrees(np.arctan(inferior_slope) - np.arctan(superior_slope)))


@dataclass(frozen=True)
class EndplateProfile:
    """The six-point numbers a procedure changes: heights and the two endplate lines.

    ``heights_mm`` are (Ha, Hm, Hp); the slopes are ``dw/dv`` of the superior (``sp -> sa``)
    and inferior (``ip -> ia``) endplate lines in the mid-sagittal plane, over a run of
    ``span_mm`` between the posterior and anterior landmarks.
    """

    heights_mm: tuple[float, float, float]
    superior_slope: float
    inferior_slope: float
    span_mm: float

    @property
    def wedge_angle_deg(self) -> float:
        """Angle between the endplates (:func:`endplate_angle_deg`)."""
        return endplate_angle_deg(self.superior_slope, self.inferior_slope)

    def with_heights(self, heights_mm: tuple[float, float, float]) -> EndplateProfile:
        """The profile after the superior endplate moved to give ``heights_mm`` (the inferior
        endplate fixed, as when a balloon lifts the superior endplate)."""
        ha, _hm, hp = self.heights_mm
        new = tuple(float(h) for h in heights_mm)
        tilt = ((new[0] - ha) - (new[2] - hp)) / max(self.span_mm, 1e-6)
        return EndplateProfile(new, self.superior_slope + tilt, self.inferior_slope,  # type: ignore[arg-type]
                               self.span_mm)


def _row_median(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Median of each row ignoring NaN (NaN for rows without a finite value, no warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(x, axis=1)


def _robust_patch_fit(du: NDArray, dv: NDArray, h: NDArray) -> float:
    """Value at (0, 0) of ``h = c0 + c1 du + c2 dv + c3 du^2 (+ c4 dv^2)`` fitted robustly.

    The ``dv^2`` term is used when the patch spans 2.5 mm or more antero-posteriorly.
    """
    ok = np.isfinite(h)
    if ok.any():
        # lines that leave through a wall instead of the endplate land far from the rest
        ok &= np.abs(h - np.nanmedian(h)) <= PATCH_OUTLIER_MM
    du, dv, h = du[ok], dv[ok], h[ok]
    if h.size < 4:
        raise NotMeasurableError("endplate surface not found at a landmark")
    A = np.column_stack([np.ones_like(du), du, dv, du * du, dv * dv])
    if np.ptp(dv) < 1e-9:
        A = A[:, [0, 1, 3]]
    elif np.ptp(dv) < 2.5:
        A = A[:, :4]
    coef, *_ = np.linalg.lstsq(A, h, rcond=None)
    res = h - A @ coef
    mad = float(np.median(np.abs(res - np.median(res)))) + 1e-9
    keep = np.abs(res) <= max(3.0 * 1.4826 * mad, 0.25)
    if keep.sum() >= A.shape[1] + 2 and keep.sum() < keep.size:
        coef, *_ = np.linalg.lstsq(A[keep], h[keep], rcond=None)
    return float(coef[0])


def _wall_line(
    w: NDArray, v: NDArray, *, bulge_sign: float, floor: float = WALL_TOLERANCE_MM
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Line ``v = c1 w + c0`` through a wall profile, and its inliers.

    The fit starts from the wall's inner envelope (a level line at its inner quartile) and keeps
    the points within a tolerance outside it (``bulge_sign``: -1 for the posterior wall, whose
    bulges are posterior), so a fragment covering even half the wall is left out; then it
    iterates with the tolerance set by the inliers' robust spread.
    """
    finite = np.isfinite(v)
    if finite.sum() < 4:
        return np.array([0.0, float(np.nanmedian(v)) if finite.any() else 0.0]), finite
    # Start from the inner envelope: a level line at the inner quartile of the profile.
    coef = np.array([0.0, float(np.percentile(v[finite], 50.0 - 25.0 * bulge_sign))])
    keep = finite
    sigma = 0.0
    for _ in range(10):
        res = v - np.polyval(coef, w)
        tol = max(3.0 * sigma, floor)
        with np.errstate(invalid="ignore"):
            new = finite & (bulge_sign * res <= tol) & (-bulge_sign * res <= 2.0 * tol)
        if new.sum() < 4:
            break
        if np.array_equal(new, keep) and sigma > 0:
            break
        keep = new
        coef = np.polyfit(w[keep], v[keep], 1)
        r = v[keep] - np.polyval(coef, w[keep])
        sigma = 1.4826 * float(np.median(np.abs(r - np.median(r))))
    return coef, keep


class _Body:
    """Line measurements of one body in one frame."""

    def __init__(self, geom: VertebraGeometry, frame: VertebraFrame) -> None:
        self.geom = geom
        self.frame = frame
        self.sampler = MaskSampler(geom.body_mask, geom.crop_affine, frame)
        loc = frame.to_local(geom.body_points_ras_mm)
        self.lo = loc.min(axis=0)
        self.hi = loc.max(axis=0)
        sp = geom.spacing_mm
        self.step = 0.25 * min(sp)
        self.fine = 0.5 * min(sp)
        self.margin = 2.0 * max(sp)
        du = np.arange(-PATCH_HALF_U_MM, PATCH_HALF_U_MM + 1e-9, self.fine)
        dv = np.arange(-PATCH_HALF_V_MM, PATCH_HALF_V_MM + 1e-9, self.fine)
        DU, DV = np.meshgrid(du, dv, indexing="ij")
        self.du, self.dv = DU.ravel(), DV.ravel()
        self.tw = np.arange(self.lo[2] - self.margin, self.hi[2] + self.margin, self.step)

    def endplates(
        self, v: float, *, patch: bool = True, v_range: tuple[float, float] | None = None
    ) -> tuple[float, float]:
        """(top, bottom) of the body along the superior axis at ``u = 0``, ``v``.

        With ``patch``, fitted over the landmark patch, clipped to ``v_range`` (absolute v).
        """
        if patch:
            du, dv = self.du, self.dv
            if v_range is not None:
                ok = (v + dv >= v_range[0]) & (v + dv <= v_range[1])
                du, dv = du[ok], dv[ok]
        else:
            du = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
            dv = np.zeros_like(du)
        base = np.column_stack([du, v + dv, np.zeros(du.size)])
        w_in, w_out = outer_crossings(self.sampler.lines(base, 2, self.tw), self.tw)
        if patch:
            return _robust_patch_fit(du, dv, w_out), _robust_patch_fit(du, dv, w_in)
        if np.isfinite(w_out).sum() < 3:
            raise NotMeasurableError("endplate surface not found at a landmark")
        return float(np.nanmedian(w_out)), float(np.nanmedian(w_in))

    def ap_profile(self, ws: NDArray, t0: float, t1: float) -> tuple[NDArray, NDArray]:
        """Posterior (enter) and anterior (exit) crossings along the anterior axis at heights
        ``ws`` (median over the mid-sagittal band)."""
        t = np.arange(t0, t1, self.step)
        offs = np.arange(-WALL_BAND_MM, WALL_BAND_MM + 1e-9, self.fine)
        W, U = np.meshgrid(ws, offs, indexing="ij")
        base = np.column_stack([U.ravel(), np.zeros(U.size), W.ravel()])
        enter, leave = outer_crossings(self.sampler.lines(base, 1, t), t)
        return _row_median(enter.reshape(W.shape)), _row_median(leave.reshape(W.shape))

    def lr_profile(self, ws: NDArray, v: float) -> tuple[NDArray, NDArray]:
        """Crossings along the right axis (lowest u, highest u) at heights ``ws`` through ``v``."""
        t = np.arange(self.lo[0] - self.margin, self.hi[0] + self.margin, self.step)
        offs = np.array([-0.5, 0.0, 0.5])
        W, V = np.meshgrid(ws, v + offs, indexing="ij")
        base = np.column_stack([np.zeros(W.size), V.ravel(), W.ravel()])
        enter, leave = outer_crossings(self.sampler.lines(base, 0, t), t)
        return _row_median(enter.reshape(W.shape)), _row_median(leave.reshape(W.shape))


@dataclass(frozen=True)
class _Walls:
    rim_post: float
    rim_ant: float
    tilt_v: float  # d(v of the posterior wall)/dw at its mid-height
    tilt_u: float  # d(mid-line between the lateral walls)/dw
    width: float
    protrusion: float
    wall_w: NDArray[np.float64]
    wall_v: NDArray[np.float64]
    wall_fit: NDArray[np.float64]


def _walls(body: _Body, inset_mm: float) -> _Walls:
    lo, hi = body.lo, body.hi
    h = hi[2] - lo[2]
    if h < 3.0 or hi[1] - lo[1] < 5.0 or hi[0] - lo[0] < 5.0:
        raise NotMeasurableError(
            f"vertebral body too small to measure ({hi[0] - lo[0]:.0f} x {hi[1] - lo[1]:.0f} x "
            f"{h:.0f} mm)"
        )
    # Coarse walls over the central heights.
    ws = np.arange(lo[2] + 0.2 * h, hi[2] - 0.2 * h + 1e-9, max(body.fine, h / 40))
    post, ant = body.ap_profile(ws, lo[1] - body.margin, hi[1] + body.margin)
    ok = np.isfinite(post) & np.isfinite(ant)
    if ok.sum() < 3:
        raise NotMeasurableError("the walls of the vertebral body were not found")
    # A collapsed part of the body shortens a wall: at heights above it the line meets the
    # sloping endplate instead, always inside the wall.  A fragment bulges outside it.  So the
    # anterior wall is taken near its outermost crossings, the posterior one inside them.
    v_post0 = float(np.percentile(post[ok], 75.0))
    v_ant0 = float(np.percentile(ant[ok], 90.0))
    if v_ant0 - v_post0 < 5.0:
        raise NotMeasurableError(f"vertebral body only {v_ant0 - v_post0:.1f} mm deep")
    inset = min(inset_mm, 0.2 * (v_ant0 - v_post0))

    def wall(v_corner: float, side: str) -> tuple[NDArray, NDArray, NDArray, NDArray, NDArray]:
        """Heights, profile, fitted line, inliers of the fit, and the fit-range mask."""
        top, bot = body.endplates(v_corner, patch=False)
        span = top - bot
        if span < 2.0:
            raise NotMeasurableError(f"{side} wall too short to measure ({span:.1f} mm)")
        m = CORNER_MARGIN_FRACTION * span
        wsw = np.arange(bot + CORNER_PROFILE_MM, top - CORNER_PROFILE_MM + 1e-9, body.fine)
        central = (wsw >= bot + m) & (wsw <= top - m)
        if side == "posterior":
            prof, _ = body.ap_profile(wsw, v_post0 - 15.0, v_post0 + 10.0)
            coef, keep = _wall_line(wsw[central], prof[central], bulge_sign=-1.0)
        else:
            _, prof = body.ap_profile(wsw, v_ant0 - 10.0, v_ant0 + 15.0)
            coef, keep = _wall_line(wsw[central], prof[central], bulge_sign=1.0)
        if keep.sum() < 3:
            raise NotMeasurableError(f"the {side} wall of the vertebral body was not found")
        return wsw, prof, coef, keep, central

    pw, pv, pc, pkeep, pcen = wall(v_post0 + inset, "posterior")
    aw, av, ac, akeep, acen = wall(v_ant0 - inset, "anterior")
    rim_post = float(np.percentile(pv[pcen][pkeep], RIM_PERCENTILE))
    rim_ant = float(np.percentile(av[acen][akeep], 100.0 - RIM_PERCENTILE))
    # Sagittal tilt: the mean slope of the two walls when they agree; when they do not, one is
    # bent (a fragment, a collapse) and the straighter one is followed; the anterior wall only
    # counts when it is about as long as the posterior one (not in a wedge).
    tilt_v = float(pc[0])
    if (
        akeep.mean() >= 0.6
        and pkeep.mean() >= 0.6
        and np.ptp(aw[acen][akeep]) > 0.8 * np.ptp(pw[pcen])
    ):
        if abs(pc[0] - ac[0]) <= WALL_SLOPE_AGREEMENT:
            tilt_v = 0.5 * float(pc[0] + ac[0])
        else:
            rms_p = float(np.std(pv[pcen][pkeep] - np.polyval(pc, pw[pcen][pkeep])))
            rms_a = float(np.std(av[acen][akeep] - np.polyval(ac, aw[acen][akeep])))
            tilt_v = float(ac[0]) if rms_a < rms_p else float(pc[0])
    # Protrusion: how far the profile (up to the corners) reaches posterior to the wall's own
    # position, its inner quartile over the central heights (the waist and rim lips of a normal
    # wall stay within a millimetre or so).
    good = np.isfinite(pv)
    ref = float(np.percentile(pv[pcen][np.isfinite(pv[pcen])], 75.0))
    protrusion = float(max(0.0, ref - np.min(pv[good]))) if good.any() else 0.0
    fit = np.polyval(pc, pw)

    vm = 0.5 * (rim_post + rim_ant)
    top_m, bot_m = body.endplates(vm, patch=False)
    hm = top_m - bot_m
    wl = np.arange(bot_m + 0.2 * hm, top_m - 0.2 * hm + 1e-9, max(body.fine, hm / 30))
    u_lo, u_hi = body.lr_profile(wl, vm)
    okl = np.isfinite(u_lo) & np.isfinite(u_hi)
    width = float(np.median(u_hi[okl] - u_lo[okl])) if okl.any() else float("nan")
    tilt_u = 0.0
    if okl.sum() >= 4:
        tilt_u = float(np.polyfit(wl[okl], 0.5 * (u_lo[okl] + u_hi[okl]), 1)[0])
    return _Walls(
        rim_post, rim_ant, tilt_v, tilt_u, width, protrusion, pw[good], pv[good], fit[good]
    )


def measure_morphometry(
    geom: VertebraGeometry,
    *,
    inset_mm: float = LANDMARK_INSET_MM,
    refine_axis: bool = True,
    max_iter: int = 4,
) -> Morphometry:
    """Six-point morphometry of the body in ``geom``.

    Parameters
    ----------
    geom : VertebraGeometry
        The vertebra, its body mask and initial frame.
    inset_mm : float
        Distance of the anterior and posterior landmarks inside the rims.
    refine_axis : bool
        Refine the superior axis from the walls (see module docstring).
    max_iter : int
        Passes of wall measurement and axis refinement.

    Raises
    ------
    NotMeasurableError
        When an endplate or a wall cannot be found.
    """
    frame = geom.frame
    body = _Body(geom, frame)
    walls = _walls(body, inset_mm)
    # Refine the axis from the walls where the grid is fine along the axis (on thick slices the
    # frame already comes from the walls, see kypho.assess.frame).  Keep the pass whose walls
    # agree best with its own axis; stop when the residual tilt no longer shrinks.
    along = step_along_mm(geom.crop_affine, frame.superior)
    across = 0.5 * (
        step_along_mm(geom.crop_affine, frame.right)
        + step_along_mm(geom.crop_affine, frame.anterior)
    )
    best = (float(np.hypot(walls.tilt_u, walls.tilt_v)), frame, body, walls)
    passes = max_iter - 1 if refine_axis and along <= ANISOTROPY_FOR_WALLS * across else 0
    for _ in range(passes):
        tilt = np.array([walls.tilt_u, walls.tilt_v, 1.0])
        if np.hypot(tilt[0], tilt[1]) < 1e-4:
            break
        s = (tilt / np.linalg.norm(tilt)) @ frame.matrix
        if np.degrees(np.arccos(np.clip(s @ np.asarray(geom.frame.superior), -1, 1))) > (
            MAX_AXIS_CHANGE_DEG
        ):
            break  # the walls disagree with the body's first axis: keep the best so far
        frame = VertebraFrame.from_axes(frame.origin_ras_mm, s, frame.anterior)
        body = _Body(geom, frame)
        walls = _walls(body, inset_mm)
        residual = float(np.hypot(walls.tilt_u, walls.tilt_v))
        if residual >= best[0]:
            break
        best = (residual, frame, body, walls)
    _, frame, body, walls = best

    inset = min(inset_mm, 0.2 * (walls.rim_ant - walls.rim_post))
    positions = {
        "p": walls.rim_post + inset,
        "m": 0.5 * (walls.rim_post + walls.rim_ant),
        "a": walls.rim_ant - inset,
    }
    top: dict[str, float] = {}
    bot: dict[str, float] = {}
    inner = (walls.rim_post + RIM_CLEARANCE_MM, walls.rim_ant - RIM_CLEARANCE_MM)
    for key, v_k in positions.items():
        top[key], bot[key] = body.endplates(v_k, v_range=inner)

    loc = {}
    for key, v_k in positions.items():
        loc[f"s{key}"] = (0.0, float(v_k), float(top[key]))
        loc[f"i{key}"] = (0.0, float(v_k), float(bot[key]))
    ras = {k: tuple(float(x) for x in frame.to_ras(p)) for k, p in loc.items()}
    heights = {k: top[k] - bot[k] for k in positions}
    if min(heights.values()) <= 0:
        raise NotMeasurableError("endplates cross: vertebral body not measurable")
    span = positions["a"] - positions["p"]
    slope_top = (top["a"] - top["p"]) / span
    slope_bot = (bot["a"] - bot["p"]) / span
    wedge = endplate_angle_deg(slope_top, slope_bot)
    m = frame.matrix

    def normal(slope: float) -> Vec3:
        n = np.array([0.0, -slope, 1.0])
        n = (n / np.linalg.norm(n)) @ m
        return (float(n[0]), float(n[1]), float(n[2]))

    return Morphometry(
        frame=frame,
        landmarks_local_mm=loc,
        landmarks_ras_mm=ras,  # type: ignore[arg-type]
        height_anterior_mm=float(heights["a"]),
        height_middle_mm=float(heights["m"]),
        height_posterior_mm=float(heights["p"]),
        depth_mm=float(walls.rim_ant - walls.rim_post),
        landmark_span_mm=float(span),
        width_mm=walls.width,
        v_posterior_mm=walls.rim_post,
        v_anterior_mm=walls.rim_ant,
        superior_slope=float(slope_top),
        inferior_slope=float(slope_bot),
        superior_normal_ras=normal(slope_top),
        inferior_normal_ras=normal(slope_bot),
        wedge_angle_deg=wedge,
        posterior_wall_protrusion_mm=walls.protrusion,
        wall_w_mm=walls.wall_w,
        wall_v_mm=walls.wall_v,
        wall_fit_v_mm=walls.wall_fit,
    )
