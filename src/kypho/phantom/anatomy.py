"""Anatomy tables of the spine phantom: per-level dimensions, alignment and tissue HU.

Every number here is either read from a published source (cited beside it, and in
``docs/references/phantom.md`` with how much of the source was read) or marked
**model choice** with the reason.  Lengths are millimetres, angles degrees, CT numbers HU.

The phantom covers T10 to L5, the levels for which the tables below hold a row.

Abbreviations of sources (full references in ``docs/references/phantom.md``):

- **Panjabi91** Panjabi MM et al. Thoracic human vertebrae. Spine 1991;16(8):888-901.
- **Panjabi92** Panjabi MM et al. Human lumbar vertebrae. Spine 1992;17(3):299-306.
  (Both papers measured the same 12 cadaveric spines; values are mean +- SEM.  Table values
  were read from a third-party transcription, ``Gregory-Schwing-MD-PhD/CTSpinoPelvic1K:
  morphometrics/panjabi_reference.csv`` and ``level_references.csv``.)
- **SRA11** "Wedging of vertebral bodies at the thoracolumbar junction in asymptomatic healthy
  subjects on magnetic resonance imaging", Surg Radiol Anat 2011;33(3):223-8, PMID 21104252:
  APR (anterior/posterior body height ratio) T10-L2, 115 subjects (abstract; authors not seen).
- **Bonczar24** Bonczar M et al. meta-analysis of lumbar morphometry, Surg Radiol Anat
  2024;47(1):22 (via the same transcription).
- **ESJ10** Eur Spine J 2010;19(5):768-73, Table 1 "Vertebral shape significant differences
  between females and males" (PMC2899959; table page only, authors not seen).
- **Wang12** Wang Y, Battie MC, Videman T. Eur Spine J 2012;21(11):2316-23 (abstract).
- **Bach19** Bach K et al. World Neurosurg 2019;124:e106-e118, CT disc heights (via the
  transcription).
- **Fletcher15** Fletcher JGR et al. Eur Spine J 2015, CT thoracic discs (abstract).
- **Lien07** Lien SB et al. Eur Spine J 2007;16(8):1215-22 (abstract, PMC2200778).
- **Demiroz** Demiroz S, Erdem S. Turk Neurosurg, doi:10.5137/1019-5149.JTN.26848-19.2
  (abstract).
- **Egwu19** Egwu OA et al. J Anat Soc India 2019;68(2):110-8 (abstract).
- **Silva94** Silva MJ et al. 1994, cortical shell 0.09-0.86 mm, as quoted in an IMECE 1999
  abstract (ASME).
- **AO** AO Surgery Reference, "Sagittal spinal alignment" (web page).
- **PMC6680033** Lumbar sagittal alignment in 627 asymptomatic volunteers (abstract).
- **Bernhardt89** Bernhardt M, Bridwell KH. Spine 1989;14(7):717-21 (abstract).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from kypho.core.truth import Tissue
from kypho.errors import InvalidParameterError

__all__ = [
    "BODY_DEPTH_TO_WIDTH",
    "CANCELLOUS_HU_BY_DENSITY",
    "CORTICAL_SHELL_MM",
    "DISC_HEIGHT_MM",
    "ENDPLATE_CONCAVITY_MM",
    "LEVEL_ANATOMY",
    "SEGMENT_ANGLE_DEG",
    "SUPPORTED_LEVELS",
    "TISSUE_HU",
    "LevelAnatomy",
    "level_anatomy",
]


@dataclass(frozen=True)
class LevelAnatomy:
    """Dimensions of one normal vertebra as built by the phantom (mm, degrees)."""

    level: str
    height_posterior_mm: float  # Hp, posterior body height
    height_ratio_ap: float  # Ha / Hp
    endplate_width_mm: float  # EPW, transverse width of the upper endplate
    canal_width_mm: float  # SCW, interpedicular width of the spinal canal
    canal_depth_mm: float  # SCD, antero-posterior depth of the canal
    pedicle_width_mm: float  # PDW, transverse isthmus width
    pedicle_height_mm: float  # PDH, cranio-caudal isthmus height
    pedicle_transverse_deg: float  # convergence of the pedicle axis towards the midline
    pedicle_sagittal_deg: float  # caudal tilt of the pedicle axis, posterior to anterior
    spinous_height_ratio: float  # spinous-process cranio-caudal thickness / body height
    spinous_length_mm: float  # lamina junction to tip
    spinous_tilt_deg: float  # caudal inclination of the spinous process
    transverse_length_mm: float  # one transverse process, from the pedicle-lamina junction
    transverse_back_deg: float  # posterior sweep of the transverse process

    @property
    def height_anterior_mm(self) -> float:
        """Ha = APR x Hp."""
        return self.height_ratio_ap * self.height_posterior_mm

    @property
    def body_depth_mm(self) -> float:
        """Antero-posterior depth of the body (model: EPW x :data:`BODY_DEPTH_TO_WIDTH`)."""
        return BODY_DEPTH_TO_WIDTH * self.endplate_width_mm


#: Body depth / endplate width.  **Model choice**: no per-level table of depth was found in
#: the sources read.  0.78 lies between the lumbar ratio implied by a radiology reference page
#: (AP depth 30-35 mm, width 40-50 mm at L3-L5, spinebase.org, low-weight source) and the
#: ratio of typical thoracic dry bones (AP 20.8 mm / transverse 27.0 mm, Indian series,
#: eternalpublication.com IJAPB vol 1, abstract).
BODY_DEPTH_TO_WIDTH = 0.78

# Columns: Hp, APR, EPW, SCW, SCD, PDW, PDH, PDA-trans, PDA-sag, SP-ratio, SP-len, SP-tilt,
# TP-len, TP-back.  Sources per column:
#   Hp   Panjabi92 Table 2 (L1-L5); Panjabi91 text "14.3 mm at T1 to 22.7 mm at T12, 0.8 mm per
#        level" for T12; T11 and T10 = 22.7 - 0.8 and 22.7 - 1.6 (that average slope).
#   APR  SRA11 (T10-L2); Bonczar24 Ha/Hp for L3-L5 (26.83/26.67, 26.86/25.76,
#        27.44/24.11).
#   EPW  Panjabi92 Table 2 EPWu (L1-L5); T11 35.2 and T12 39.2 digitised from Panjabi91
#        Fig. 4A by the transcription; T10 **model**: T11 minus half the T11->T12 step.
#   SCW, SCD  Panjabi92 Table 3 (L1-L5), Panjabi91 Table 4 (T11, T12); T10 **model**: the T11
#        values (no T10 row read).
#   PDW  Panjabi92 Table 4 and Panjabi91 Table 5 (mean of right and left); T10 **model** 7.0:
#        inside Lien07's T1-T10 range 3.4-7.7 mm, near its top because width rises caudally
#        from T5 (Zindrick 1987 via clinical-anchors).
#   PDH  **model** inside Lien07's ranges (T1-T10 8.6-13.7 mm, T11-L5 13.9-16.7 mm), largest
#        at T11 (Lien07, Zindrick 1987: sagittal width largest at T11).
#   PDA-trans  **model** following Lien07's trend (falls T1->T12, rises L1->L5); T12 = 3 deg
#        (Demiroz: 33 deg at T1 -> 3 deg at T12).
#   PDA-sag  **model** following Lien07 (smallest at L5).
#   SP-ratio  ESJ10 Table 1 (mean of females and males).
#   SP-len, SP-tilt, TP-len, TP-back  **model**: shapes for the picture, following the trends
#        in Masharawi 2011 (Clin Anat 24:858, abstract: SP length rises in the lower thoracic and
#        upper lumbar spine and falls again in the lower lumbar; TP length falls T1-T12 and
#        rises L1-L5).  Not used by any measurement.
_ROWS: dict[str, tuple[float, ...]] = {
    "T10": (21.1, 0.92, 33.2, 19.4, 16.0, 7.0, 13.0, 5.0, 8.0, 0.530, 30.0, 35.0, 20.0, 35.0),
    "T11": (21.9, 0.92, 35.2, 19.4, 16.0, 9.75, 15.0, 3.0, 6.0, 0.545, 29.0, 20.0, 15.0, 30.0),
    "T12": (22.7, 0.90, 39.2, 22.2, 18.1, 8.7, 14.5, 3.0, 4.0, 0.695, 29.0, 10.0, 10.0, 20.0),
    "L1": (23.8, 0.89, 41.2, 23.7, 19.0, 8.6, 14.5, 8.0, 2.0, 0.830, 31.0, 5.0, 16.0, 10.0),
    "L2": (24.3, 0.90, 42.6, 23.8, 18.2, 8.25, 14.5, 10.0, 1.0, 0.870, 32.0, 3.0, 21.0, 10.0),
    "L3": (23.8, 1.006, 44.1, 24.3, 17.5, 10.15, 14.0, 12.0, 0.0, 0.850, 32.0, 0.0, 25.0, 10.0),
    "L4": (24.1, 1.043, 46.6, 25.4, 18.6, 14.05, 14.0, 15.0, 0.0, 0.735, 29.0, 0.0, 22.0, 10.0),
    "L5": (22.9, 1.138, 47.3, 27.1, 19.7, 18.6, 14.0, 25.0, 0.0, 0.620, 23.0, 0.0, 20.0, 10.0),
}

#: Per-level anatomy of the levels the phantom can build, cranial to caudal.
LEVEL_ANATOMY: MappingProxyType[str, LevelAnatomy] = MappingProxyType(
    {name: LevelAnatomy(name, *row) for name, row in _ROWS.items()}  # type: ignore[arg-type]
)

#: Levels with an anatomy row, cranial to caudal.
SUPPORTED_LEVELS: tuple[str, ...] = tuple(LEVEL_ANATOMY)

#: Disc height (mm) below each level: mean of anterior, middle and posterior height.
#: Bach19 CT, mean of the male and female means (T12-L1 5.2, L1-L2 6.35, L2-L3 7.5,
#: L3-L4 8.15, L4-L5 8.85, L5-S1 8.7).  T10-T11: Fletcher15 anterior height 5.25 mm (mean of
#: 5.4 men, 5.1 women); Kunkel 2011 (J Anat 219:375, abstract) gives thoracic discs 4.5-7.2 mm.
#: T11-T12 **model**: between T10-T11 and T12-L1.
DISC_HEIGHT_MM: MappingProxyType[str, float] = MappingProxyType(
    {"T10": 5.25, "T11": 5.2, "T12": 5.2, "L1": 6.35, "L2": 7.5, "L3": 8.15, "L4": 8.85, "L5": 8.7}
)

#: Segmental sagittal angle between the superior endplates of a level and of the level
#: below, degrees, positive = kyphosis.  Anchors: the thoracolumbar junction is straight
#: (Bernhardt89; AO: T11-L1 0 deg); lumbar lordosis starts at L1-L2 and grows caudally
#: (Bernhardt89); T12-L4 lordosis 15.6 deg (PMC6680033: LL 49.8 deg standing, of which L4-S1
#: 34.2 deg); L4-L5 20 deg (AO); thoracic kyphosis about 40 deg over T1-T12 with its apex at
#: T6-T7 and decreasing segmental kyphosis below (AO; Spine Secrets).  The split between the
#: segments T10-T11, T11-T12 and L1-L2 ... L3-L4 is a **model choice** within those anchors.
SEGMENT_ANGLE_DEG: MappingProxyType[str, float] = MappingProxyType(
    {"T10": 3.0, "T11": 2.0, "T12": 0.0, "L1": -3.0, "L2": -5.0, "L3": -7.5, "L4": -20.0}
)

#: Peak concavity depth of the superior and inferior endplates of a vertebra (mm).  Wang12:
#: mean concavity depth 1.5 mm for the cranial endplate of a disc (= the inferior endplate of
#: the vertebra above) and 0.7 mm for the caudal one (= superior endplate of the vertebra below).
ENDPLATE_CONCAVITY_MM = {"superior": 0.7, "inferior": 1.5}
#: Radius of the concave central endplate as a fraction of the endplate radius (Wang12: the
#: central endplate is about 70 % of the diameter of the whole endplate).
ENDPLATE_CENTRAL_FRACTION = 0.70

#: Thickness of the cortical shell (mm).  Silva94: 0.09-0.86 mm; 0.5 mm is a **model choice**
#: inside that range.
CORTICAL_SHELL_MM = 0.5
#: Lamina thickness (mm), Egwu19: 6.6-7.3 mm from T2 to T9; 7.0 used at every level.
LAMINA_THICKNESS_MM = 7.0

#: Trabecular HU of the vertebral body at each bone-density class: mean L1 HU of patients
#: with osteoporosis (118), osteopenia (143) and normal DXA (178), British cohort of 536
#: patients, Insights Imaging 2023, doi:10.1186/s13244-023-01400-1 (abstract).  The same value
#: is used at every level (**model choice**).  Pickhardt 2013: L1 <= 110 HU is > 90 % specific
#: and 160 HU is 90 % sensitive for osteoporosis.
CANCELLOUS_HU_BY_DENSITY: MappingProxyType[str, float] = MappingProxyType(
    {"normal": 178.0, "osteopenic": 143.0, "osteoporotic": 118.0}
)
#: Cancellous bone of the posterior elements relative to the body (**model choice**: the
#: pedicles and laminae are denser than the centrum; no HU table read).
POSTERIOR_TRABECULAR_FACTOR = 1.3

#: Nominal HU of each tissue class (before partial volume, texture and noise).
#: AIR -1000 (HU definition).  FAT -100: -50 to -100 (Prokop 2003 via radclass.mudr.org),
#: -120 to -90 (Wikipedia "Hounsfield scale").  MUSCLE 35: paraspinal 34.5 +- 10.8 HU at L3
#: (Rollins KE et al., Nottingham, abstract); the psoas is drawn at 42 (42 +- 8.4 HU, same
#: study).  SKIN 30 and SOFT_TISSUE 40 (viscera): **model**, inside soft tissue +25 to +60
#: (uvm.edu CT teaching page) and liver 45-65, kidney 20-40, spleen 35-55 (Prokop via
#: radclass).  DISC 70: 60-80 HU (ctlearn.com, low-weight source).  CANAL 15: CSF 15 HU
#: (jacknaimsnotes, low-weight source).  CORTICAL 1800: compact bone +1800 to +1900
#: (Wikipedia "Hounsfield scale"); it is blurred into the 0.5 mm shell, so the shell shows a few
#: hundred HU on the image, as on clinical CT.  CLEFT -600 (**model**: a gas-containing
#: intravertebral cleft, between gas -1000 and fat).  RETROPULSED: bone fragment, mean of
#: cortical and cancellous (**model**).  TRABECULAR / POSTERIOR_TRABECULAR follow the density
#: class.
TISSUE_HU: MappingProxyType[Tissue, float] = MappingProxyType(
    {
        Tissue.AIR: -1000.0,
        Tissue.SKIN: 30.0,
        Tissue.FAT: -100.0,
        Tissue.MUSCLE: 35.0,
        Tissue.CORTICAL: 1800.0,
        Tissue.DISC: 70.0,
        Tissue.CANAL: 15.0,
        Tissue.CLEFT: -600.0,
        Tissue.SOFT_TISSUE: 40.0,
    }
)
#: Psoas HU (Rollins, above) and blood in the aorta (45-65 HU, Prokop via radclass).
PSOAS_HU = 42.0
BLOOD_HU = 45.0

#: Trabecular texture: standard deviation as a fraction of the trabecular HU, and its
#: correlation length (mm).  **Model choice** for the look of cancellous bone at CT resolution.
TRABECULAR_TEXTURE_FRACTION = 0.15
TRABECULAR_TEXTURE_MM = 0.7

#: Resolution of the simulated scanner (mm, full width of a box blur): **model choice** for a
#: clinical CT reconstruction kernel (0.6-1 mm in plane); combined with the voxel size.
SCANNER_BLUR_MM = 0.8

#: Torso outline: half-width, half-depth (mm), superellipse exponent, and how far its centre
#: lies anterior to the vertebral bodies (mm).  **Model choice** for an adult trunk about 300 mm
#: wide and 220 mm deep at the thoracolumbar junction, the back's skin about 95 mm behind the
#: centre of the vertebral bodies.
TORSO_HALF_WIDTH_MM = 150.0
TORSO_HALF_DEPTH_MM = 110.0
TORSO_EXPONENT = 2.6
TORSO_CENTRE_ANTERIOR_MM = 15.0
#: Layer thicknesses (mm) under the skin: **model choice**.
SKIN_MM = 2.0
SUBCUTANEOUS_FAT_MM = 18.0
BODY_WALL_MUSCLE_MM = 10.0


def level_anatomy(level: str) -> LevelAnatomy:
    """The anatomy row of ``level`` (canonical name, e.g. ``"L1"``).

    Raises
    ------
    InvalidParameterError
        If the phantom has no table row for the level.
    """
    try:
        return LEVEL_ANATOMY[level]
    except KeyError:
        raise InvalidParameterError(
            f"the phantom has no anatomy table for level {level!r}; it builds "
            f"{SUPPORTED_LEVELS[0]}-{SUPPORTED_LEVELS[-1]}"
        ) from None
