"""Published per-level vertebral body heights, used to scale a neighbour's heights to a level.

The expected heights of a vertebra come first from its adjacent normal vertebrae in the same
patient (see :mod:`kypho.assess.grading`); these norms only say how heights change from one
level to the next (and stand in, flagged, when no normal neighbour was measured).  Sources are
listed in ``docs/references/assess.md``:

- **Hp, L1-L5**: Panjabi MM et al. Human lumbar vertebrae: quantitative three-dimensional
  anatomy. Spine 1992;17(3):299-306, Table 2 (VBHp, mean of 12 cadaveric spines), read from the
  transcription in ``Gregory-Schwing-MD-PhD/CTSpinoPelvic1K: morphometrics/panjabi_reference.csv``.
- **Hp, T1-T12**: Panjabi MM et al. Thoracic human vertebrae. Spine 1991;16(8):888-901, running
  text "from 14.3 mm at T1 to 22.7 mm at T12" (same transcription); intermediate levels are a
  linear interpolation (**model choice**; the paper gives the rest only as a curve).
- **Ha/Hp, T10-L2**: Surg Radiol Anat 2011;33(3):223-8 (PMID 21104252, abstract; authors not
  shown on the page read) as tabulated in ``kypho.phantom.anatomy`` (not re-read here).
- **Ha/Hp, L3-L5**: Bonczar M et al. Surg Radiol Anat 2024;47(1):22, anterior / posterior body
  height (26.83/26.67, 26.86/25.76, 27.44/24.11 mm), via the same transcription.
- **Ha/Hp, T1-T9**: Egwu OA et al. J Anat Soc India 2019;68(2):110-8 (abstract): anterior and
  posterior heights at T2 (16.93, 17.59 mm) and T9 (18.83, 20.46 mm); linear in between and T1 =
  T2 (**model choice**).
- **Hm**: no per-level table of middle heights was found.  **Model**: the mean of Ha and Hp less
  the central concavity of the two endplates, 0.7 mm (superior) + 1.5 mm (inferior), from
  Wang Y, Battie MC, Videman T. Eur Spine J 2012;21(11):2316-23 (abstract; lumbar endplates,
  used at every level).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["ENDPLATE_CONCAVITY_SUM_MM", "LEVEL_NORMS", "LevelNorm", "level_norm"]

#: Central concavity of a vertebra's superior (0.7 mm) plus inferior (1.5 mm) endplate, Wang 2012.
ENDPLATE_CONCAVITY_SUM_MM = 0.7 + 1.5


@dataclass(frozen=True)
class LevelNorm:
    """Normal body heights of one level (mm)."""

    level: str
    height_posterior_mm: float
    ha_hp: float

    @property
    def height_anterior_mm(self) -> float:
        """Ha = (Ha/Hp) x Hp."""
        return self.ha_hp * self.height_posterior_mm

    @property
    def height_middle_mm(self) -> float:
        """Hm = (Ha + Hp) / 2 - endplate concavity (model, see module docstring)."""
        return (
            0.5 * (self.height_anterior_mm + self.height_posterior_mm) - ENDPLATE_CONCAVITY_SUM_MM
        )

    @property
    def heights_mm(self) -> tuple[float, float, float]:
        """(Ha, Hm, Hp)."""
        return (self.height_anterior_mm, self.height_middle_mm, self.height_posterior_mm)


def _thoracic_hp(n: int) -> float:
    # Panjabi 1991: 14.3 mm at T1 to 22.7 mm at T12, linear in between (model choice).
    return 14.3 + (22.7 - 14.3) * (n - 1) / 11.0


def _thoracic_apr(n: int) -> float:
    # Egwu 2019: T2 16.93/17.59, T9 18.83/20.46; linear T2..T9, T1 = T2 (model choice).
    apr2, apr9 = 16.93 / 17.59, 18.83 / 20.46
    n = max(n, 2)
    return apr2 + (apr9 - apr2) * (n - 2) / 7.0


_HP = {f"T{n}": _thoracic_hp(n) for n in range(1, 13)}
_HP.update({"L1": 23.8, "L2": 24.3, "L3": 23.8, "L4": 24.1, "L5": 22.9})  # Panjabi 1992
_APR = {f"T{n}": _thoracic_apr(n) for n in range(1, 10)}
_APR.update({"T10": 0.92, "T11": 0.92, "T12": 0.90, "L1": 0.89, "L2": 0.90})  # SRA 2011
_APR.update({"L3": 26.83 / 26.67, "L4": 26.86 / 25.76, "L5": 27.44 / 24.11})  # Bonczar 2024

#: Norms of the levels with published heights (T1-L5), cranial to caudal.
LEVEL_NORMS: MappingProxyType[str, LevelNorm] = MappingProxyType(
    {lv: LevelNorm(lv, round(_HP[lv], 3), round(_APR[lv], 4)) for lv in _HP}
)


def level_norm(level: str) -> LevelNorm | None:
    """The norm of ``level``, or ``None`` where none is tabulated (cervical spine, S1)."""
    return LEVEL_NORMS.get(level)
