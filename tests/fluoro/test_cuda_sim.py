"""The optional CUDA kernel, run under Numba's CUDA simulator in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import numpy as np
    from kypho.fluoro import CArm, Detector
    from kypho.fluoro.render import AttenuationVolume, cuda_available, line_integrals
    assert cuda_available()
    rng = np.random.default_rng(2)
    mu = rng.uniform(0, 0.05, (7, 6, 5)).astype(np.float32)
    aff = np.diag([1.5, 1.5, 2.0, 1.0]); aff[:3, 3] = (-4.5, -3.75, -4.0)
    vol = AttenuationVolume(mu, aff, 55.0)
    carm = CArm(primary_deg=150, secondary_deg=15, detector=Detector(6, 6, 20.0, 20.0))
    ref, _, _ = line_integrals(vol, carm, method="reference")
    gpu, used, _ = line_integrals(vol, carm, method="cuda")
    assert used == "cuda"
    assert ref.max() > 0.1
    np.testing.assert_allclose(gpu, ref, atol=1e-5)
    print("cuda-sim ok")
    """
)


def test_cuda_kernel_matches_reference_in_simulator():
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    res = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "cuda-sim ok" in res.stdout
