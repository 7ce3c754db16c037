"""Accuracy and speed of the fracture assessment against the phantom's ground truth.

Generates a randomized cohort of phantom spines (levels, bone density, fracture types, grades
and height losses, retropulsion, seeds), runs ``kypho.assess.assess`` on each and compares with
``case.truth``: height errors (median and 95th percentile, mm and voxels), Genant grade and type
agreement, wedge-angle, axis, density and column-shortening errors, and timing.  Then times the
assessment of the real example CT (when it can be fetched).

Usage::

    python benchmarks/assess.py             # >= 200 vertebrae at 1.0 mm
    python benchmarks/assess.py --quick     # a few phantoms
    python benchmarks/assess.py --fine      # 0.5 mm voxels (slower)
    python benchmarks/assess.py --voxel 0.75 --phantoms 20 --seed 3 --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from kypho.assess import assess
from kypho.core.levels import LEVELS
from kypho.phantom import FractureSpec, PhantomSpec, make_phantom
from kypho.phantom.spec import GENANT_BANDS_PCT

PHANTOM_LEVELS = LEVELS[LEVELS.index("T10") : LEVELS.index("L5") + 1]
TYPES = ("wedge", "biconcave", "crush")
DENSITIES = ("normal", "osteopenic", "osteoporotic")


def random_spec(rng: np.random.Generator, voxel_mm: float, seed: int) -> PhantomSpec:
    """One random phantom: 4-6 consecutive levels in T10-L5, 0-2 fractures."""
    n = int(rng.integers(4, 7))
    first = int(rng.integers(0, len(PHANTOM_LEVELS) - n + 1))
    levels = PHANTOM_LEVELS[first : first + n]
    n_fx = int(rng.choice([0, 1, 1, 2]))
    fx_levels = rng.choice(levels, size=n_fx, replace=False) if n_fx else []
    fractures = []
    for lv in fx_levels:
        grade = int(rng.integers(1, 4))
        lo, hi = GENANT_BANDS_PCT[grade]
        hi = min(hi, 60.0)
        loss = float(rng.uniform(lo + 0.01, hi - 0.01))
        retro = float(rng.uniform(2.0, 5.0)) if rng.random() < 0.2 else 0.0
        fractures.append(
            FractureSpec(
                level=str(lv),
                type=str(rng.choice(TYPES)),  # type: ignore[arg-type]
                height_loss_pct=round(loss, 2),
                retropulsion_mm=round(retro, 2),
            )
        )
    return PhantomSpec(
        first_level=levels[0],
        last_level=levels[-1],
        voxel_mm=voxel_mm,
        bone_density=str(rng.choice(DENSITIES)),  # type: ignore[arg-type]
        fractures=tuple(fractures),
        seed=seed,
        soft_tissue=bool(rng.random() < 0.3),
    )


@dataclass
class Tally:
    height_err: list[float] = field(default_factory=list)
    grade_pairs: list[tuple[int, int, bool]] = field(
        default_factory=list
    )  # truth, kypho, borderline
    type_pairs: list[tuple[str, str]] = field(default_factory=list)
    wedge_err: list[float] = field(default_factory=list)
    axis_err: list[float] = field(default_factory=list)
    landmark_err: list[float] = field(default_factory=list)
    hu_err_normal: list[float] = field(default_factory=list)
    hu_err_fractured: list[float] = field(default_factory=list)
    column_err: list[float] = field(default_factory=list)
    retro: list[tuple[float, float]] = field(default_factory=list)  # truth, measured
    not_measured: list[str] = field(default_factory=list)
    assess_s: list[float] = field(default_factory=list)
    per_vertebra_s: list[float] = field(default_factory=list)
    generate_s: list[float] = field(default_factory=list)
    misgraded: list[str] = field(default_factory=list)
    worst: list[tuple[float, str]] = field(default_factory=list)


def _angle(a, b) -> float:
    return float(np.degrees(np.arccos(np.clip(np.dot(a, b), -1.0, 1.0))))


def evaluate(case, tally: Tally, tag: str) -> None:
    t0 = time.perf_counter()
    result = assess(case)
    dt = time.perf_counter() - t0
    tally.assess_s.append(dt)
    tally.per_vertebra_s.append(dt / max(1, len(result.vertebrae)))
    truth = case.truth
    fractured_truth = False
    for tv in truth.vertebrae:
        v = result.vertebra(tv.level)
        if not v.measured:
            tally.not_measured.append(f"{tag} {tv.level}: {v.status}")
            continue
        meas = v.heights_mm
        ref = (tv.height_anterior_mm, tv.height_middle_mm, tv.height_posterior_mm)
        errs = [float(m - r) for m, r in zip(meas, ref, strict=True)]
        tally.height_err.extend(errs)
        k = int(np.argmax(np.abs(errs)))
        tally.worst.append(
            (
                abs(errs[k]),
                f"{tag} {tv.level} H{'amp'[k]} {errs[k]:+.2f} mm ({tv.fracture_type}, "
                f"retropulsion {tv.retropulsion_mm:g} mm)",
            )
        )
        if tv.retropulsion_mm > 0 and (v.posterior_wall_protrusion_mm or 0.0) < 2.0:
            tally.misgraded.append(
                f"{tag} {tv.level}: retropulsion {tv.retropulsion_mm:.1f} mm measured as "
                f"{v.posterior_wall_protrusion_mm or 0.0:.1f} mm"
            )
        g = v.genant_grade if v.genant_grade is not None else -1
        tally.grade_pairs.append((tv.genant_grade, g, v.borderline))
        if tv.genant_grade != g:
            tally.misgraded.append(
                f"{tag} {tv.level}: truth G{tv.genant_grade} {tv.fracture_type} "
                f"{tv.height_loss_pct:.1f} %, kypho G{g} {v.fracture_type} "
                f"{v.max_height_loss_pct:.1f} %{' (borderline)' if v.borderline else ''}"
            )
        if tv.genant_grade > 0:
            fractured_truth = True
            tally.type_pairs.append((tv.fracture_type, str(v.fracture_type)))
        tally.wedge_err.append(float(v.wedge_angle_deg - tv.wedge_angle_deg))
        tally.axis_err.append(_angle(v.superior_axis_ras, tv.superior_axis_ras))
        tally.landmark_err.extend(
            float(np.linalg.norm(np.subtract(v.landmarks_ras_mm[k], p)))
            for k, p in tv.landmarks_ras_mm.items()
        )
        if v.trabecular_hu is not None:
            err = float(v.trabecular_hu - tv.trabecular_hu)
            (tally.hu_err_fractured if tv.genant_grade else tally.hu_err_normal).append(err)
        tally.retro.append((tv.retropulsion_mm, float(v.posterior_wall_protrusion_mm or 0.0)))
    if fractured_truth:
        tally.column_err.append(
            result.alignment.column_height_loss_mm - truth.column_height_loss_mm
        )


def _pct(x: list[float], q: float) -> float:
    return float(np.percentile(np.abs(x), q)) if x else float("nan")


def report(tally: Tally, voxel: float, n_phantoms: int) -> dict:
    he = tally.height_err
    grades = tally.grade_pairs
    agree = [t == k for t, k, _ in grades]
    agree_nb = [t == k for t, k, b in grades if not b]
    frac = [(t, k) for t, k, _ in grades if t > 0]
    normal = [(t, k) for t, k, _ in grades if t == 0]
    types_ok = [t == k for t, k in tally.type_pairs]
    retro_true = [m for t, m in tally.retro if t > 0]
    retro_false = [m for t, m in tally.retro if t == 0]
    out = {
        "voxel_mm": voxel,
        "phantoms": n_phantoms,
        "vertebrae_measured": len(grades),
        "vertebrae_not_measured": len(tally.not_measured),
        "fractured_vertebrae": len(frac),
        "height_error_median_mm": _pct(he, 50),
        "height_error_p95_mm": _pct(he, 95),
        "height_error_max_mm": _pct(he, 100),
        "height_error_mean_signed_mm": float(np.mean(he)) if he else float("nan"),
        "grade_agreement": float(np.mean(agree)) if agree else float("nan"),
        "grade_agreement_not_borderline": float(np.mean(agree_nb)) if agree_nb else float("nan"),
        "borderline_fraction": float(np.mean([b for *_, b in grades])) if grades else float("nan"),
        "fracture_sensitivity": float(np.mean([k > 0 for _, k in frac])) if frac else float("nan"),
        "normal_specificity": float(np.mean([k == 0 for _, k in normal]))
        if normal
        else float("nan"),
        "type_agreement": float(np.mean(types_ok)) if types_ok else float("nan"),
        "wedge_angle_error_median_deg": _pct(tally.wedge_err, 50),
        "wedge_angle_error_p95_deg": _pct(tally.wedge_err, 95),
        "axis_error_median_deg": _pct(tally.axis_err, 50),
        "axis_error_p95_deg": _pct(tally.axis_err, 95),
        "landmark_error_median_mm": _pct(tally.landmark_err, 50),
        "landmark_error_p95_mm": _pct(tally.landmark_err, 95),
        "trabecular_hu_error_median_normal": _pct(tally.hu_err_normal, 50),
        "trabecular_hu_error_median_fractured": _pct(tally.hu_err_fractured, 50),
        "column_loss_error_median_mm": _pct(tally.column_err, 50),
        "retropulsion_detected": float(np.mean([m >= 2.0 for m in retro_true]))
        if retro_true
        else float("nan"),
        "retropulsion_false_flags": float(np.mean([m >= 2.0 for m in retro_false]))
        if retro_false
        else float("nan"),
        "assess_s_median": float(np.median(tally.assess_s)) if tally.assess_s else float("nan"),
        "assess_s_per_vertebra": float(np.median(tally.per_vertebra_s))
        if tally.per_vertebra_s
        else float("nan"),
        "generate_s_median": float(np.median(tally.generate_s))
        if tally.generate_s
        else float("nan"),
    }
    return out


def example_ct_timing(repeats: int) -> dict | None:
    """Assess the real example CT (labels L3..C5) and time it after loading; None offline."""
    try:
        from kypho.io import fetch_example

        case = fetch_example()
    except Exception as exc:  # offline or blocked: report and go on
        print(f"example CT not available ({type(exc).__name__}: {exc})", file=sys.stderr)
        return None
    times = []
    result = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = assess(case)
        times.append(time.perf_counter() - t0)
    rows = []
    for v in result.vertebrae:  # type: ignore[union-attr]
        rows.append(
            {
                "level": v.level,
                "status": v.status,
                "Ha": v.height_anterior_mm,
                "Hm": v.height_middle_mm,
                "Hp": v.height_posterior_mm,
                "grade": v.genant_grade,
                "type": v.fracture_type,
                "borderline": v.borderline,
                "hu": v.trabecular_hu,
            }
        )
    return {"assess_s_min": min(times), "assess_s_median": float(np.median(times)), "rows": rows}


def _print_table(res: dict, ex: dict | None) -> None:
    v = res["voxel_mm"]
    lines = [
        "| measure | value |",
        "|---|---:|",
        f"| voxel size | {v:g} mm |",
        f"| phantoms / vertebrae measured (not measured) | {res['phantoms']} / "
        f"{res['vertebrae_measured']} ({res['vertebrae_not_measured']}) |",
        f"| fractured vertebrae (truth) | {res['fractured_vertebrae']} |",
        f"| height error, median | {res['height_error_median_mm']:.3f} mm "
        f"({res['height_error_median_mm'] / v:.2f} voxel) |",
        f"| height error, 95th percentile | {res['height_error_p95_mm']:.3f} mm "
        f"({res['height_error_p95_mm'] / v:.2f} voxel) |",
        f"| height error, max | {res['height_error_max_mm']:.3f} mm |",
        f"| height error, mean (signed) | {res['height_error_mean_signed_mm']:+.3f} mm |",
        f"| Genant grade agreement | {100 * res['grade_agreement']:.1f} % |",
        f"| grade agreement, not borderline | {100 * res['grade_agreement_not_borderline']:.1f} % |",
        f"| flagged borderline | {100 * res['borderline_fraction']:.1f} % |",
        f"| fracture sensitivity / normal specificity | {100 * res['fracture_sensitivity']:.1f} % / "
        f"{100 * res['normal_specificity']:.1f} % |",
        f"| fracture type agreement | {100 * res['type_agreement']:.1f} % |",
        f"| wedge angle error, median / 95th pct | {res['wedge_angle_error_median_deg']:.2f} / "
        f"{res['wedge_angle_error_p95_deg']:.2f} deg |",
        f"| superior axis error, median / 95th pct | {res['axis_error_median_deg']:.2f} / "
        f"{res['axis_error_p95_deg']:.2f} deg |",
        f"| landmark position error, median / 95th pct | {res['landmark_error_median_mm']:.2f} / "
        f"{res['landmark_error_p95_mm']:.2f} mm |",
        f"| trabecular HU error, median: normal / fractured | "
        f"{res['trabecular_hu_error_median_normal']:.1f} / "
        f"{res['trabecular_hu_error_median_fractured']:.1f} HU |",
        f"| column shortening error, median | {res['column_loss_error_median_mm']:.2f} mm |",
        f"| retropulsion flagged (true) / false flags | {100 * res['retropulsion_detected']:.0f} % / "
        f"{100 * res['retropulsion_false_flags']:.1f} % |",
        f"| assess time per phantom, median | {res['assess_s_median']:.2f} s "
        f"({1000 * res['assess_s_per_vertebra']:.0f} ms per vertebra) |",
        f"| phantom generation, median | {res['generate_s_median']:.2f} s |",
    ]
    if ex is not None:
        lines.append(
            f"| example CT (18 labels), assess time min / median | {ex['assess_s_min']:.2f} / "
            f"{ex['assess_s_median']:.2f} s |"
        )
    print("\n".join(lines))
    if ex is not None:
        print("\nExample CT, per vertebra:\n")
        print(
            "| level | Ha | Hm | Hp | grade | type | HU | status |\n|---|---:|---:|---:|---|---|---:|---|"
        )
        for r in ex["rows"]:
            f = lambda x: "" if x is None else f"{x:.1f}"  # noqa: E731
            g = "" if r["grade"] is None else f"{r['grade']}{'?' if r['borderline'] else ''}"
            hu = "" if r["hu"] is None else f"{r['hu']:.0f}"
            print(
                f"| {r['level']} | {f(r['Ha'])} | {f(r['Hm'])} | {f(r['Hp'])} | {g} | "
                f"{r['type'] or ''} | {hu} | {r['status']} |"
            )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="6 phantoms, no example CT repeats")
    p.add_argument("--fine", action="store_true", help="0.5 mm voxels instead of 1.0 mm")
    p.add_argument("--voxel", type=float, default=None, help="voxel size (mm)")
    p.add_argument("--phantoms", type=int, default=None, help="number of phantoms")
    p.add_argument("--seed", type=int, default=2024, help="cohort seed")
    p.add_argument("--json", default=None, help="write the summary as JSON here")
    p.add_argument("--no-example", action="store_true", help="skip the example CT")
    p.add_argument("--verbose", action="store_true", help="list misgraded vertebrae")
    args = p.parse_args(argv)
    voxel = args.voxel or (0.5 if args.fine else 1.0)
    n = args.phantoms or (6 if args.quick else 48)
    rng = np.random.default_rng(args.seed)
    tally = Tally()
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("phantoms", total=n)
        for i in range(n):
            spec = random_spec(rng, voxel, seed=args.seed * 1000 + i)
            t0 = time.perf_counter()
            case = make_phantom(spec)
            tally.generate_s.append(time.perf_counter() - t0)
            evaluate(case, tally, f"#{i} ({spec.first_level}-{spec.last_level})")
            bar.advance(task)
    res = report(tally, voxel, n)
    ex = None if args.no_example else example_ct_timing(1 if args.quick else 5)
    _print_table(res, ex)
    if args.verbose or tally.misgraded:
        print("\nMisgraded:" if tally.misgraded else "")
        for line in tally.misgraded[: 40 if args.verbose else 10]:
            print("  " + line)
    if args.verbose:
        print("\nLargest height errors:")
        for _, line in sorted(tally.worst, reverse=True)[:8]:
            print("  " + line)
    if tally.not_measured:
        print("\nNot measured:")
        for line in tally.not_measured[:10]:
            print("  " + line)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"phantom": res, "example_ct": ex}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
