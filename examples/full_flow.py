"""One case through every stage with the public API, as in the README.

The anatomy is measured once (``kypho.SpineAnatomy``) and every stage hands its result to the
next: the assessment and the plan go into the simulation, which measures nothing again.

Run: ``python examples/full_flow.py [OUT_DIR]``.  Research and education software, not a
medical device.
"""

from __future__ import annotations

import sys
from pathlib import Path

import kypho


def main(out_dir: Path) -> None:
    case = kypho.make_phantom(
        kypho.PhantomSpec(
            voxel_mm=1.0,
            bone_density="osteoporotic",
            fractures=(kypho.FractureSpec("L1", "wedge", grade=2),),
        )
    )
    spine = kypho.SpineAnatomy.of(case)  # measured once, shared by every stage below
    assessment = kypho.assess_case(case, anatomy=spine)
    level = assessment.candidates[0].level
    print(f"candidate: {level}: {'; '.join(assessment.candidates[0].reasons)}")
    print(f"{level} heights (Ha, Hm, Hp): "
          + ", ".join(f"{h:.1f}" for h in spine.vertebra(level).heights_mm) + " mm")

    frame = kypho.render_drr(case.volume, kypho.view_for_level(case, level, "lateral"))
    print(f"lateral frame {frame.line_integral.shape[0]} px square")

    plan = kypho.plan_level(case, level, kypho.PlanSpec(gauge=11))
    for path in plan.paths:
        print(f"{path.side} path: {path.verdict}, transverse {path.transverse_angle_deg:.1f} deg")

    spec = kypho.SimulationSpec(technique="kyphoplasty", frames=False)
    sim = kypho.simulate_case(case, level, spec, assessment=assessment, plan=plan)
    result = sim.result
    print(f"cement {result.injected_volume_ml:.1f} mL, leaked {result.leaked_volume_ml:.2f} mL")

    from kypho.sim.outputs import write_outputs

    for name in write_outputs(case, {"kyphoplasty": sim}, out_dir):
        print("wrote", out_dir / name)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("kypho-flow-out"))
