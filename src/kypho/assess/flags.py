"""Safety flags (posterior wall, retropulsion) and the candidate levels for augmentation.

**Posterior wall.**  In the mid-sagittal plane the posterior wall of a body is nearly straight or
slightly concave.  The protrusion is how far the wall bulges posteriorly (into the canal) beyond
the robust fit of the wall (see :mod:`kypho.assess.morphometry`).  The canal's antero-posterior depth at the level (axial projection, midline) is
compared with its neighbours'.  A protrusion of :data:`RETROPULSION_FLAG_MM` or more is flagged:
a retropulsed fragment is a warning sign for cement injection (cement can leak through the
broken wall into the canal; Perez et al., Int J Spine Surg 2021, 157 kyphoplasty levels with
posterior-wall disruption: 9 % asymptomatic leakage).

**Candidates.**  Levels with a height loss of at least :data:`CANDIDATE_LOSS_PCT` (the entry
threshold of the VERTOS II trial, which also required level T5 or lower and bone oedema on MRI;
Cochrane review CD006349, Klazen 2010) are listed with the reasons and cautions.  CT cannot show
oedema or the patient's pain, so every candidate carries that caution: this is research
software, not a treatment decision.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from kypho.assess.model import Candidate, DensityScreen, LocalKyphosis, VertebraAssessment
from kypho.core.levels import LEVELS

__all__ = [
    "CANDIDATE_LOSS_PCT",
    "RETROPULSION_FLAG_MM",
    "candidates",
]

#: Smallest protrusion of the posterior wall flagged, mm.  **Model choice**: above the
#: sub-voxel noise of the wall profile at clinical voxel sizes (<= 1 mm) and well below a
#: fragment that narrows the canal (lumbar canal depth 17-19 mm, Panjabi 1992).
RETROPULSION_FLAG_MM = 2.0
#: Height loss from which a level is listed as a candidate (VERTOS II entry criterion, >= 15 %).
CANDIDATE_LOSS_PCT = 15.0
#: VERTOS II included levels T5 and lower.
CANDIDATE_HIGHEST_LEVEL = "T5"


def candidates(
    vertebrae: Mapping[str, VertebraAssessment],
    local_kyphosis: tuple[LocalKyphosis, ...],
    screen: DensityScreen,
) -> tuple[Candidate, ...]:
    """Levels to consider for kyphoplasty or vertebroplasty, with reasons and cautions."""
    kyph = {k.level: k for k in local_kyphosis}
    out = []
    for lv in LEVELS:
        v = vertebrae.get(lv)
        if v is None or not v.measured or v.max_height_loss_pct is None:
            continue
        loss = float(v.max_height_loss_pct)
        if not np.isfinite(loss) or loss < CANDIDATE_LOSS_PCT:
            continue
        reasons = []
        if v.genant_grade:
            reasons.append(
                f"Genant grade {v.genant_grade} {v.fracture_type} deformity "
                f"({loss:.0f} % height loss{', borderline' if v.borderline else ''})"
            )
        else:
            reasons.append(
                f"{loss:.0f} % height loss: below Genant grade 1 (20 %) but at or above the "
                f"{CANDIDATE_LOSS_PCT:g} % VERTOS II entry threshold"
            )
        if lv in kyph:
            reasons.append(
                f"local kyphosis {kyph[lv].angle_deg:.0f} deg ({kyph[lv].upper}-{kyph[lv].lower})"
            )
        if screen.hu is not None and screen.category == "osteoporosis likely":
            reasons.append(f"osteoporotic bone likely (L1 {screen.hu:.0f} HU)")
        cautions = [
            "confirm an acute fracture (bone oedema on MRI) and matching pain: CT shows neither"
        ]
        if LEVELS.index(lv) < LEVELS.index(CANDIDATE_HIGHEST_LEVEL):
            cautions.append("above T5: outside the VERTOS II population")
        if v.posterior_wall_protrusion_mm is not None and (
            v.posterior_wall_protrusion_mm >= RETROPULSION_FLAG_MM
        ):
            cautions.append(
                f"posterior wall bulges {v.posterior_wall_protrusion_mm:.1f} mm into the canal: "
                "retropulsed fragment, risk of cement leaking into the canal"
            )
        if v.genant_grade == 3:
            cautions.append("severe collapse (over 40 %): little height left for the instruments")
        out.append(Candidate(lv, tuple(reasons), tuple(cautions)))
    return tuple(out)
