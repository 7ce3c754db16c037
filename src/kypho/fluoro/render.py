"""Digitally reconstructed radiographs: line integrals of attenuation by Joseph's method.

Method
------
Every detector pixel gets one ray from the focal spot to the pixel centre.  In the volume's voxel
index space the ray is ``s + t b`` (``t`` = 0 at the source, 1 at the pixel).  The frame's
*principal axis* ``m`` is the voxel axis the central ray crosses most planes of; each ray is
sampled once per voxel plane ``k`` of that axis (Joseph PM, "An improved algorithm for
reprojecting rays through pixel images", IEEE Trans Med Imaging 1982;1(3):192-6), with bilinear
interpolation in the other two axes and zero outside the volume, and the samples are weighted by
the ray length between consecutive planes, ``|A b| / |b_m|`` mm (``A`` the affine's 3x3 part).
Only samples with ``0 <= t <= 1`` (between the source and the detector) count.  The line integral
``L = sum(mu) * step`` is dimensionless; the detector intensity is ``I / I0 = exp(-L)``
(Beer-Lambert, monoenergetic at the effective energy, no scatter).

Three implementations of the same sums:

- ``"joseph"``: Numba kernel, parallel over image rows, looping plane by plane inside a row so
  that neighbouring pixels read neighbouring memory (the volume is stored transposed so the plane
  axis is slowest and the image-column axis fastest).
- ``"shear-warp"``: when the detector is parallel to a voxel plane and its rows and columns run
  along voxel axes (true AP / lateral of an axis-aligned CT), each plane maps to the detector by a
  scale and shift, so bilinear interpolation separates into a column pass and a row pass (a
  shear-warp factorisation, Lacroute & Levoy, SIGGRAPH 1994).  Exactly the same samples and
  weights as ``"joseph"``.
- ``"reference"``: straightforward vectorised NumPy/SciPy (``map_coordinates``, linear,
  zero outside), one plane at a time; the yardstick for tests and benchmarks.

- ``"cuda"`` (optional): the same per-ray sums with ``numba.cuda``, one GPU thread per pixel.
  Only on request: it was checked against the reference with Numba's CUDA simulator but never
  on a real GPU (none was available), so ``"auto"`` does not pick it.

``"auto"`` picks shear-warp when it applies and Joseph otherwise.
"""

from __future__ import annotations

import math
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numba
import numpy as np
from numba import njit, prange
from numpy.typing import ArrayLike, NDArray

from kypho.core.volume import Volume
from kypho.errors import InvalidParameterError
from kypho.fluoro.attenuation import CT_EFFECTIVE_ENERGY_KEV, DEFAULT_ENERGY_KEV, hu_to_mu
from kypho.fluoro.carm import CArm

if TYPE_CHECKING:
    from kypho.fluoro.dose import DoseSession
    from kypho.fluoro.instruments import Instrument

__all__ = [
    "TISSUE_HU_THRESHOLD",
    "AttenuationVolume",
    "EmptyViewError",
    "Frame",
    "Method",
    "SourceInsidePatientError",
    "check_pose",
    "cuda_available",
    "line_integrals",
    "prepare_volume",
    "render_drr",
]

Method = Literal["auto", "joseph", "shear-warp", "reference", "cuda"]

#: Voxels above this HU count as patient tissue when checking the C-arm pose (model choice:
#: midway between air, -1000, and fat, about -100).
TISSUE_HU_THRESHOLD = -500.0

_PAD_LO, _PAD_HI = 1, 2  # zero border of the transposed volume (bilinear reads stay in bounds)
_MAX_LAYOUTS = 2  # transposed copies kept per prepared volume (AP + lateral)...
# ...while they fit in this budget (at least one is kept).  960 MiB holds both layouts of the
# default 0.5 mm phantom (2 x 464 MB), so alternating AP and lateral frames does not rebuild
# them; the issue's memory target is 1 GB beyond the volume.
_LAYOUT_BUDGET_BYTES = 960 << 20


class SourceInsidePatientError(InvalidParameterError):
    """The focal spot or the detector lies inside the patient."""


class EmptyViewError(InvalidParameterError):
    """No detector ray passes through the volume."""


# ---------------------------------------------------------------------- prepared volume
@dataclass(eq=False)
class AttenuationVolume:
    """Linear attenuation (1/mm) on a voxel grid, with cached transposed layouts for rendering.

    Build it with :func:`prepare_volume` once per CT and energy, then render many frames.

    Parameters
    ----------
    mu : (I, J, K) float32 ndarray or None
        Attenuation per voxel (1/mm).  May be ``None`` when ``hu`` is given, in which case
        attenuation is computed straight into each transposed layout (no extra full copy).
    affine : (4, 4) ndarray
        Voxel to RAS mm.
    energy_kev : float
        Effective energy the attenuation belongs to.
    hu : ndarray or None
        The source HU (kept by reference, for pose checks and lazy conversion).
    """

    mu: NDArray[np.float32] | None
    affine: NDArray[np.float64]
    energy_kev: float
    hu: NDArray[np.generic] | None = None
    ct_energy_kev: float = CT_EFFECTIVE_ENERGY_KEV
    _layouts: OrderedDict[tuple[int, int, int], NDArray[np.float32]] = field(
        default_factory=OrderedDict, repr=False
    )

    @property
    def shape(self) -> tuple[int, int, int]:
        src = self.mu if self.mu is not None else self.hu
        assert src is not None
        return tuple(int(n) for n in src.shape)  # type: ignore[return-value]

    def layout(self, order: tuple[int, int, int]) -> NDArray[np.float32]:
        """The attenuation transposed to axes ``order`` (plane, row, column) with a zero border
        of 1 voxel before and 2 after along the row and column axes; cached."""
        if order in self._layouts:
            self._layouts.move_to_end(order)
            return self._layouts[order]
        shp = self.shape
        n0, n1, n2 = (shp[a] for a in order)
        need = 4 * n0 * (n1 + _PAD_LO + _PAD_HI) * (n2 + _PAD_LO + _PAD_HI)
        # Evict before allocating, so the peak stays at the budget (plus one layout at most).
        while self._layouts and (
            len(self._layouts) >= _MAX_LAYOUTS or self.nbytes_cached() + need > _LAYOUT_BUDGET_BYTES
        ):
            self._layouts.popitem(last=False)
        arr = np.zeros((n0, n1 + _PAD_LO + _PAD_HI, n2 + _PAD_LO + _PAD_HI), dtype=np.float32)
        inner = arr[:, _PAD_LO : _PAD_LO + n1, _PAD_LO : _PAD_LO + n2]
        if self.mu is not None:
            inner[...] = np.transpose(self.mu, order)
        else:
            assert self.hu is not None
            src = np.transpose(self.hu, order)
            # Slab by slab: keeps the temporary at one plane.
            for k in range(n0):
                hu_to_mu(src[k], energy_kev=self.energy_kev, ct_energy_kev=self.ct_energy_kev, out=inner[k])
        self._layouts[order] = arr
        return arr

    def mu_array(self) -> NDArray[np.float32]:
        """Attenuation in the volume's own axis order (computed if only HU are held)."""
        if self.mu is not None:
            return self.mu
        assert self.hu is not None
        return hu_to_mu(self.hu, energy_kev=self.energy_kev, ct_energy_kev=self.ct_energy_kev)

    def nbytes_cached(self) -> int:
        """Bytes held by the cached layouts."""
        return sum(a.nbytes for a in self._layouts.values())


def prepare_volume(
    volume: Volume | AttenuationVolume, *, energy_kev: float = DEFAULT_ENERGY_KEV
) -> AttenuationVolume:
    """Wrap a CT for rendering at ``energy_kev`` (HU converted lazily per layout).

    The last CT prepared is remembered while its :class:`~kypho.core.Volume` lives, so
    ``render_drr(volume, ...)`` called repeatedly with the same Volume does not rebuild the
    transposed layouts.  Keep the returned object to control its lifetime explicitly.
    """
    if isinstance(volume, AttenuationVolume):
        if abs(volume.energy_kev - float(energy_kev)) > 1e-9 and volume.hu is not None:
            return AttenuationVolume(None, volume.affine, float(energy_kev), hu=volume.hu)
        return volume
    if not isinstance(volume, Volume):
        raise InvalidParameterError(f"expected a kypho Volume, got {type(volume).__name__}")
    hu_to_mu(np.zeros(1, np.float32), energy_kev=energy_kev)  # validates the energy early
    key = (id(volume), float(energy_kev))
    hit = _PREPARED.get(key)
    if hit is not None and hit[0]() is volume:
        return hit[1]
    prepared = AttenuationVolume(None, np.asarray(volume.affine, float), float(energy_kev), hu=volume.data)
    # Remember the last CT (weakly): rendering the same Volume again reuses its transposed
    # layouts instead of rebuilding them (the cache is dropped when the Volume is).
    _PREPARED.clear()
    try:
        ref = weakref.ref(volume, lambda _r, k=key: _PREPARED.pop(k, None))
    except TypeError:  # pragma: no cover - a Volume type without weak references
        return prepared
    _PREPARED[key] = (ref, prepared)
    return prepared


#: The last prepared CT: {(id(volume), energy): (weakref to the Volume, AttenuationVolume)}.
_PREPARED: dict[tuple[int, float], tuple[weakref.ref, AttenuationVolume]] = {}


# ---------------------------------------------------------------------- frame
@dataclass(frozen=True, eq=False)
class Frame:
    """One rendered exposure.

    Attributes
    ----------
    line_integral : (rows, cols) float32
        Dimensionless ``sum(mu * ds)`` along each pixel's ray (CT plus instruments).
    carm : CArm
        Geometry the frame was rendered with.
    energy_kev : float
        Effective energy of the attenuation coefficients.
    method : str
        Implementation used ("joseph", "shear-warp", "reference").
    samples : int
        Number of ray samples taken in the CT (for throughput figures).
    """

    line_integral: NDArray[np.float32]
    carm: CArm
    energy_kev: float
    method: str
    samples: int = 0

    @property
    def intensity(self) -> NDArray[np.float32]:
        """Relative detector intensity ``I / I0 = exp(-L)`` (Beer-Lambert)."""
        return np.exp(-self.line_integral.astype(np.float32))

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.line_integral.shape)  # type: ignore[return-value]

    @property
    def pixel_centres_ras_mm(self) -> NDArray[np.float64]:
        """World position of each pixel centre, ``(rows, cols, 3)``."""
        return self.carm.pixel_centres_ras_mm()

    @property
    def pixel_spacing_mm(self) -> tuple[float, float]:
        """(row, column) pitch at the detector (DICOM ImagerPixelSpacing)."""
        return self.carm.detector.pixel_pitch_mm


# ---------------------------------------------------------------------- ray geometry
@dataclass(frozen=True)
class _Rays:
    order: tuple[int, int, int]  # (plane axis m, row axis p, column axis q) of the voxel grid
    p0: NDArray[np.float64]  # p at plane 0, (rows, cols)
    dp: NDArray[np.float64]  # dp / dk
    q0: NDArray[np.float64]
    dq: NDArray[np.float64]
    kmin: NDArray[np.int32]  # first and last plane sampled (kmin > kmax: no sample)
    kmax: NDArray[np.int32]
    step_mm: NDArray[np.float64]  # ray length between planes
    aligned: bool  # detector parallel to the planes, rows/cols along voxel axes

    @property
    def samples(self) -> int:
        return int(np.maximum(self.kmax.astype(np.int64) - self.kmin + 1, 0).sum())


def _ray_geometry(
    shape: tuple[int, int, int], affine: NDArray[np.float64], carm: CArm
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], int]:
    """Source, first-pixel point and per-column/per-row steps in voxel index space, and the
    principal axis."""
    inv = np.linalg.inv(affine)
    a3, t3 = inv[:3, :3], inv[:3, 3]
    det = carm.detector
    pitch_r, pitch_c = det.pixel_pitch_mm
    s = a3 @ carm.source_ras_mm + t3
    d00 = (
        carm.detector_centre_ras_mm
        - (det.cols - 1) / 2.0 * pitch_c * carm.right_ras
        + (det.rows - 1) / 2.0 * pitch_r * carm.up_ras
    )
    d00 = a3 @ d00 + t3
    ec = a3 @ (pitch_c * carm.right_ras)
    er = a3 @ (-pitch_r * carm.up_ras)
    centre = a3 @ carm.detector_centre_ras_mm + t3
    m = int(np.argmax(np.abs(centre - s)))
    return s, d00, ec, er, m


@njit(inline="always")
def _clip_interval(lo, hi, lo_val, hi_val, x0, dx):  # pragma: no cover - compiled
    """Narrow [lo, hi] to the k where lo_val <= x0 + k dx <= hi_val."""
    if dx > 0:
        lo = max(lo, (lo_val - x0) / dx)
        hi = min(hi, (hi_val - x0) / dx)
    elif dx < 0:
        lo = max(lo, (hi_val - x0) / dx)
        hi = min(hi, (lo_val - x0) / dx)
    elif x0 < lo_val or x0 > hi_val:
        hi = lo - 1.0
    return lo, hi


@njit(parallel=True, cache=True, nogil=True)
def _ray_params(s, d00, ec, er, a3, m, p, q, n_m, n_p, n_q, p0, dp, q0, dq, kmin, kmax, step):  # pragma: no cover
    """Per-pixel Joseph parameters (see :class:`_Rays`) from the linear detector geometry."""
    nrow, ncol = p0.shape
    eps = 1e-9
    for r in prange(nrow):
        for c in range(ncol):
            b0 = d00[0] + c * ec[0] + r * er[0] - s[0]
            b1 = d00[1] + c * ec[1] + r * er[1] - s[1]
            b2 = d00[2] + c * ec[2] + r * er[2] - s[2]
            b = (b0, b1, b2)
            bm = b[m]
            if abs(bm) <= 1e-12:
                p0[r, c] = 0.0
                dp[r, c] = 0.0
                q0[r, c] = 0.0
                dq[r, c] = 0.0
                kmin[r, c] = 1
                kmax[r, c] = 0
                step[r, c] = 0.0
                continue
            sp_ = b[p] / bm
            sq_ = b[q] / bm
            pp0 = s[p] - s[m] * sp_
            qq0 = s[q] - s[m] * sq_
            # Between source (t = 0) and pixel (t = 1), inside the plane range.
            lo = max(0.0, min(s[m], s[m] + bm))
            hi = min(n_m - 1.0, max(s[m], s[m] + bm))
            lo, hi = _clip_interval(lo, hi, -1.0 + eps, n_p - eps, pp0, sp_)
            lo, hi = _clip_interval(lo, hi, -1.0 + eps, n_q - eps, qq0, sq_)
            p0[r, c] = pp0
            dp[r, c] = sp_
            q0[r, c] = qq0
            dq[r, c] = sq_
            if hi >= lo:
                kmin[r, c] = np.int32(np.ceil(lo))
                kmax[r, c] = np.int32(np.floor(hi))
            else:
                kmin[r, c] = 1
                kmax[r, c] = 0
            w0 = a3[0, 0] * b0 + a3[0, 1] * b1 + a3[0, 2] * b2
            w1 = a3[1, 0] * b0 + a3[1, 1] * b1 + a3[1, 2] * b2
            w2 = a3[2, 0] * b0 + a3[2, 1] * b1 + a3[2, 2] * b2
            step[r, c] = np.sqrt(w0 * w0 + w1 * w1 + w2 * w2) / abs(bm)


def _setup_rays(shape: tuple[int, int, int], affine: NDArray[np.float64], carm: CArm) -> _Rays:
    s, d00, ec, er, m = _ray_geometry(shape, affine, carm)
    others = [a for a in range(3) if a != m]
    # Column axis: the one the detector columns move along most (contiguous in memory).
    q = max(others, key=lambda a: abs(ec[a]))
    p = others[0] if others[1] == q else others[1]
    det = carm.detector
    f64 = np.zeros((det.rows, det.cols), np.float64)
    p0, dp, q0, dq, step = (np.empty_like(f64) for _ in range(5))
    kmin = np.empty((det.rows, det.cols), np.int32)
    kmax = np.empty_like(kmin)
    a3 = np.ascontiguousarray(affine[:3, :3], dtype=np.float64)
    _ray_params(s, d00, ec, er, a3, m, p, q, float(shape[m]), float(shape[p]), float(shape[q]),
                p0, dp, q0, dq, kmin, kmax, step)
    scale = max(float(np.abs(ec).max()), float(np.abs(er).max()), 1e-12)
    aligned = (
        abs(ec[m]) <= 1e-9 * scale
        and abs(er[m]) <= 1e-9 * scale
        and abs(ec[p]) <= 1e-9 * scale
        and abs(er[q]) <= 1e-9 * scale
    )
    return _Rays((m, p, q), p0, dp, q0, dq, kmin, kmax, step, bool(aligned))


# ---------------------------------------------------------------------- kernels
@njit(inline="always")
def _bilinear(plane, pp, qq):  # pragma: no cover - compiled
    ip = int(pp)
    iq = int(qq)
    fp = np.float32(pp - ip)
    fq = np.float32(qq - iq)
    a = plane[ip, iq]
    b = plane[ip, iq + 1]
    c = plane[ip + 1, iq]
    d = plane[ip + 1, iq + 1]
    v0 = a + fq * (b - a)
    v1 = c + fq * (d - c)
    return v0 + fp * (v1 - v0)


@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def _joseph_kernel(mu, p0, dp, q0, dq, kmin, kmax, step, out):  # pragma: no cover - compiled
    """Rows in parallel; inside a row, plane by plane, pixels left to right.

    ``kmin``/``kmax`` keep every sample inside the padded volume (p, q in [-1, n)), so the
    bilinear reads need no clamping.  Planes every ray of the row samples run without the
    per-pixel range test.
    """
    nrow, ncol = out.shape
    for r in prange(nrow):
        acc = np.zeros(ncol, dtype=np.float32)
        kn = kmin[r]
        kx = kmax[r]
        klo = kn[0]
        khi = kx[0]
        ilo = kn[0]
        ihi = kx[0]
        for c in range(1, ncol):
            klo = min(klo, kn[c])
            khi = max(khi, kx[c])
            ilo = max(ilo, kn[c])
            ihi = min(ihi, kx[c])
        pr = p0[r]
        dpr = dp[r]
        qr = q0[r]
        dqr = dq[r]
        for k in range(klo, khi + 1):
            plane = mu[k]
            if ilo <= k <= ihi:
                for c in range(ncol):
                    acc[c] += _bilinear(plane, pr[c] + k * dpr[c] + 1.0, qr[c] + k * dqr[c] + 1.0)
            else:
                for c in range(ncol):
                    if kn[c] <= k <= kx[c]:
                        acc[c] += _bilinear(plane, pr[c] + k * dpr[c] + 1.0, qr[c] + k * dqr[c] + 1.0)
        for c in range(ncol):
            out[r, c] = acc[c] * step[r, c]


@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def _shear_warp_kernel(mu, k0, prow, fprow, qcol, fqcol, step, block, out):  # pragma: no cover
    """Aligned case: plane k maps row r to padded row prow[k-k0, r] (+ fraction fprow) and column
    c to padded column qcol[k-k0, c] (+ fqcol), independently.

    Blocks of ``block`` detector rows run in parallel; per plane, the few plane rows a block needs
    are first resampled onto the detector columns (column pass, a gather), then blended two by
    two into the block's accumulator (row pass, contiguous and vectorised).
    """
    nrow, ncol = out.shape
    nk = prow.shape[0]
    nblocks = (nrow + block - 1) // block
    for bi in prange(nblocks):
        r0 = bi * block
        r1 = min(r0 + block, nrow)
        nr = r1 - r0
        acc = np.zeros((nr, ncol), dtype=np.float32)
        tmp = np.empty((nr + 2, ncol), dtype=np.float32)
        for kk in range(nk):
            plane = mu[k0 + kk]
            pr = prow[kk]
            fpr = fprow[kk]
            qc = qcol[kk]
            fq = fqcol[kk]
            lo = pr[r0]
            hi = pr[r0]
            for r in range(r0, r1):
                lo = min(lo, pr[r])
                hi = max(hi, pr[r])
            nn = hi - lo + 2
            if nn > tmp.shape[0]:
                tmp = np.empty((nn, ncol), dtype=np.float32)
            # Column pass: resample the needed plane rows onto the detector columns.
            for j in range(nn):
                src = plane[lo + j]
                tj = tmp[j]
                for c in range(ncol):
                    a = src[qc[c]]
                    tj[c] = a + fq[c] * (src[qc[c] + 1] - a)
            # Row pass: blend two resampled rows per detector row.
            for r in range(r0, r1):
                j = pr[r] - lo
                w = fpr[r]
                w0 = np.float32(1.0) - w
                for c in range(ncol):
                    acc[r - r0, c] += w0 * tmp[j, c] + w * tmp[j + 1, c]
        for r in range(r0, r1):
            for c in range(ncol):
                out[r, c] = acc[r - r0, c] * step[r, c]


def _shear_warp_block(rows: int) -> int:
    """Detector rows per parallel block: large blocks share the column pass, but every thread
    needs a few blocks (16-64 rows; measured on the example CT, 1 thread: 64 rows is ~30 %
    faster than 16 at 512 px)."""
    return int(min(64, max(16, rows // (4 * max(numba.get_num_threads(), 1)))))


def _shear_warp_tables(
    rays: _Rays, shape: tuple[int, int, int]
) -> tuple[int, NDArray[np.int32], NDArray[np.float32], NDArray[np.int32], NDArray[np.float32]]:
    """Per-plane padded row/column indices and fractions for the aligned path.

    Rows and columns whose sample falls outside the padded volume point at the zero border with
    weight 0; planes outside every ray's range are dropped.
    """
    _m, p, q = rays.order
    n_p, n_q = shape[p], shape[q]
    valid = rays.kmin <= rays.kmax
    if not valid.any():
        return 0, np.zeros((0, 1), np.int32), np.zeros((0, 1), np.float32), np.zeros((0, 1), np.int32), np.zeros((0, 1), np.float32)
    k0 = int(rays.kmin[valid].min())
    k1 = int(rays.kmax[valid].max())
    ks = np.arange(k0, k1 + 1, dtype=np.float64)[:, None]
    # In the aligned case p depends on the row only and q on the column only.
    p_rows = rays.p0[:, 0][None, :] + ks * rays.dp[:, 0][None, :] + _PAD_LO
    q_cols = rays.q0[0, :][None, :] + ks * rays.dq[0, :][None, :] + _PAD_LO
    # Exact per-ray validity is enforced by kmin/kmax in Joseph; here rows/cols outside the
    # padded range get weight 0 on the zero border, and planes outside [kmin, kmax] of a ray
    # can only be planes where that ray is outside the volume (aligned geometry) or beyond the
    # source/detector, which the global k-range already excludes.
    ip = np.floor(p_rows)
    iq = np.floor(q_cols)
    inside_p = (p_rows >= 0) & (p_rows <= n_p + _PAD_LO)
    inside_q = (q_cols >= 0) & (q_cols <= n_q + _PAD_LO)
    prow = np.where(inside_p, ip, 0).astype(np.int32)
    fprow = np.where(inside_p, p_rows - ip, 0.0).astype(np.float32)
    qcol = np.where(inside_q, iq, 0).astype(np.int32)
    fqcol = np.where(inside_q, q_cols - iq, 0.0).astype(np.float32)
    return k0, prow, fprow, qcol, fqcol


def _render_numba(vol: AttenuationVolume, rays: _Rays, method: str) -> NDArray[np.float32]:
    mu = vol.layout(rays.order)
    rows, cols = rays.kmin.shape
    out = np.zeros((rows, cols), dtype=np.float32)
    if method == "shear-warp":
        k0, prow, fprow, qcol, fqcol = _shear_warp_tables(rays, vol.shape)
        if prow.shape[0] == 0:
            return out
        step = np.where(rays.kmin <= rays.kmax, rays.step_mm, 0.0)
        _shear_warp_kernel(mu, k0, prow, fprow, qcol, fqcol, step, _shear_warp_block(rows), out)
    else:
        _joseph_kernel(mu, rays.p0, rays.dp, rays.q0, rays.dq, rays.kmin, rays.kmax, rays.step_mm, out)
    return out


def cuda_available() -> bool:
    """True when Numba finds a usable CUDA GPU (or its simulator, ``NUMBA_ENABLE_CUDASIM=1``)."""
    try:
        from numba import cuda
    except ImportError:  # pragma: no cover - numba without its cuda package
        return False
    try:
        return bool(cuda.is_available())
    except Exception:  # pragma: no cover - broken driver
        return False


def _render_cuda(vol: AttenuationVolume, rays: _Rays) -> NDArray[np.float32]:  # pragma: no cover
    """Same sums on the GPU, one thread per pixel (ray order).  Optional; not used by "auto"."""
    from numba import cuda

    from kypho.fluoro._cuda import joseph_cuda

    mu = vol.layout(rays.order)
    rows, cols = rays.kmin.shape
    out = np.zeros((rows, cols), dtype=np.float32)
    tpb = (8, 8)
    blocks = ((rows + tpb[0] - 1) // tpb[0], (cols + tpb[1] - 1) // tpb[1])
    d_out = cuda.to_device(out)
    joseph_cuda[blocks, tpb](
        cuda.to_device(mu), cuda.to_device(rays.p0), cuda.to_device(rays.dp), cuda.to_device(rays.q0),
        cuda.to_device(rays.dq), cuda.to_device(rays.kmin), cuda.to_device(rays.kmax),
        cuda.to_device(rays.step_mm), d_out,
    )
    return d_out.copy_to_host()


def _render_reference(vol: AttenuationVolume, carm: CArm) -> tuple[NDArray[np.float32], int]:
    """Straightforward vectorised reference: one plane at a time, scipy linear interpolation."""
    from scipy.ndimage import map_coordinates

    mu = vol.mu_array()
    shape = mu.shape
    inv = np.linalg.inv(vol.affine)
    src = inv[:3, :3] @ carm.source_ras_mm + inv[:3, 3]
    pix = carm.pixel_centres_ras_mm() @ inv[:3, :3].T + inv[:3, 3]  # (rows, cols, 3)
    b = pix - src
    centre = inv[:3, :3] @ carm.detector_centre_ras_mm + inv[:3, 3]
    m = int(np.argmax(np.abs(centre - src)))
    step = np.linalg.norm(b @ vol.affine[:3, :3].T, axis=-1) / np.abs(b[..., m])
    total = np.zeros(b.shape[:2], dtype=np.float64)
    samples = 0
    for k in range(shape[m]):
        t = (k - src[m]) / b[..., m]
        ok = (t >= 0) & (t <= 1)
        if not ok.any():
            continue
        pts = src + t[ok][:, None] * b[ok]
        pts[:, m] = k
        inside = np.ones(len(pts), bool)
        for a in range(3):
            if a != m:
                inside &= (pts[:, a] > -1) & (pts[:, a] < shape[a])
        samples += int(inside.sum())
        vals = map_coordinates(mu, pts.T, order=1, mode="grid-constant", cval=0.0, prefilter=False)
        total[ok] += vals
    return (total * step).astype(np.float32), samples


# ---------------------------------------------------------------------- pose checks
def _tissue_along(hu: NDArray, affine: NDArray[np.float64], point: NDArray, axis: NDArray) -> tuple[bool, bool, bool]:
    """(tissue at point, tissue before it along -axis, tissue after it along +axis) in the CT."""
    inv = np.linalg.inv(affine)
    spacing = float(np.min(np.linalg.norm(affine[:3, :3], axis=0)))
    corners = np.array([[i, j, k] for i in (0, hu.shape[0] - 1) for j in (0, hu.shape[1] - 1) for k in (0, hu.shape[2] - 1)], float)
    world = corners @ affine[:3, :3].T + affine[:3, 3]
    reach = float(np.max(np.linalg.norm(world - point, axis=1))) + spacing
    n = int(min(math.ceil(reach / spacing), 20000))
    ts = np.linspace(-reach, reach, 2 * n + 1)
    pts = point + ts[:, None] * axis
    ijk = np.rint(pts @ inv[:3, :3].T + inv[:3, 3]).astype(np.int64)
    inside = np.all((ijk >= 0) & (ijk < np.array(hu.shape)), axis=1)
    tissue = np.zeros(len(ts), bool)
    idx = ijk[inside]
    tissue[inside] = hu[idx[:, 0], idx[:, 1], idx[:, 2]] > TISSUE_HU_THRESHOLD
    mid = n
    return bool(tissue[mid]), bool(tissue[:mid].any()), bool(tissue[mid + 1 :].any())


def check_pose(volume: Volume | AttenuationVolume, carm: CArm) -> None:
    """Raise :class:`SourceInsidePatientError` if the focal spot or detector lies inside the
    patient: in tissue (> -500 HU), or with tissue on both sides of it along the central ray."""
    hu = volume.data if isinstance(volume, Volume) else volume.hu
    affine = np.asarray(volume.affine, float)
    if hu is None:
        return
    d = carm.direction_ras
    for what, point in (("X-ray source", carm.source_ras_mm), ("detector", carm.detector_centre_ras_mm)):
        at, before, after = _tissue_along(hu, affine, point, d)
        if at or (before and after):
            raise SourceInsidePatientError(
                f"the {what} at RAS {tuple(np.round(point, 1))} mm is inside the patient "
                f"({carm.describe()}, source-to-isocentre {carm.source_to_isocentre_mm:g} mm, "
                f"source-to-detector {carm.source_to_detector_mm:g} mm): move the isocentre or "
                f"increase the distances"
            )


# ---------------------------------------------------------------------- public API
def line_integrals(
    volume: AttenuationVolume, carm: CArm, *, method: Method = "auto"
) -> tuple[NDArray[np.float32], str, int]:
    """Line integrals of ``volume`` for every pixel of ``carm``; returns (frame, method, samples).

    Raises :class:`EmptyViewError` when no ray meets the volume.
    """
    if method not in ("auto", "joseph", "shear-warp", "reference", "cuda"):
        raise InvalidParameterError(
            f"unknown render method {method!r}: auto, joseph, shear-warp, reference or cuda"
        )
    if method == "cuda" and not cuda_available():
        raise InvalidParameterError("method 'cuda' needs a CUDA GPU visible to numba.cuda; use 'auto'")
    rays = _setup_rays(volume.shape, np.asarray(volume.affine, float), carm)
    if not np.any(rays.kmin <= rays.kmax):
        raise EmptyViewError(
            f"the detector sees nothing of the volume ({carm.describe()}, isocentre "
            f"{tuple(round(x, 1) for x in carm.isocentre_ras_mm)} mm): put the isocentre inside the CT"
        )
    if method == "reference":
        out, samples = _render_reference(volume, carm)
        return out, "reference", samples
    if method == "cuda":
        return _render_cuda(volume, rays), "cuda", rays.samples
    if method == "auto":
        method = "shear-warp" if rays.aligned else "joseph"
    elif method == "shear-warp" and not rays.aligned:
        raise InvalidParameterError(
            "shear-warp needs a detector parallel to a voxel plane with rows and columns along "
            f"voxel axes; {carm.describe()} is not (use method='joseph' or 'auto')"
        )
    return _render_numba(volume, rays, method), method, rays.samples


def render_drr(
    volume: Volume | AttenuationVolume,
    carm: CArm,
    *,
    size: int | None = None,
    instruments: Sequence[Instrument] = (),
    energy_kev: float | None = None,
    method: Method = "auto",
    check: bool = True,
    dose: DoseSession | None = None,
) -> Frame:
    """Render one fluoroscopy frame.

    Parameters
    ----------
    volume : Volume or AttenuationVolume
        The CT (HU) or a prepared attenuation volume (faster for many frames).
    carm : CArm
        Pose and geometry.
    size : int, optional
        Override the detector to ``size`` x ``size`` pixels (e.g. 256 or 512).
    instruments : sequence of Instrument
        Trocars, balloons, cement: their attenuation is added to the line integrals.
    energy_kev : float, optional
        Effective energy (default 55 keV, or the prepared volume's).
    method : {"auto", "joseph", "shear-warp", "reference"}
        Implementation (see module docstring).
    check : bool
        Check that the source and detector are outside the patient.
    dose : DoseSession, optional
        Session that counts this exposure.

    Returns
    -------
    Frame
    """
    if size is not None:
        carm = carm.with_size(size)
    if energy_kev is None:
        energy_kev = volume.energy_kev if isinstance(volume, AttenuationVolume) else DEFAULT_ENERGY_KEV
    vol = prepare_volume(volume, energy_kev=energy_kev)
    if check:
        check_pose(vol, carm)
    total, used, samples = line_integrals(vol, carm, method=method)
    for inst in instruments:
        total += inst.line_integral(carm, energy_kev=vol.energy_kev)
    if dose is not None:
        dose.record(carm)
    return Frame(total, carm, vol.energy_kev, used, samples)


def kernel_threads() -> int:
    """Threads the Numba kernels run on."""
    return int(numba.get_num_threads())


__all__ += ["kernel_threads"]


def _as_volume(data: ArrayLike, affine: ArrayLike) -> Volume:  # small helper for instruments
    return Volume(np.asarray(data, np.float32), np.asarray(affine, float))
