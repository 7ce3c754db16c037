"""Benchmark the spine phantom: generation time and peak memory at 0.5 and 1.0 mm.

Each configuration runs in a fresh process (so the peak resident memory is its own), the
phantom is generated ``repeats`` times and the median is reported.

    python benchmarks/phantom.py            # T10-L3 with trunk at 0.5 and 1.0 mm, 3 repeats
    python benchmarks/phantom.py --quick    # one repeat each

The machine is shared (2 cores): numbers taken while others run are noisy.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import time


def _one(config: dict, repeats: int, queue: mp.Queue) -> None:
    import resource

    from kypho.phantom import FractureSpec, PhantomSpec, make_phantom

    spec = PhantomSpec(
        voxel_mm=config["voxel_mm"],
        soft_tissue=config["soft_tissue"],
        fractures=(FractureSpec("L1", "wedge", grade=2),),
    )
    times = []
    shape = ()
    for _ in range(repeats):
        t0 = time.perf_counter()
        case = make_phantom(spec)
        times.append(time.perf_counter() - t0)
        shape = case.volume.shape
        del case
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put({"times": times, "shape": shape, "peak_mb": peak_mb})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one repeat per configuration")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else 3
    configs = [
        {"name": "T10-L3, trunk, 0.5 mm (default)", "voxel_mm": 0.5, "soft_tissue": True},
        {"name": "T10-L3, trunk, 1.0 mm", "voxel_mm": 1.0, "soft_tissue": True},
        {"name": "T10-L3, spine only, 0.5 mm", "voxel_mm": 0.5, "soft_tissue": False},
        {"name": "T10-L3, spine only, 1.0 mm", "voxel_mm": 1.0, "soft_tissue": False},
    ]
    ctx = mp.get_context("spawn")
    rows = []
    for config in configs:
        queue: mp.Queue = ctx.Queue()
        proc = ctx.Process(target=_one, args=(config, repeats, queue))
        proc.start()
        result = queue.get()
        proc.join()
        voxels = 1
        for n in result["shape"]:
            voxels *= n
        rows.append(
            {
                "config": config["name"],
                "grid": "x".join(str(n) for n in result["shape"]),
                "mvoxels": voxels / 1e6,
                "median_s": statistics.median(result["times"]),
                "min_s": min(result["times"]),
                "peak_mb": result["peak_mb"],
            }
        )
    print(
        f"\nPhantom generation (L1 Genant 2 wedge), {repeats} run(s) each, fresh process per row\n"
    )
    print("| configuration | grid | Mvoxels | median s | min s | peak RSS MB |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['config']} | {r['grid']} | {r['mvoxels']:.1f} | {r['median_s']:.2f} | "
            f"{r['min_s']:.2f} | {r['peak_mb']:.0f} |"
        )
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
