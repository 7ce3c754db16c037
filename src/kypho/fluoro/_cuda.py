"""Optional GPU kernel (numba.cuda): Joseph's sums, one thread per detector pixel.

Imported only when ``method="cuda"`` is requested.  Checked against the NumPy reference with
Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``); never run on a real GPU.
"""

from __future__ import annotations

from numba import cuda

__all__ = ["joseph_cuda"]


@cuda.jit
def joseph_cuda(mu, p0, dp, q0, dq, kmin, kmax, step, out):  # pragma: no cover - GPU/simulator
    r, c = cuda.grid(2)
    if r < out.shape[0] and c < out.shape[1]:
        acc = 0.0
        for k in range(kmin[r, c], kmax[r, c] + 1):
            pp = p0[r, c] + k * dp[r, c] + 1.0
            qq = q0[r, c] + k * dq[r, c] + 1.0
            ip = int(pp)
            iq = int(qq)
            fp = pp - ip
            fq = qq - iq
            a = mu[k, ip, iq]
            b = mu[k, ip, iq + 1]
            cc = mu[k, ip + 1, iq]
            d = mu[k, ip + 1, iq + 1]
            v0 = a + fq * (b - a)
            v1 = cc + fq * (d - cc)
            acc += v0 + fp * (v1 - v0)
        out[r, c] = acc * step[r, c]
