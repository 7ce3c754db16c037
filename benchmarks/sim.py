"""Speed and cohort outcomes of the balloon/cement simulator (kypho.sim).

Part 1, speed: one kyphoplasty (bipedicular balloons + cement, time-stepped) and one
vertebroplasty of a fractured L1 phantom at the 1 mm working grid, and the shortest-path
preview; prints where the time goes.

Part 2, cohort: a randomized cohort of fractured phantom vertebrae (levels T10-L5, Genant grades
1-3, wedge/biconcave/crush, osteoporotic or osteopenic bone, extra cortical breaks, three
cements, volumes, uni- or bipedicular) treated by both techniques; prints leak rates and
locations, kyphosis correction, anterior height restoration, cement volume and fill next to
published figures.  Every vertebra is modelled from its measured anatomy (kypho.anatomy: the
CT and labels, exactly as a real CT), never from the phantom's answer key, so the phantom's
cortical breaks are not seen (none is inferred from CT yet).  The model's parameters come from
the biomechanics literature, not from fitting these outcomes.

Usage::

    python benchmarks/sim.py              # speed + 100 fractured vertebrae (about 10 min)
    python benchmarks/sim.py --quick      # speed + 6 vertebrae
    python benchmarks/sim.py --n 40 --seed 3 --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from kypho.anatomy import SpineAnatomy
from kypho.errors import KyphoError
from kypho.phantom import FractureSpec, PhantomSpec, make_phantom
from kypho.phantom.spec import GENANT_BANDS_PCT
from kypho.sim import (
    CEMENTS,
    BreakSpec,
    Cement,
    DensityCalibration,
    body_from_case,
    build_bone_model,
    default_trocar_tips,
    simulate,
    synthetic_body,
)
from kypho.sim.frames import procedure_dose
from kypho.sim.from_case import default_approach

LEVELS = ("T10", "T11", "T12", "L1", "L2", "L3", "L4", "L5")
TYPES = ("wedge", "biconcave", "crush")
DENSITIES = ("osteopenic", "osteoporotic")
#: Treated vertebrae are mostly osteoporotic: 70 % osteoporotic, 30 % osteopenic (model choice;
#: the phantom's "normal" class is not a vertebral-augmentation population).
DENSITY_P = (0.3, 0.7)
EXTRA_BREAKS = ("posterior_wall", "left_wall", "right_wall", "anterior_wall")
#: A leak counts when at least this much left the body (mL): a 2.7 mm blob, about what a
#: post-operative CT shows (model choice).
LEAK_COUNT_ML = 0.01


def _phantom(rng: np.random.Generator, seed: int, *, quick: bool = False):
    i = int(rng.integers(0, len(LEVELS)))
    level = LEVELS[i]
    first, last = LEVELS[max(i - 1, 0)], LEVELS[min(i + 1, len(LEVELS) - 1)]
    grade = int(rng.integers(1, 4))
    lo, hi = GENANT_BANDS_PCT[grade]
    loss = float(rng.uniform(lo + 0.5, min(hi, 55.0) - 0.5))
    extra = tuple(str(b) for b in EXTRA_BREAKS if rng.random() < 0.15)
    retro = float(rng.uniform(1.5, 4.0)) if rng.random() < 0.15 else 0.0
    fx = FractureSpec(level, str(rng.choice(TYPES)), height_loss_pct=round(loss, 1),  # type: ignore[arg-type]
                      retropulsion_mm=round(retro, 1), cortical_breaks=extra)
    spec = PhantomSpec(first_level=first, last_level=last, voxel_mm=1.0,
                       bone_density=str(rng.choice(DENSITIES, p=DENSITY_P)),  # type: ignore[arg-type]
                       fractures=(fx,), seed=seed, soft_tissue=False)
    return make_phantom(spec), level, fx


def speed(report: dict) -> None:
    case = make_phantom(PhantomSpec(
        first_level="T12", last_level="L2", voxel_mm=1.0, bone_density="osteoporotic",
        soft_tissue=False, fractures=(FractureSpec("L1", "wedge", grade=2),)))
    t0 = time.perf_counter()
    geom = body_from_case(case, "L1")
    t_geom = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = build_bone_model(geom)
    t_model = time.perf_counter() - t0
    rows = []
    kp_tips = default_trocar_tips(model, technique="kyphoplasty", bipedicular=True)
    for label, kw in (
        ("kyphoplasty (2 balloons 15/3 + cement)", dict(technique="kyphoplasty",
                                                       trocar_tips_ras_mm=kp_tips)),
        ("vertebroplasty 4 mL", dict(technique="vertebroplasty", volume_ml=4.0,
                                     visible_leak_ml=None)),
        ("preview kyphoplasty", dict(technique="kyphoplasty", trocar_tips_ras_mm=kp_tips,
                                     mode="preview")),
        ("preview vertebroplasty 4 mL", dict(technique="vertebroplasty", volume_ml=4.0,
                                             mode="preview")),
    ):
        t0 = time.perf_counter()
        r = simulate(model, **kw)
        wall = time.perf_counter() - t0
        rows.append((label, wall, r))
    print("\n== Speed: one L1 (osteoporotic wedge, grade 2), 1 mm working grid ==")
    print(f"fluid voxels {int(model.fluid.sum())}, body {model.body_volume_ml:.1f} mL")
    print(f"{'body_from_case (anatomy, assessment, masks)':44s} {t_geom:7.2f} s")
    print(f"{'build_bone_model (resample, laws, exits)':44s} {t_model:7.2f} s")
    for label, wall, r in rows:
        t = r.timings_s
        parts = (f"balloon {t.get('balloon', 0):.2f}, solve {t.get('inject_assemble_solve', 0):.2f}"
                 f", advance {t.get('inject_advance', 0):.2f}, setup "
                 f"{t.get('inject_setup', 0):.2f}, summary {t.get('summary', 0):.2f}")
        steps = len(r.injection_history.get("time_s", ()))
        cg = int(t.get("inject_cg_iterations", 0))
        print(f"{label:44s} {wall:7.2f} s  ({parts}; {steps} steps, {cg} CG iterations; "
              f"{r.injected_volume_ml:.2f} mL, stop: {r.stop_reason})")
    report["speed"] = {
        "body_from_case_s": t_geom, "build_model_s": t_model,
        "runs": {label: {"wall_s": wall, **r.timings_s} for label, wall, r in rows},
    }


@dataclass
class Tally:
    leaks: dict[str, list[bool]] = field(default_factory=lambda: {"kyphoplasty": [],
                                                                  "vertebroplasty": []})
    where: dict[str, Counter] = field(default_factory=lambda: {"kyphoplasty": Counter(),
                                                               "vertebroplasty": Counter()})
    leak_ml: dict[str, list[float]] = field(default_factory=lambda: {"kyphoplasty": [],
                                                                     "vertebroplasty": []})
    wedge_corr: dict[str, list[float]] = field(default_factory=lambda: {"kyphoplasty": [],
                                                                        "vertebroplasty": []})
    ha_gain: dict[str, list[float]] = field(default_factory=lambda: {"kyphoplasty": [],
                                                                     "vertebroplasty": []})
    ha_pct: dict[str, list[float]] = field(default_factory=lambda: {"kyphoplasty": [],
                                                                    "vertebroplasty": []})
    volume: dict[str, list[float]] = field(default_factory=lambda: {"kyphoplasty": [],
                                                                    "vertebroplasty": []})
    fill: dict[str, list[float]] = field(default_factory=lambda: {"kyphoplasty": [],
                                                                  "vertebroplasty": []})
    fluoro_s: dict[str, list[float]] = field(default_factory=lambda: {"kyphoplasty": [],
                                                                      "vertebroplasty": []})
    dap: dict[str, list[float]] = field(default_factory=lambda: {"kyphoplasty": [],
                                                                 "vertebroplasty": []})
    pressure: list[float] = field(default_factory=list)
    cavity: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    by_cement: dict[str, list[bool]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def cohort(n: int, seed: int, tally: Tally, *, progress=None, calibration=None) -> None:
    rng = np.random.default_rng(seed)
    done = 0
    attempt = 0
    while done < n and attempt < 3 * n:
        attempt += 1
        t0 = time.perf_counter()
        try:
            case, level, fx = _phantom(rng, seed * 1000 + attempt)
            model = build_bone_model(body_from_case(case, level), seed=attempt,
                                     calibration=calibration or DensityCalibration.phantomless())
        except Exception as exc:
            tally.failures.append(f"phantom {attempt}: {exc}")
            continue
        bipedicular = bool(rng.random() < 0.5)
        start = float(rng.uniform(4.0, 7.0))
        vp_cement = str(rng.choice(["low_viscosity", "standard", "high_viscosity"]))
        kp_cement = str(rng.choice(["standard", "high_viscosity"]))
        # a small crushed body cannot take the whole drawn volume: at most 90 % of its pores
        vp_volume = min(float(rng.uniform(2.5, 5.0)), 0.9 * model.pore_volume_ml)
        try:  # the measured pedicles aim the trocars (no phantom truth is read)
            pedicles = SpineAnatomy.of(case).vertebra(level).pedicles
        except KyphoError:
            pedicles = None
        vp_tips, vp_axes = default_approach(model, technique="vertebroplasty",
                                            bipedicular=bipedicular, pedicles=pedicles)
        kp_tips, kp_axes = default_approach(model, technique="kyphoplasty",
                                            bipedicular=bipedicular, pedicles=pedicles)
        runs = {
            "vertebroplasty": dict(
                technique="vertebroplasty", cement=vp_cement, volume_ml=round(vp_volume, 1),
                trocar_tips_ras_mm=vp_tips, trocar_axes_ras=vp_axes),
            "kyphoplasty": dict(
                technique="kyphoplasty", cement=kp_cement,
                trocar_tips_ras_mm=kp_tips, trocar_axes_ras=kp_axes),
        }
        for tech, kw in runs.items():
            try:
                r = simulate(model, start_time_min=start, seed=attempt, **kw)
            except Exception as exc:
                tally.failures.append(f"{level} {fx.type} {tech}: {exc}")
                continue
            leaked = [lk for lk in r.leaks if lk.volume_ml >= LEAK_COUNT_ML]
            tally.leaks[tech].append(bool(leaked))
            tally.by_cement.setdefault(f"{tech} {r.cement}", []).append(bool(leaked))
            for lk in leaked:
                tally.where[tech][lk.kind] += 1
            tally.leak_ml[tech].append(r.leaked_volume_ml)
            tally.wedge_corr[tech].append(r.wedge_angle_before_deg - r.wedge_angle_after_deg)
            tally.ha_gain[tech].append(r.heights_after_mm[0] - r.heights_before_mm[0])
            if r.height_restoration_pct is not None:
                tally.ha_pct[tech].append(r.height_restoration_pct)
            tally.volume[tech].append(r.injected_volume_ml)
            dose = procedure_dose(r, case)
            tally.fluoro_s[tech].append(dose.fluoroscopy_time_s)
            tally.dap[tech].append(dose.dap_gy_cm2)
            tally.fill[tech].append(r.fill_fraction)
            if r.balloon is not None:
                tally.pressure.append(r.balloon.max_pressure_mpa)
                tally.cavity.append(r.balloon.cavity_volume_ml)
        tally.seconds.append(time.perf_counter() - t0)
        done += 1
        if progress is not None:
            progress(done)


def _pct(x: list[bool]) -> str:
    return f"{100 * np.mean(x):5.1f} % (n={len(x)})" if x else "   -"


def _mean(x: list[float], fmt: str = "{:.2f}") -> str:
    if not x:
        return "-"
    return (fmt + " +/- " + fmt).format(float(np.mean(x)), float(np.std(x)))


def print_cohort(t: Tally, report: dict) -> None:
    kp, vp = "kyphoplasty", "vertebroplasty"
    print(f"\n== Cohort: {len(t.seconds)} fractured vertebrae, both techniques ==")
    print(f"{'measure':40s} {'model KP':>22s} {'model VP':>22s}   published")
    rows = [
        ("any cement leak per vertebra", _pct(t.leaks[kp]), _pct(t.leaks[vp]),
         "KP 9 % / VP 41 % (Hulme 2006, 69 studies); KP 18.4 % / VP 54.7 % "
         "(World Neurosurg 2017)"),
        ("leaked volume (mL)", _mean(t.leak_ml[kp]), _mean(t.leak_ml[vp]), "not found"),
        ("kyphosis (wedge) correction (deg)", _mean(t.wedge_corr[kp], "{:.1f}"),
         _mean(t.wedge_corr[vp], "{:.1f}"), "BKP 4.8 vs VP 1.7 (Papanastassiou 2012)"),
        ("anterior height gain (mm)", _mean(t.ha_gain[kp], "{:.1f}"),
         _mean(t.ha_gain[vp], "{:.1f}"), "KP - VP 3.67 (Xing 2013); KP+VP +3.48 mm "
         "(Marino 2025)"),
        ("anterior height restored (% of loss)", _mean(t.ha_pct[kp], "{:.0f}"),
         _mean(t.ha_pct[vp], "{:.0f}"), "cadaver 97 % KP / 30 % VP (Belkoff 2001)"),
        ("cement volume (mL)", _mean(t.volume[kp]), _mean(t.volume[vp]),
         "KP ~2.4 per side (FREE); VP cadaver L1 4.4 (3.8-5.0)"),
        ("fill fraction of the body (%)", _mean([100 * f for f in t.fill[kp]], "{:.0f}"),
         _mean([100 * f for f in t.fill[vp]], "{:.0f}"),
         "16 % restores strength, 30 % stiffness (Molloy 2003)"),
        ("fluoroscopy time (s, no access)", _mean(t.fluoro_s[kp], "{:.0f}"),
         _mean(t.fluoro_s[vp], "{:.0f}"), "VP 4.9 +/- 3.3 min per level incl. access "
         "(Kopparapu 2021)"),
        ("DAP (Gy cm2, no access)", _mean(t.dap[kp]), _mean(t.dap[vp]),
         "VP median 3.47 per procedure (Int J Spine Surg)"),
        ("balloon pressure reached (MPa)", _mean(t.pressure), "", "0.85 (young), "
         "1.21 +/- 0.26 (osteoporotic, 110 N) cadaver"),
        ("balloon cavity (mL, all balloons)", _mean(t.cavity), "", "2.95 +/- 0.18 per balloon"),
    ]
    for name, a, b, pub in rows:
        print(f"{name:40s} {a:>22s} {b:>22s}   {pub}")
    print("\nleak locations (share of leaking exits):")
    for tech in (kp, vp):
        tot = sum(t.where[tech].values())
        parts = ", ".join(f"{k} {100 * v / tot:.0f} %" for k, v in t.where[tech].most_common())
        print(f"  {tech:15s} {parts or 'none'}")
    print("  published (VP, 3175 patients): paraspinal 25 %, intradiscal 26 %, canal 0.7 %, "
          "basivertebral 11.4 %, segmental 4.9 % (J Orthop Surg Res 2019)")
    print("\nleak rate by cement:")
    for k in sorted(t.by_cement):
        print(f"  {k:32s} {_pct(t.by_cement[k])}")
    print("  published: high- vs low-viscosity RR 0.38 (PMC5895344)")
    print(f"\ntime per vertebra (phantom + model + both techniques): "
          f"{np.mean(t.seconds):.1f} s mean, {np.sum(t.seconds):.0f} s total")
    if t.failures:
        print(f"failures ({len(t.failures)}):")
        for f in t.failures[:10]:
            print("  ", f)
    report["cohort"] = {
        "n": len(t.seconds),
        "leak_rate": {k: float(np.mean(v)) if v else None for k, v in t.leaks.items()},
        "leak_locations": {k: dict(v) for k, v in t.where.items()},
        "wedge_correction_deg": {k: float(np.mean(v)) if v else None
                                 for k, v in t.wedge_corr.items()},
        "anterior_height_gain_mm": {k: float(np.mean(v)) if v else None
                                    for k, v in t.ha_gain.items()},
        "volume_ml": {k: float(np.mean(v)) if v else None for k, v in t.volume.items()},
        "fill_fraction": {k: float(np.mean(v)) if v else None for k, v in t.fill.items()},
        "seconds": float(np.sum(t.seconds)),
        "failures": t.failures,
    }


def belkoff(report: dict) -> None:
    """The balloon model against Belkoff 2001 (unloaded osteoporotic bodies, bipedicular)."""
    print("\n== Balloon check: Belkoff 2001 (no preload; KP 97 % vs VP 30 % of lost height, "
          "2.5 +/- 0.7 mm) ==")
    print(f"{'body (normal / now mm, BMD)':32s} {'KP restored':>12s} {'VP':>6s} {'cavity mL':>10s}"
          f" {'p MPa':>6s}  balloon stop / endplate contact (S, I)")
    rows = []
    for normal, now, bmd in ((25.0, 22.5, 70.0), (25.0, 19.0, 70.0), (22.0, 17.0, 70.0),
                             (22.0, 17.0, 110.0)):
        g = synthetic_body(width_mm=42, depth_mm=32, height_mm=now, normal_height_mm=normal,
                           bmd_mg_cc=bmd)
        m = build_bone_model(g, seed=1)
        tips = default_trocar_tips(m, technique="kyphoplasty", bipedicular=True)
        kp = simulate(m, technique="kyphoplasty", trocar_tips_ras_mm=tips)
        vp = simulate(m, technique="vertebroplasty", volume_ml=4.0)
        b = kp.balloon
        assert b is not None
        rows.append((normal, now, bmd, kp.height_restoration_pct, vp.height_restoration_pct))
        print(f"{normal:5.1f} / {now:5.1f} mm, {bmd:4.0f} mg/cm3      "
              f"{kp.height_restoration_pct:10.0f} % {vp.height_restoration_pct:5.0f} % "
              f"{b.cavity_volume_ml:10.2f} {b.max_pressure_mpa:6.2f}  {b.stop_reason} / "
              f"{b.endplate_contact}")
    report["belkoff"] = rows


def sensitivity(report: dict) -> None:
    """Leak volume of one case against the viscosity curve: cement, start time, curve x0.5/x2."""
    g = synthetic_body(width_mm=36, depth_mm=28, height_mm=20, bmd_mg_cc=70,
                       breaks=[BreakSpec("posterior_wall", 2.5)])
    m = build_bone_model(g, seed=3, venous_exits=False)
    print("\n== Sensitivity to the (model-choice) viscosity curves: VP 4.5 mL 7 mm in front "
          "of a posterior-wall break, no stop at a visible leak ==")
    std = CEMENTS["standard"]
    cements = {
        **CEMENTS,
        "standard x0.5": Cement("standard x0.5", std.times_min,
                                tuple(0.5 * x for x in std.viscosity_pa_s)),
        "standard x2": Cement("standard x2", std.times_min,
                              tuple(2.0 * x for x in std.viscosity_pa_s)),
    }
    out = {}
    print(f"{'cement':18s} " + " ".join(f"{f'start {t:g} min':>14s}" for t in (3.5, 5.0, 6.5)))
    for name, cem in cements.items():
        vals = []
        for start in (3.5, 5.0, 6.5):
            r = simulate(m, technique="vertebroplasty", cement=cem, volume_ml=4.5,
                         trocar_tips_ras_mm=[(0.0, -7.0, 0.0)],
                         start_time_min=start, visible_leak_ml=None)
            vals.append(r.leaked_volume_ml)
        out[name] = vals
        print(f"{name:18s} " + " ".join(f"{v:11.3f} mL" for v in vals))
    print("published direction: high- vs low-viscosity leak RR 0.38 (PMC5895344); early runny "
          "cement leaks more (Habib 2010 cadaver)")
    report["sensitivity"] = out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="speed + 6 vertebrae")
    ap.add_argument("--n", type=int, default=None, help="fractured vertebrae in the cohort")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=str, default=None, help="write the numbers to this file")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--ct-energy-kev", type=float, default=None,
                    help="read the CT's HU at this effective energy (sensitivity of the model "
                    "choice; default kypho's 70 keV)")
    args = ap.parse_args(argv)
    n = args.n if args.n is not None else (6 if args.quick else 100)
    print("kypho.sim benchmark (research and education software, not a medical device)")
    report: dict = {}
    if not args.no_speed:
        speed(report)
        belkoff(report)
        sensitivity(report)
    tally = Tally()
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("cohort", total=n)
        cal = (DensityCalibration.phantomless(effective_energy_kev=args.ct_energy_kev)
               if args.ct_energy_kev else None)
        if cal is not None:
            print(f"CT read at {args.ct_energy_kev:g} keV: {cal.slope_mg_cc_per_hu:.3f} mg/cm3 "
                  "per HU")
        cohort(n, args.seed, tally, progress=lambda d: bar.update(task, completed=d),
               calibration=cal)
    print_cohort(tally, report)
    if args.json:
        from kypho.core.atomic import write_text_atomic

        write_text_atomic(args.json, json.dumps(report, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
