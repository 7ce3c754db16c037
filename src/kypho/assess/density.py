"""The opportunistic osteoporosis screen at L1 from its trabecular density.

Each body's trabecular HU is measured once by the anatomy layer
(:func:`kypho.anatomy.tissue.trabecular_hu`: the body eroded 3 mm from its surface).

The screen uses the L1 thresholds of Pickhardt PJ et al., Ann Intern Med 2013
(PubMed 23588747; abstract, 1867 adults, 2067 CT-DXA pairs): **160 HU or less** was 90 %
sensitive for osteoporosis, **110 HU** was more than 90 % specific for osteoporosis versus
osteopenia or normal density; intravenous contrast did not change performance.
"""

from __future__ import annotations

from kypho.assess.model import DensityScreen, VertebraAssessment

__all__ = [
    "PICKHARDT_SENSITIVE_HU",
    "PICKHARDT_SPECIFIC_HU",
    "SCREEN_LEVEL",
    "density_screen",
]

#: Pickhardt 2013: L1 attenuation at or below 110 HU, > 90 % specific for osteoporosis.
PICKHARDT_SPECIFIC_HU = 110.0
#: Pickhardt 2013: L1 attenuation at or below 160 HU, 90 % sensitive for osteoporosis.
PICKHARDT_SENSITIVE_HU = 160.0
#: The level Pickhardt's thresholds were derived at.
SCREEN_LEVEL = "L1"


def density_screen(vertebrae: dict[str, VertebraAssessment]) -> DensityScreen:
    """Opportunistic osteoporosis screen from L1's trabecular HU (Pickhardt 2013 thresholds)."""
    lv = SCREEN_LEVEL
    src = (
        f"Pickhardt 2013: L1 <= {PICKHARDT_SENSITIVE_HU:g} HU is 90 % sensitive, "
        f"<= {PICKHARDT_SPECIFIC_HU:g} HU > 90 % specific for osteoporosis"
    )
    v = vertebrae.get(lv)
    if v is None or not v.measured or v.trabecular_hu is None:
        why = "L1 is not in the label map" if v is None else f"L1 {v.status}"
        if v is not None and v.measured:
            why = "L1 has no trabecular region left to measure"
        return DensityScreen(
            lv, None, "not available", f"no screen: {why} (the thresholds were derived at L1)"
        )
    hu = float(v.trabecular_hu)
    if hu <= PICKHARDT_SPECIFIC_HU:
        cat = "osteoporosis likely"
    elif hu <= PICKHARDT_SENSITIVE_HU:
        cat = "indeterminate"
    else:
        cat = "osteoporosis unlikely"
    text = f"L1 trabecular {hu:.0f} HU: {cat} ({src})"
    if v.fractured:
        text += "; L1 is fractured, and impacted bone can read denser than it is"
    return DensityScreen(lv, hu, cat, text)
