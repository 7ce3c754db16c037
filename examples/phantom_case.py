"""A synthetic spine with an L1 fracture: build it, save it, read it back, draw it.

Run: ``python examples/phantom_case.py [OUT_DIR]`` (writes ``OUT_DIR/case`` and
``OUT_DIR/case-report.html``).  Research and education software, not a medical device.
"""

from __future__ import annotations

import sys
from pathlib import Path

import kypho
from kypho.report import write_report
from kypho.report.case_section import case_section


def main(out_dir: Path) -> None:
    spec = kypho.PhantomSpec(
        voxel_mm=1.0,  # coarse and quick; the default is 0.5 mm
        bone_density="osteoporotic",
        fractures=(kypho.FractureSpec("L1", "wedge", grade=2),),
    )
    case = kypho.make_phantom(spec)
    kypho.save_case(case, out_dir / "case", overwrite=True)
    same = kypho.load_case(out_dir / "case")
    assert same.levels == case.levels

    l1 = same.truth.vertebra("L1")
    print(
        f"L1 true heights: anterior {l1.height_anterior_mm:.1f} mm, "
        f"posterior {l1.height_posterior_mm:.1f} mm, Genant grade {l1.genant_grade}"
    )
    path = write_report(out_dir / "case-report.html", "Phantom case", [case_section(same)])
    print(f"report: {path}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("kypho-example-out"))
