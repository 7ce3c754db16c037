"""Benchmark kypho's readers and writers on a CT the size of the example (512 x 512 x 133 int16).

Usage: ``python benchmarks/io.py [--quick]`` (quick: 512 x 512 x 24).  Synthetic data, no
network.  Prints a Markdown table of wall-clock seconds per operation.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from kypho.core import Case, LabelMap, Volume
from kypho.io import (
    load_case,
    load_volume,
    save_case,
    write_dicom_series,
    write_nifti,
    write_nrrd,
)


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _touch(obj):
    """Force memory-mapped voxels into memory so reads are timed in full."""
    vol = obj.volume if isinstance(obj, Case) else obj
    return int(np.asarray(vol.data, dtype=np.int64).sum())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="24 slices instead of 133")
    args = parser.parse_args(argv)
    n_slices = 24 if args.quick else 133
    rng = np.random.default_rng(0)
    # Smooth-ish random HU so gzip has realistic (not trivial) work to do.
    data = (rng.normal(0, 80, (512, 512, n_slices)) + 40).astype(np.int16)
    affine = np.diag([-0.703125, 0.703125, 2.5, 1.0])
    vol = Volume(data, affine)
    labels = np.zeros(data.shape, np.int16)
    labels[200:300, 200:300, :] = 20
    case = Case(vol, LabelMap(labels, affine), name="bench")
    size_mb = data.nbytes / 1e6
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        for label, write, read in [
            ("NIfTI .nii.gz", lambda: write_nifti(vol, t / "ct.nii.gz"), lambda: load_volume(t / "ct.nii.gz")),
            ("NIfTI .nii", lambda: write_nifti(vol, t / "ct.nii"), lambda: load_volume(t / "ct.nii")),
            ("NRRD (gzip)", lambda: write_nrrd(vol, t / "ct.nrrd"), lambda: load_volume(t / "ct.nrrd")),
            ("DICOM series", lambda: write_dicom_series(vol, t / "dicom"), lambda: load_volume(t / "dicom")),
            ("case folder", lambda: save_case(case, t / "case"), lambda: load_case(t / "case")),
        ]:  # fmt: skip
            _, tw = _timed(write)
            _, tr = _timed(lambda read=read: _touch(read()))
            rows.append((label, tw, tr))
    print(f"CT {data.shape[0]} x {data.shape[1]} x {n_slices} int16 ({size_mb:.0f} MB)\n")
    print("| format | write s | read s |\n|---|---:|---:|")
    for label, tw, tr in rows:
        print(f"| {label} | {tw:.2f} | {tr:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
