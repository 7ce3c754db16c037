"""Benchmark kypho's DRR renderer: ms per frame, ray samples per second, peak memory, accuracy.

Renders AP, lateral and oblique frames of the example CT (``kypho.io.fetch_example``; a synthetic
volume of the same size and spacing when it cannot be fetched) and of the phantom (when
``kypho.phantom.make_phantom`` exists) at 256 and 512 pixels with the Numba kernels, and compares
them with the straightforward vectorised NumPy/SciPy reference of the same method.

    python benchmarks/drr.py            # full table (reference at 256 and 512 px)
    python benchmarks/drr.py --quick    # fewer repeats, reference at 256 px only

Timings are medians of repeated renders after a warm-up (compilation and the transposed volume
layouts are built in the warm-up and reported separately).  The machine is shared: numbers taken
while others run are noisy.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time

import numpy as np
from rich.console import Console
from rich.table import Table

from kypho.core import Volume
from kypho.fluoro import CArm, named_view, prepare_volume, render_drr
from kypho.fluoro.render import kernel_threads, line_integrals

err = Console(stderr=True)


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _synthetic_ct() -> Volume:
    """512 x 512 x 133 at 0.703 x 0.703 x 2.5 mm: an elliptic body with a bony column."""
    n, nz, sp, sz = 512, 133, 0.703125, 2.5
    x = (np.arange(n) - 255.5) * sp
    z = (np.arange(nz) - 66) * sz
    xx, yy = np.meshgrid(x, x, indexing="ij")
    body = (xx / 160) ** 2 + (yy / 110) ** 2 <= 1
    spine = (xx / 22) ** 2 + ((yy + 50) / 18) ** 2 <= 1
    hu = np.full((n, n, nz), -1000, np.int16)
    hu[body] = 40
    hu[spine] = 400
    hu[:, :, (np.abs(z) % 30) < 4] = np.where(body[..., None], 40, -1000)  # "discs"
    aff = np.diag([-sp, sp, sz, 1.0])
    aff[:3, 3] = (166.0, -187.6, -340.0)
    return Volume(hu, aff)


def _load_cases(quick: bool):
    cases = []
    try:
        from kypho.io import fetch_example

        case = fetch_example()
        cases.append(("example CT", case.volume))
    except Exception as exc:
        err.print(f"[yellow]example CT unavailable ({exc}); using a synthetic volume of the same size[/]")
        cases.append(("synthetic 512x512x133", _synthetic_ct()))
    try:
        from kypho.phantom import PhantomSpec, make_phantom  # type: ignore[attr-defined]

        ph = make_phantom(PhantomSpec())
        cases.append(("phantom", ph.volume))
    except Exception as exc:
        err.print(f"[yellow]phantom skipped ({type(exc).__name__}: {exc})[/]")
    return cases


def _time(fn, repeats: int) -> tuple[float, float, float]:
    """(median wall s, min wall s, min CPU s summed over threads) of ``repeats`` calls."""
    ts, cpu = [], []
    for _ in range(repeats):
        c0 = time.process_time()
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(ts), min(ts), min(cpu)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats; reference at 256 px only")
    args = ap.parse_args(argv)
    repeats = 3 if args.quick else 7
    ref_sizes = (256,) if args.quick else (256, 512)
    table = Table(title=f"kypho DRR benchmark ({kernel_threads()} threads)")
    for col in ("volume", "view", "size", "method", "ms/frame (median)", "ms (min)", "CPU ms",
                "Msamples/s", "kernel peak MB over volume", "ref ms", "max |diff|", "mean |diff|", "max L"):
        table.add_column(col, justify="right" if col not in ("volume", "view", "method") else "left")
    for name, volume in _load_cases(args.quick):
        base_rss = _rss_mb()
        err.print(f"{name}: {volume.shape}, spacing {tuple(round(s, 3) for s in volume.spacing_mm)} mm")
        t0 = time.perf_counter()
        vol = prepare_volume(volume)
        centre = volume.ijk_to_ras((np.asarray(volume.shape) - 1) / 2.0)
        views = [
            ("AP", named_view("ap", centre)),
            ("lateral", named_view("lateral", centre)),
            ("AP CRAN 10", CArm(primary_deg=180, secondary_deg=10, isocentre_ras_mm=tuple(centre))),
            ("oblique-left 20", named_view("oblique-left", centre)),
        ]
        # Warm-up: compile kernels, build the two layouts.
        for _, carm in views:
            render_drr(vol, carm.with_size(64))
        err.print(f"  warm-up (compile + layouts) {time.perf_counter() - t0:.1f} s, "
                  f"layouts {vol.nbytes_cached() / 2**20:.0f} MB")
        rows: list[list[str]] = []
        frames = []
        for view, carm in views:
            methods = ["auto"] + (["joseph"] if view in ("AP", "lateral") else [])
            for size in (256, 512):
                c = carm.with_size(size)
                for method in methods:
                    frame = render_drr(vol, c, method=method)
                    med, best, cpu = _time(lambda v=vol, c=c, m=method: render_drr(v, c, method=m), repeats)
                    rows.append([name, view, str(size), frame.method, f"{med * 1e3:.0f}",
                                 f"{best * 1e3:.0f}", f"{cpu * 1e3:.0f}",
                                 f"{frame.samples / best / 1e6:.0f}"])
                    frames.append((frame, c, method))
                    err.print(f"  {view} {size} {frame.method}: {med * 1e3:.0f} ms")
        # Peak memory of the kernels (before any reference run allocates its temporaries).
        kernel_peak = _peak_mb() - base_rss
        for row, (frame, c, method) in zip(rows, frames, strict=True):
            row.append(f"{kernel_peak:.0f}")
            if int(row[2]) in ref_sizes and method == "auto":  # row[2]: size
                t1 = time.perf_counter()
                ref, _, _ = line_integrals(vol, c, method="reference")
                t_ref = time.perf_counter() - t1
                d = np.abs(frame.line_integral.astype(np.float64) - ref)
                row += [f"{t_ref * 1e3:.0f}", f"{d.max():.1e}", f"{d.mean():.1e}", f"{ref.max():.2f}"]
                err.print(f"  reference {row[1]} {row[2]}: {t_ref:.1f} s")
            else:
                row += ["", "", "", f"{frame.line_integral.max():.2f}"]
            table.add_row(*row)
        del vol
    Console(width=220).print(table)
    print("CPU ms: processor time of the fastest render summed over the kernel threads; on a "
          "machine shared with other work, CPU ms / threads estimates the uncontended wall time.  "
          "Msamples/s: ray samples in the CT per second of the fastest wall time.")
    print("Kernel peak: process peak RSS (before any reference run) minus RSS after loading the "
          "volume; it includes the two cached transposed attenuation layouts (one float32 copy of "
          "the volume each).  max/mean |diff|: line integrals (dimensionless) of the kernel vs the "
          "NumPy reference.  The machine is shared with other engineers: timings are noisy.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
