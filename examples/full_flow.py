"""One case through every stage with the public API, as in the README.

Run: ``python examples/full_flow.py [OUT_DIR]``.  Research and education software, not a
medical device.
"""

from __future__ import annotations

import sys
from pathlib import Path

import kypho
from kypho.report import write_report
from kypho.sim.report import sim_section


def main(out_dir: Path) -> None:
    case = kypho.make_phantom(
        kypho.PhantomSpec(
            voxel_mm=1.0,
            bone_density="osteoporotic",
            fractures=(kypho.FractureSpec("L1", "wedge", grade=2),),
        )
    )
    assessment = kypho.assess(case)
    level = assessment.candidates[0].level
    print(f"candidate: {level}: {'; '.join(assessment.candidates[0].reasons)}")

    frame = kypho.render_drr(case.volume, kypho.view_for_level(case, level, "lateral"))
    print(f"lateral frame {frame.line_integral.shape[0]} px square")

    plan = kypho.plan_level(case, level, gauge=11)
    for path in plan.paths:
        print(f"{path.side} path: {path.verdict}, transverse {path.transverse_angle_deg:.1f} deg")

    sim = kypho.simulate_case(case, level, technique="kyphoplasty", frames=False)
    result = sim.result
    print(f"cement {result.injected_volume_ml:.1f} mL, leaked {result.leaked_volume_ml:.2f} mL")
    write_report(out_dir / "flow.html", f"kypho flow: {level}", [sim_section([result])])


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("kypho-flow-out"))
