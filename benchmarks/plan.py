"""Benchmark of kypho.plan: pedicle analysis, path search and rehearsal on phantoms.

Run ``python benchmarks/plan.py [--quick]``; prints a table (seconds and angle errors).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="1 mm voxels, three levels")
    args = ap.parse_args()
    from rich.console import Console
    from rich.table import Table

    from kypho.phantom import FractureSpec, PhantomSpec, make_phantom
    from kypho.plan import plan_level, rehearse
    from kypho.plan.search import angle_between_deg

    levels = ("T12", "L1", "L2") if args.quick else ("T10", "T11", "T12", "L1", "L2", "L3")
    vox = 1.0 if args.quick else 0.5
    table = Table(title=f"kypho.plan ({vox:g} mm phantoms)")
    for col in ("density", "level", "plan s", "verdicts", "axis error deg (L/R)"):
        table.add_column(col)
    errs = []
    for density in ("normal", "osteoporotic"):
        case = make_phantom(PhantomSpec(
            first_level=levels[0], last_level=levels[-1], voxel_mm=vox, bone_density=density,
            fractures=(FractureSpec("L1", "wedge", grade=2),),
        ))
        for lv in levels:
            t0 = time.perf_counter()
            pl = plan_level(case, lv, n_options=1)
            dt = time.perf_counter() - t0
            e = [angle_between_deg(p.direction_ras, np.array(
                next(q for q in case.truth.vertebra(lv).pedicles if q.side == p.side).axis_ras))
                for p in pl.paths]
            errs += e
            table.add_row(density, lv, f"{dt:.2f}", ",".join(p.verdict for p in pl.paths),
                          "/".join(f"{x:.1f}" for x in e))
    t0 = time.perf_counter()
    reh = rehearse(case, pl.paths[0], size=128 if args.quick else 256)
    Console().print(table)
    Console().print(
        f"path-to-truth-axis error: median {np.median(errs):.2f} deg, max {np.max(errs):.2f} deg; "
        f"rehearsal {len(reh.steps)} steps in {time.perf_counter() - t0:.1f} s"
    )


if __name__ == "__main__":
    main()
