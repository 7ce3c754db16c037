"""Cement injection: two-phase Darcy flow with a sharp cement front on the voxel grid.

Model
-----
Cement (viscosity ``mu_c(t)``) displaces marrow (``mu_m``) through the porous body.  In every
fluid voxel Darcy's law holds with mobility ``k / mu``; a voxel partly filled with cement (fill
fraction ``f``) has ``mu = f mu_c + (1 - f) mu_m`` (the two phases in series).  Each time step
solves the pressure equation ``div(k/mu grad p) = -q`` (7-point finite volumes, harmonic face
transmissibilities, transversely isotropic permeability), then advances the front: every
non-full voxel receives the cement fluxes from its full neighbours (donor-acceptor volume of
fluid), so the volume injected in a step is exactly the volume added to the voxels plus the
volume that left through the exits; a voxel that overfills passes the excess on downstream.
**Conservation is exact by construction** (to floating-point rounding).

Boundary conditions and sinks (model assumptions, see ``docs/references/sim.md``):

* intact cortex and endplates are walls (no flow);
* an exit (cortical break or natural venous foramen) is an outlet **for cement** through a
  short resistive path (2 mm at the permeability of osteoporotic trabecular bone, model choice)
  to the pressure behind it: 0 for veins, canal and paravertebral tissue; the prone
  intradiscal pressure, 0.1 MPa (Wilke 1999), behind a broken endplate.  Exits are one-way
  valves: cement that fills a voxel next to an open wall voxel flows out there while its
  pressure exceeds the pressure behind the exit;
* displaced marrow drains into the intraosseous venous bed, lumped as a conductance to zero
  pressure proportional to the marrow volume, sized so that injecting 3 mL/min into an intact
  body raises marrow pressure by 30 kPa (model choice inside the ~85 kPa left outside the
  cannula: 5 % of the ~1.7 MPa in-vivo injection pressure, Baroud & Steffen 2005).  Marrow
  does not leave through the exits (it drains through the venous bed).

Because marrow is 10^2-10^4 times less viscous than cement, its pressure is uniform within each
connected marrow region to O(mu_m/mu_c); the solver therefore condenses every marrow region to
one node (:func:`solve_pressure` with ``condensed=True``, the default) and solves only for the
cement voxels, the front and those nodes.  :func:`solve_pressure` with ``condensed=False``
solves the full two-phase system on every fluid voxel; the tests check both agree.

This back-pressure of displaced marrow is what makes runnier cement leak more in this model:
the leak path (cement to a zero-pressure exit) and the bulk front (cement against marrow
pressure) compete, and the marrow pressure matters more when the cement's own resistance is low.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy import ndimage

from kypho.errors import InvalidParameterError
from kypho.sim.bone import BAROUD_K_SI_M2, BoneModel, face_permeability_mm2, yeom_type
from kypho.sim.cement import (
    DEFAULT_CANNULA,
    DEFAULT_START_TIME_MIN,
    MARROW_VISCOSITY_PA_S,
    Cannula,
    Cement,
)

__all__ = [
    "DRAINAGE_REFERENCE_PRESSURE_KPA",
    "DRAINAGE_REFERENCE_RATE_ML_PER_MIN",
    "EXIT_LENGTH_MM",
    "EXIT_PERMEABILITY_M2",
    "MAX_INJECTION_PRESSURE_KPA",
    "VISIBLE_LEAK_KINDS",
    "VISIBLE_LEAK_ML",
    "FlowGrid",
    "InjectionResult",
    "InjectionSettings",
    "LeakRecord",
    "ProgressCallback",
    "inject",
    "solve_pressure",
]

ProgressCallback = Callable[[float, str], None]

#: Leak volume an operator sees on lateral fluoroscopy and stops at (mL): model choice
#: (0.1 mL is a blob of about 5.8 mm diameter).
VISIBLE_LEAK_ML = 0.1
#: Exit classes whose leaks count towards that stop: the cortical ones.  Venous leaks are
#: mostly missed on the lateral view used during injection: 93 % of basivertebral (type B) and
#: 86 % of segmental (type S) leaks were missed or underestimated on lateral radiographs against
#: CT (Yeom JS et al., J Bone Joint Surg Br 2003;85(1):83-9); intradiscal leaks are seen (75 %
#: of CT-detected ones on intraoperative fluoroscopy in kyphoplasty: "Diagnostic accuracy of
#: fluoroscopy, radiography, and computed tomography in detecting cement leakage in
#: kyphoplasty", 2018, abstract at insights.ovid.com/joscen/201811000/01735182-201811000-00008).  Epidural leaks were seen in only 21 % there; they are kept in the stop rule (model
#: choice: the operator watches the posterior wall).
VISIBLE_LEAK_KINDS = ("disc", "canal", "paravertebral")
#: An exit (fracture break or vascular foramen) is a path of this length and permeability from
#: the body's edge to the zero-pressure outside: model choice, the break filled with fracture
#: debris and haematoma no more permeable than osteoporotic trabecular bone (Baroud 2004 SI
#: mean), 2 mm long (cortex plus the first millimetre of the tissue or vessel outside).
EXIT_PERMEABILITY_M2 = BAROUD_K_SI_M2
EXIT_LENGTH_MM = 2.0
#: Marrow drainage sizing (model choice): 3 mL/min into an intact body -> +30 kPa marrow
#: pressure.
DRAINAGE_REFERENCE_RATE_ML_PER_MIN = 3.0
DRAINAGE_REFERENCE_PRESSURE_KPA = 30.0
#: Highest syringe pressure measured in vivo, 3215 kPa (PubMed 15738774): default pressure
#: limit of the injector (model choice: the operator cannot push harder).
MAX_INJECTION_PRESSURE_KPA = 3215.0

_FULL = 1.0 - 1e-9


@dataclass(frozen=True)
class InjectionSettings:
    """What is injected and when to stop.

    Parameters
    ----------
    cement : Cement
        The cement and its viscosity curve.
    volume_ml : float
        Planned volume.
    rate_ml_per_min : float
        Total injection rate (split equally between needles).
    start_time_min : float
        Minutes after mixing when injection starts.
    marrow_viscosity_pa_s : float
        Marrow viscosity.
    cannula : Cannula
        Lumped cannula resistance (reported injection pressure).
    visible_leak_ml : float or None
        Stop once this much has leaked in total through exits of the classes in
        :data:`VISIBLE_LEAK_KINDS` (``None``: never stop for a leak).
    max_injection_pressure_kpa : float or None
        Stop when the syringe pressure would exceed this (default ``None``: the cannula
        pressure of a shear-thinning cement is not predicted reliably by a Newtonian
        Hagen-Poiseuille law, so it is reported, not used to stop; pass
        ``MAX_INJECTION_PRESSURE_KPA`` = 3215 kPa, the highest in-vivo peak, to stop on it).
    step_fraction : float
        Volume per pressure solve as a fraction of the volume injected so far.
    max_step_ml : float
        Largest volume per step.
    drainage_reference_pressure_kpa : float
        Marrow pressure rise for 3 mL/min into the intact body (sets the venous drainage).
    """

    cement: Cement
    volume_ml: float
    rate_ml_per_min: float
    start_time_min: float = DEFAULT_START_TIME_MIN
    marrow_viscosity_pa_s: float = MARROW_VISCOSITY_PA_S
    cannula: Cannula = field(default_factory=lambda: DEFAULT_CANNULA)
    visible_leak_ml: float | None = VISIBLE_LEAK_ML
    max_injection_pressure_kpa: float | None = None
    step_fraction: float = 0.1
    max_step_ml: float = 0.15
    drainage_reference_pressure_kpa: float = DRAINAGE_REFERENCE_PRESSURE_KPA

    def __post_init__(self) -> None:
        if not np.isfinite(self.volume_ml) or self.volume_ml <= 0:
            raise InvalidParameterError(f"cement volume must be positive, got {self.volume_ml} mL")
        if not np.isfinite(self.rate_ml_per_min) or self.rate_ml_per_min <= 0:
            raise InvalidParameterError(
                f"injection rate must be positive, got {self.rate_ml_per_min} mL/min"
            )
        if self.start_time_min < 0:
            raise InvalidParameterError(
                f"start time after mixing must be >= 0, got {self.start_time_min} min"
            )
        if self.marrow_viscosity_pa_s <= 0:
            raise InvalidParameterError("marrow viscosity must be positive")
        if self.visible_leak_ml is not None and self.visible_leak_ml <= 0:
            raise InvalidParameterError("visible_leak_ml must be positive or None")
        if not 0 < self.step_fraction <= 0.5 or self.max_step_ml <= 0:
            raise InvalidParameterError("step_fraction must lie in (0, 0.5], max_step_ml > 0")
        if self.drainage_reference_pressure_kpa <= 0:
            raise InvalidParameterError("drainage_reference_pressure_kpa must be positive")


@dataclass(frozen=True)
class LeakRecord:
    """Cement that left the body through one exit."""

    name: str
    kind: str
    volume_ml: float
    first_at_injected_ml: float
    natural: bool

    @property
    def yeom_type(self) -> str:
        """Yeom class: C (cortical: disc, canal, paravertebral), B (basivertebral), S."""
        return yeom_type(self.kind)


@dataclass(frozen=True, eq=False)
class InjectionResult:
    """Outcome of one injection.

    ``fill`` is the cement volume per voxel divided by the voxel's capacity (0..1);
    ``history`` holds per-step arrays: ``time_s``, ``injected_ml``, ``inside_ml``,
    ``leaked_ml``, ``viscosity_pa_s``, ``bone_pressure_kpa`` (at the needle tip, mean over
    needles), ``marrow_pressure_kpa``, ``injection_pressure_kpa`` (syringe = tip + cannula).
    ``arrival_ml`` is, per voxel of the grid, the injected volume (mL) at which the voxel first
    became at least half full (``inf`` where cement never got that far): the filling order,
    used to draw the cement at intermediate moments.
    """

    fill: NDArray[np.float32]
    injected_ml: float
    inside_ml: float
    carry_ml: float
    leaks: tuple[LeakRecord, ...]
    stop_reason: str
    history: dict[str, NDArray[np.float64]]
    steps: int
    timings_s: dict[str, float]
    arrival_ml: NDArray[np.float32] | None = None

    @property
    def leaked_ml(self) -> float:
        return float(sum(lk.volume_ml for lk in self.leaks))


class FlowGrid:
    """Face lists of a bone model's fluid voxels (built once, reused every step)."""

    def __init__(self, model: BoneModel) -> None:
        self.model = model
        self.shape = model.shape
        self.dx = model.spacing_mm
        fl = model.fluid
        self.coords = np.argwhere(fl)
        self.flat = np.ravel_multi_index(tuple(self.coords.T), self.shape)
        self.n = len(self.coords)
        fid = -np.ones(self.shape, np.int64)
        fid[fl] = np.arange(self.n)
        self.fid = fid
        kdir = face_permeability_mm2(model)
        self.kdir = np.stack([k[fl] for k in kdir], axis=0)  # (3, n)
        fa, fb, fax = [], [], []
        for ax in range(3):
            sa = [slice(None)] * 3
            sb = [slice(None)] * 3
            sa[ax] = slice(0, -1)
            sb[ax] = slice(1, None)
            a = fid[tuple(sa)]
            b = fid[tuple(sb)]
            m = (a >= 0) & (b >= 0)
            fa.append(a[m])
            fb.append(b[m])
            fax.append(np.full(int(m.sum()), ax))
        self.fa = np.concatenate(fa)
        self.fb = np.concatenate(fb)
        self.fax = np.concatenate(fax)
        self.ka = self.kdir[self.fax, self.fa]
        self.kb = self.kdir[self.fax, self.fb]
        # exits: (fluid voxel, opening) face pairs
        k_exit_mm2 = EXIT_PERMEABILITY_M2 * 1e6
        area = self.dx * self.dx
        ev, eo, eg, eb = [], [], [], []
        for oi, op in enumerate(model.openings):
            for ax in range(3):
                for shift in (-1, 1):
                    nb = np.roll(op.mask, shift, axis=ax)
                    # invalidate wrap-around
                    edge = [slice(None)] * 3
                    edge[ax] = slice(0, 1) if shift == 1 else slice(-1, None)
                    nb[tuple(edge)] = False
                    hit = nb & fl
                    if not hit.any():
                        continue
                    v = fid[hit]
                    kv = self.kdir[ax, v]
                    ev.append(v)
                    eo.append(np.full(len(v), oi))
                    eb.append(np.full(len(v), float(op.back_pressure_pa or 0.0)))
                    # half a voxel of bone, then the exit path (series resistances)
                    eg.append(area / (0.5 * self.dx / kv + EXIT_LENGTH_MM / k_exit_mm2))
        self.ev = np.concatenate(ev) if ev else np.zeros(0, np.int64)
        self.eo = np.concatenate(eo) if eo else np.zeros(0, np.int64)
        self.eg = np.concatenate(eg) if eg else np.zeros(0)
        #: pressure behind each exit face (Pa): cement leaves only above it
        self.eb = np.concatenate(eb) if eb else np.zeros(0)
        self.capacity = model.capacity_mm3()[fl]
        self.n_open = len(model.openings)

    def transmissibility(self, mu_voxel: NDArray[np.float64]) -> NDArray[np.float64]:
        """Face transmissibility (mm^3/(Pa*s)) for per-voxel effective viscosities."""
        return self.dx * 2.0 / (mu_voxel[self.fa] / self.ka + mu_voxel[self.fb] / self.kb)

    def marrow_labels(self, marrow: NDArray[np.bool_]) -> tuple[NDArray[np.int64], int]:
        """Connected marrow regions (6-connectivity): label per fluid voxel (0 = not marrow)."""
        grid = np.zeros(int(np.prod(self.shape)), bool)
        grid[self.flat[marrow]] = True
        lab, n = ndimage.label(grid.reshape(self.shape))
        return lab.ravel()[self.flat].astype(np.int64), int(n)


def _pcg(
    a: sp.csr_matrix, b: NDArray[np.float64], x0: NDArray[np.float64], *, rtol: float = 1e-9,
    maxiter: int = 3000,
) -> tuple[NDArray[np.float64], int]:
    """Conjugate gradients, Jacobi preconditioner plus a global (constant-vector) correction."""
    d = a.diagonal()
    dinv = 1.0 / d
    ones = np.ones_like(b)
    a1 = a @ ones
    e = float(ones @ a1)

    def prec(r: NDArray[np.float64]) -> NDArray[np.float64]:
        return dinv * r + ones * (float(ones @ r) / e)

    x = x0.copy()
    r = b - a @ x
    bnorm = float(np.linalg.norm(b)) or 1.0
    if float(np.linalg.norm(r)) <= rtol * bnorm:
        return x, 0
    z = prec(r)
    p = z.copy()
    rz = float(r @ z)
    for it in range(1, maxiter + 1):
        ap = a @ p
        alpha = rz / float(p @ ap)
        x += alpha * p
        r -= alpha * ap
        if float(np.linalg.norm(r)) <= rtol * bnorm:
            return x, it
        z = prec(r)
        rz_new = float(r @ z)
        p = z + (rz_new / rz) * p
        rz = rz_new
    return x, maxiter


@dataclass
class _PressureSolution:
    p_node: NDArray[np.float64]
    node: NDArray[np.int64]
    n_unknown_voxels: int
    marrow_pressure: NDArray[np.float64]  # per marrow region (condensed) or per voxel
    trans: NDArray[np.float64]
    iterations: int


def solve_pressure(
    grid: FlowGrid,
    fill: NDArray[np.float64],
    *,
    mu_cement: float,
    mu_marrow: float,
    sources: Sequence[tuple[int, float]],
    drainage_per_mm3: float,
    condensed: bool = True,
    p_guess_voxel: NDArray[np.float64] | None = None,
    exit_open: NDArray[np.bool_] | None = None,
) -> _PressureSolution:
    """Solve the pressure equation for the current fill (fluid-voxel arrays).

    Parameters
    ----------
    grid : FlowGrid
    fill : (n,) array
        Fill fraction of every fluid voxel.
    mu_cement, mu_marrow : float
        Viscosities (Pa*s).
    sources : sequence of (fluid index, rate mm^3/s)
    drainage_per_mm3 : float
        Venous drainage conductance per mm^3 of marrow (mm^3/(Pa*s) per mm^3).
    condensed : bool
        Condense every connected marrow region to one isobaric node (default), or solve every
        voxel (the full two-phase system).
    p_guess_voxel : (n,) array, optional
        Pressure guess per voxel (warm start from the previous step).
    exit_open : (n_exit_faces,) bool array, optional
        Which exit faces may pass cement (a one-way valve: closed where the cement's pressure is
        below the pressure behind the exit, see :func:`inject`); default all.

    Returns
    -------
    _PressureSolution
        Pressures (Pa) at the nodes and the voxel -> node map.
    """
    full = fill >= _FULL
    mu = fill * mu_cement + (1.0 - fill) * mu_marrow
    trans = grid.transmissibility(mu)
    n = grid.n
    marrow_cap = grid.capacity * (1.0 - fill)
    if condensed:
        front = fill > 0
        sa, sb = full[grid.fa], full[grid.fb]
        front[grid.fb[sa & ~sb]] = True
        front[grid.fa[sb & ~sa]] = True
        for s, _q in sources:
            front[s] = True
        in_u = full | front
        node = np.empty(n, np.int64)
        n_u = int(in_u.sum())
        node[in_u] = np.arange(n_u)
        lab, n_reg = grid.marrow_labels(~in_u)
        node[~in_u] = n_u + lab[~in_u] - 1
        n_nodes = n_u + n_reg
        drain = np.zeros(n_nodes)
        drain[:n_u] = marrow_cap[in_u]  # marrow left in front voxels drains too
        if n_reg:
            drain[n_u:] = np.bincount(lab[~in_u] - 1, weights=marrow_cap[~in_u], minlength=n_reg)
        drain *= drainage_per_mm3
        keep = in_u[grid.fa] | in_u[grid.fb]
    else:
        node = np.arange(n)
        n_u = n
        n_nodes = n
        drain = np.where(full, 0.0, marrow_cap) * drainage_per_mm3
        keep = np.ones(len(grid.fa), bool)
    na = node[grid.fa[keep]]
    nb = node[grid.fb[keep]]
    t = trans[keep]
    diff = na != nb
    na, nb, t = na[diff], nb[diff], t[diff]
    diag = drain + np.bincount(na, t, n_nodes) + np.bincount(nb, t, n_nodes)
    rhs = np.zeros(n_nodes)
    if len(grid.ev):
        ex = full[grid.ev]
        if exit_open is not None:
            ex = ex & exit_open
        g_ex = grid.eg[ex] / mu_cement
        diag += np.bincount(node[grid.ev[ex]], g_ex, n_nodes)
        rhs += np.bincount(node[grid.ev[ex]], g_ex * grid.eb[ex], n_nodes)
    for s, q in sources:
        rhs[node[s]] += q
    # a relative 1e-13 keeps an isolated, ungrounded cement pocket solvable without biasing
    diag = diag * (1.0 + 1e-13)
    a = sp.csr_matrix(
        (np.concatenate([-t, -t, diag]),
         (np.concatenate([na, nb, np.arange(n_nodes)]),
          np.concatenate([nb, na, np.arange(n_nodes)]))),
        shape=(n_nodes, n_nodes),
    )
    if p_guess_voxel is None:
        x0 = np.zeros(n_nodes)
    else:
        cnt = np.bincount(node, minlength=n_nodes)
        x0 = np.bincount(node, p_guess_voxel, n_nodes) / np.maximum(cnt, 1)
    p, iters = _pcg(a, rhs, x0)
    return _PressureSolution(
        p_node=p, node=node, n_unknown_voxels=n_u,
        marrow_pressure=p[n_u:] if condensed else p[~full], trans=trans, iterations=iters,
    )


def inject(
    model: BoneModel,
    sources_ijk: Sequence[tuple[int, int, int]],
    settings: InjectionSettings,
    *,
    progress: ProgressCallback | None = None,
    condensed: bool = True,
) -> InjectionResult:
    """Simulate a cement injection into ``model`` from needle tips at ``sources_ijk``.

    Parameters
    ----------
    model : BoneModel
        The porous body (with a balloon cavity for kyphoplasty).
    sources_ijk : sequence of voxel indices
        Needle tips (fluid voxels); the rate is split equally between them.
    settings : InjectionSettings
        Cement, volume, rate, timing and stop rules.
    progress : callable, optional
        ``progress(fraction, message)`` after each step.
    condensed : bool
        Marrow condensation (see :func:`solve_pressure`).

    Returns
    -------
    InjectionResult
    """
    import time

    t_start = time.perf_counter()
    timings = {"setup": 0.0, "assemble_solve": 0.0, "advance": 0.0}
    grid = FlowGrid(model)
    if not sources_ijk:
        raise InvalidParameterError("at least one needle tip is needed")
    src_idx = []
    for ijk in sources_ijk:
        i = int(grid.fid[tuple(int(x) for x in ijk)])
        if i < 0:
            raise InvalidParameterError(f"needle tip voxel {tuple(ijk)} is not cancellous bone")
        src_idx.append(i)
    cap = grid.capacity
    total_cap = float(cap.sum())
    vol_target = settings.volume_ml * 1000.0
    if vol_target > total_cap:
        raise InvalidParameterError(
            f"planned cement volume {settings.volume_ml:.2f} mL exceeds the pore volume of the "
            f"body ({total_cap / 1000.0:.2f} mL)"
        )
    q_total = settings.rate_ml_per_min * 1000.0 / 60.0  # mm^3/s
    q_each = q_total / len(src_idx)
    sources = [(s, q_each) for s in src_idx]
    drainage_per_mm3 = (DRAINAGE_REFERENCE_RATE_ML_PER_MIN * 1000.0 / 60.0) / (
        settings.drainage_reference_pressure_kpa * 1000.0 * total_cap
    )
    vol = np.zeros(grid.n)
    arrival = np.full(grid.n, np.inf)
    leaks = np.zeros(grid.n_open)
    first_leak = np.full(grid.n_open, np.nan)
    visible = np.array([op.kind in VISIBLE_LEAK_KINDS for op in model.openings], bool)
    injected = 0.0
    carry = 0.0
    t_s = 0.0
    hist: dict[str, list[float]] = {k: [] for k in (
        "time_s", "injected_ml", "inside_ml", "leaked_ml", "viscosity_pa_s",
        "bone_pressure_kpa", "marrow_pressure_kpa", "injection_pressure_kpa")}
    stop = "planned volume reached"
    steps = 0
    p_prev: NDArray[np.float64] | None = None
    mu_prev = 1.0
    iterations = 0
    vvox = model.voxel_volume_mm3
    timings["setup"] = time.perf_counter() - t_start
    fa, fb = grid.fa, grid.fb
    while True:
        t_min = settings.start_time_min + t_s / 60.0
        mu_c = settings.cement.viscosity_at(t_min)
        if settings.cement.has_set(t_min):
            stop = "cement set"
            break
        fill = np.minimum(vol / np.maximum(cap, 1e-30), 1.0)
        full = fill >= _FULL
        t0 = time.perf_counter()
        guess = None if p_prev is None else p_prev * (mu_c / mu_prev)
        # one-way exits: open where the cement's pressure (last step's) exceeds the pressure
        # behind them; an exit opened on a stale pressure that now falls below it is closed and
        # the step solved again
        exit_open = (grid.eb <= 0.0) if p_prev is None else (p_prev[grid.ev] > grid.eb)
        for _ in range(3):
            sol = solve_pressure(
                grid, fill, mu_cement=mu_c, mu_marrow=settings.marrow_viscosity_pa_s,
                sources=sources, drainage_per_mm3=drainage_per_mm3, condensed=condensed,
                p_guess_voxel=guess, exit_open=exit_open,
            )
            p_vox = sol.p_node[sol.node]
            iterations += sol.iterations
            wrong = exit_open & full[grid.ev] & (p_vox[grid.ev] < grid.eb)
            if not wrong.any():
                break
            exit_open = exit_open & ~wrong
            guess = p_vox
        p_prev, mu_prev = p_vox, mu_c
        timings["assemble_solve"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        # cement fluxes from full voxels into non-full neighbours
        tr = sol.trans
        dp = p_vox[fa] - p_vox[fb]
        fa_full, fb_full = full[fa], full[fb]
        flow_ab = np.where(fa_full & ~fb_full & (dp > 0), tr * dp, 0.0)
        flow_ba = np.where(fb_full & ~fa_full & (dp < 0), -tr * dp, 0.0)
        gain = np.bincount(fb, flow_ab, grid.n) + np.bincount(fa, flow_ba, grid.n)
        for s, q in sources:
            if not full[s]:
                gain[s] += q
        leak_rate = np.zeros(grid.n_open)
        if len(grid.ev):
            ex = full[grid.ev]
            r = np.where(ex & exit_open,
                         grid.eg / mu_c * np.maximum(p_vox[grid.ev] - grid.eb, 0.0), 0.0)
            leak_rate = np.bincount(grid.eo, r, grid.n_open)
        out_total = float(gain.sum() + leak_rate.sum())
        if out_total <= 0:
            stop = "no outlet for cement"
            break
        scale = q_total / out_total
        gain *= scale
        leak_rate *= scale
        # step volume
        remaining = vol_target - injected
        dv = min(max(settings.step_fraction * injected, 2.0 * vvox),
                 settings.max_step_ml * 1000.0, remaining)
        lr_vis = float(leak_rate[visible].sum())
        if settings.visible_leak_ml is not None and lr_vis > 0:
            to_visible = settings.visible_leak_ml * 1000.0 - float(leaks[visible].sum())
            dv = min(dv, max(to_visible * q_total / lr_vis, 0.25 * vvox))
        dt = dv / q_total
        vol += gain * dt
        new_leak = leak_rate * dt
        started = (new_leak > 0) & np.isnan(first_leak)
        first_leak[started] = (injected + 0.5 * dv) / 1000.0
        leaks += new_leak
        if carry > 0:
            # re-inject volume that could not be placed last step at the needle tips
            for s, _q in sources:
                vol[s] += carry / len(sources)
            carry = 0.0
        carry = _spill(grid, vol, cap, p_vox, tr, mu_c, leaks, exit_open)
        newly = np.isinf(arrival) & (vol >= 0.5 * cap)
        arrival[newly] = (injected + dv) / 1000.0
        started = (leaks > 0) & np.isnan(first_leak)
        first_leak[started] = (injected + dv) / 1000.0
        injected += dv
        t_s += dt
        steps += 1
        timings["advance"] += time.perf_counter() - t0
        p_src = float(np.mean([p_vox[s] for s, _q in sources]))
        p_m = (float(np.average(sol.marrow_pressure, weights=None))
               if len(sol.marrow_pressure) else 0.0)
        hist["time_s"].append(t_s)
        hist["injected_ml"].append(injected / 1000.0)
        hist["inside_ml"].append(float(vol.sum()) / 1000.0)
        hist["leaked_ml"].append(float(leaks.sum()) / 1000.0)
        hist["viscosity_pa_s"].append(mu_c)
        hist["bone_pressure_kpa"].append(p_src / 1000.0)
        hist["marrow_pressure_kpa"].append(p_m / 1000.0)
        p_inj = p_src + settings.cannula.pressure_drop_pa(mu_c, q_each)
        hist["injection_pressure_kpa"].append(p_inj / 1000.0)
        if progress is not None:
            progress(min(injected / vol_target, 1.0), f"cement {injected / 1000.0:.2f} mL")
        if injected >= vol_target - 1e-9:
            stop = "planned volume reached"
            break
        if settings.visible_leak_ml is not None and leaks[visible].sum() >= (
            settings.visible_leak_ml * (1000.0 - 1e-6)
        ):
            stop = "visible leak"
            break
        if (settings.max_injection_pressure_kpa is not None
                and p_inj / 1000.0 > settings.max_injection_pressure_kpa):
            stop = "injection pressure limit"
            break
        if float((cap - vol).sum()) < 0.5 * vvox:
            stop = "body full"
            break
    fill_final = np.zeros(model.shape, np.float32)
    fill_final[model.fluid] = np.minimum(vol / np.maximum(cap, 1e-30), 1.0)
    arrival_grid = np.full(model.shape, np.inf, np.float32)
    arrival_grid[model.fluid] = arrival
    records = tuple(
        LeakRecord(op.name, op.kind, float(leaks[i]) / 1000.0, float(first_leak[i]), op.natural)
        for i, op in enumerate(model.openings)
        if leaks[i] > 0
    )
    timings["total"] = time.perf_counter() - t_start
    timings["cg_iterations"] = float(iterations)
    return InjectionResult(
        fill=fill_final,
        injected_ml=injected / 1000.0,
        inside_ml=float(vol.sum()) / 1000.0,
        carry_ml=carry / 1000.0,
        leaks=records,
        stop_reason=stop,
        history={k: np.asarray(v, float) for k, v in hist.items()},
        steps=steps,
        timings_s=timings,
        arrival_ml=arrival_grid,
    )


def _spill(
    grid: FlowGrid,
    vol: NDArray[np.float64],
    cap: NDArray[np.float64],
    p_vox: NDArray[np.float64],
    tr: NDArray[np.float64],
    mu_c: float,
    leaks: NDArray[np.float64],
    exit_open: NDArray[np.bool_] | None = None,
    max_passes: int = 500,
) -> float:
    """Pass the excess of overfilled voxels downstream (in place); return what is left.

    Excess volume follows the step's pressure field downhill (to lower-pressure neighbours and
    out of exits, in proportion to the Darcy flux), so it ends in non-full voxels near the front
    or leaves the body; pressure decreases strictly along the way, so there are no cycles.
    Voxels with no downhill neighbour share their excess equally among their neighbours.
    """
    fa, fb = grid.fa, grid.fb
    dp = p_vox[fa] - p_vox[fb]
    w_ab_flow = tr * np.maximum(dp, 0.0)   # a -> b
    w_ba_flow = tr * np.maximum(-dp, 0.0)  # b -> a
    ex_w = (grid.eg / mu_c * np.maximum(p_vox[grid.ev] - grid.eb, 0.0) if len(grid.ev)
            else np.zeros(0))
    if exit_open is not None and len(ex_w):
        ex_w = np.where(exit_open, ex_w, 0.0)
    down_sum = np.bincount(fa, w_ab_flow, grid.n) + np.bincount(fb, w_ba_flow, grid.n)
    if len(grid.ev):
        down_sum += np.bincount(grid.ev, ex_w, grid.n)
    deg = np.bincount(fa, minlength=grid.n) + np.bincount(fb, minlength=grid.n)
    left = 0.0
    for _ in range(max_passes):
        excess = vol - cap
        over = excess > 1e-12 * np.maximum(cap, 1.0)
        if not over.any():
            return left
        ex = np.where(over, excess, 0.0)
        vol[over] = cap[over]
        downhill = over & (down_sum > 0)
        flat = over & ~downhill & (deg > 0)
        isolated = over & (deg == 0)
        left += float(ex[isolated].sum())
        share_d = np.where(downhill, ex / np.where(downhill, down_sum, 1.0), 0.0)
        share_f = np.where(flat, ex / np.maximum(deg, 1), 0.0)
        vol += np.bincount(fb, w_ab_flow * share_d[fa] + share_f[fa], grid.n)
        vol += np.bincount(fa, w_ba_flow * share_d[fb] + share_f[fb], grid.n)
        if len(grid.ev):
            leaks += np.bincount(grid.eo, ex_w * share_d[grid.ev], grid.n_open)
    excess = np.maximum(vol - cap, 0.0)
    vol -= excess
    return left + float(excess.sum())
