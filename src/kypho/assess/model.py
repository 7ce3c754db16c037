"""Results of the fracture assessment: small frozen dataclasses, JSON-able with :meth:`to_dict`.

Every length is in mm, every angle in degrees, densities in HU, coordinates RAS+ mm.  A value
that could not be measured is ``None``; the reason is in the vertebra's ``status``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from kypho.anatomy.spine import MEASURED

__all__ = [
    "MEASURED",
    "Assessment",
    "Candidate",
    "DensityScreen",
    "FractureType",
    "LocalKyphosis",
    "SegmentAlignment",
    "VertebraAssessment",
]

Vec3 = tuple[float, float, float]
FractureType = Literal["none", "wedge", "biconcave", "crush"]

#: Status of a vertebra whose body was measured.


@dataclass(frozen=True)
class VertebraAssessment:
    """Everything measured on one vertebra.

    Parameters
    ----------
    level : str
        Level name (``"L1"``).
    status : str
        ``"measured"`` or ``"not measurable: <reason>"``.
    label_id : int or None
        kypho label id, ``None`` for a level missing from the label map.
    centroid_ras_mm : (3,) tuple or None
        Centroid of the vertebral body (posterior elements excluded).
    superior_axis_ras, anterior_axis_ras : (3,) tuple or None
        The body's own axes (unit vectors); the mid-sagittal plane contains both.
    body_separation : str or None
        How the body was told from the posterior elements: ``"canal"`` (the spinal canal seen as
        a hole in the axial projection), ``"midline gap"`` (the canal seen as a gap along the
        midline only) or ``"whole label"`` (no posterior elements found).
    landmarks_ras_mm : dict
        Six-point morphometry landmarks ``sa sm sp ia im ip`` (superior/inferior endplate x
        anterior/middle/posterior) on the endplate surfaces, in the mid-sagittal plane.
    height_anterior_mm, height_middle_mm, height_posterior_mm : float or None
        Ha, Hm, Hp: distances between the paired landmarks.
    depth_mm, width_mm : float or None
        Antero-posterior depth at mid-height in the mid-sagittal plane; transverse width.
    ha_hp, hm_hp : float or None
        Anterior and middle height over posterior height.
    hp_hp_adjacent : float or None
        Posterior height over the mean posterior height of the adjacent measured vertebrae.
    expected_heights_mm : (3,) tuple or None
        Expected (Ha, Hm, Hp) without fracture.
    expected_from : str
        Where the expected heights came from (adjacent levels or published norms).
    height_loss_pct : (3,) tuple or None
        Loss of Ha, Hm, Hp against the expected heights, percent (negative = taller).
    max_height_loss_pct : float or None
        Largest of the three losses: the figure graded.
    genant_grade : int or None
        Genant semi-quantitative grade 0..3 from ``max_height_loss_pct``.
    borderline : bool
        True when the loss is within measurement uncertainty of a grade threshold.
    borderline_note : str
        Why it is borderline ("" when it is not).
    fracture_type : {"none", "wedge", "biconcave", "crush"} or None
    wedge_angle_deg : float or None
        Angle between the superior and inferior endplates in the mid-sagittal plane, positive
        when the anterior height is the shorter (kyphotic).
    trabecular_hu : float or None
        Mean HU of the eroded trabecular region (cortex and endplates excluded).
    trabecular_hu_sd : float or None
    trabecular_voxels : int
    posterior_wall_protrusion_mm : float or None
        How far the posterior wall bulges into the canal beyond the line joining the
        posterior corners (retropulsion).
    canal_ap_mm : float or None
        Antero-posterior depth of the spinal canal at this level (axial projection, midline).
    canal_narrowing_pct : float or None
        Canal depth lost against the adjacent levels, percent.
    flags : tuple of str
        Warnings about this vertebra (posterior wall, cut posterior elements...).
    notes : tuple of str
        Neutral remarks about how it was measured.
    """

    level: str
    status: str
    label_id: int | None = None
    centroid_ras_mm: Vec3 | None = None
    superior_axis_ras: Vec3 | None = None
    anterior_axis_ras: Vec3 | None = None
    body_separation: str | None = None
    landmarks_ras_mm: dict[str, Vec3] = field(default_factory=dict)
    height_anterior_mm: float | None = None
    height_middle_mm: float | None = None
    height_posterior_mm: float | None = None
    depth_mm: float | None = None
    width_mm: float | None = None
    ha_hp: float | None = None
    hm_hp: float | None = None
    hp_hp_adjacent: float | None = None
    expected_heights_mm: tuple[float, float, float] | None = None
    expected_from: str = ""
    height_loss_pct: tuple[float, float, float] | None = None
    max_height_loss_pct: float | None = None
    genant_grade: int | None = None
    borderline: bool = False
    borderline_note: str = ""
    fracture_type: FractureType | None = None
    wedge_angle_deg: float | None = None
    trabecular_hu: float | None = None
    trabecular_hu_sd: float | None = None
    trabecular_voxels: int = 0
    posterior_wall_protrusion_mm: float | None = None
    canal_ap_mm: float | None = None
    canal_narrowing_pct: float | None = None
    flags: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def measured(self) -> bool:
        """True when the body was measured."""
        return self.status == MEASURED

    @property
    def fractured(self) -> bool:
        """True when graded Genant 1 or worse."""
        return bool(self.genant_grade)

    @property
    def heights_mm(self) -> tuple[float, float, float] | None:
        """(Ha, Hm, Hp) or ``None``."""
        if self.height_anterior_mm is None:
            return None
        return (
            float(self.height_anterior_mm),
            float(self.height_middle_mm),  # type: ignore[arg-type]
            float(self.height_posterior_mm),  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class LocalKyphosis:
    """Kyphotic angle over one fractured level.

    From the superior endplate of the vertebra above to the inferior endplate of the one below
    (positive = kyphosis); ``upper``/``lower`` name the levels used (the fractured level itself
    when a neighbour is missing).
    """

    level: str
    upper: str
    lower: str
    angle_deg: float


@dataclass(frozen=True)
class SegmentAlignment:
    """Sagittal alignment of the assessed segment.

    Parameters
    ----------
    cobb_angle_deg : float or None
        Sagittal Cobb angle of the thoracolumbar segment (kyphosis positive), from the superior
        endplate of ``cobb_upper`` to the inferior endplate of ``cobb_lower``.
    cobb_upper, cobb_lower : str or None
    segment_cobb_angle_deg : float or None
        The same angle over every measured vertebra (``segment_upper`` .. ``segment_lower``).
    local_kyphosis : tuple of LocalKyphosis
        One per fractured level.
    column_height_loss_mm : float
        Sum over fractured vertebrae of the mean loss of Ha and Hp (the rims) against the
        expected heights: how much the column has shortened.
    anterior_column_loss_mm : float
        Sum over fractured vertebrae of the anterior height lost.
    """

    cobb_angle_deg: float | None = None
    cobb_upper: str | None = None
    cobb_lower: str | None = None
    segment_cobb_angle_deg: float | None = None
    segment_upper: str | None = None
    segment_lower: str | None = None
    local_kyphosis: tuple[LocalKyphosis, ...] = ()
    column_height_loss_mm: float = 0.0
    anterior_column_loss_mm: float = 0.0


@dataclass(frozen=True)
class DensityScreen:
    """Opportunistic osteoporosis screen from the trabecular HU of one level (L1).

    ``category`` is ``"osteoporosis likely"``, ``"indeterminate"``, ``"osteoporosis unlikely"``
    or ``"not available"``; ``text`` says why with the thresholds and their source.
    """

    level: str
    hu: float | None
    category: str
    text: str


@dataclass(frozen=True)
class Candidate:
    """A level that could be considered for vertebral augmentation, with the reasons and cautions."""

    level: str
    reasons: tuple[str, ...]
    cautions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Assessment:
    """The fracture assessment of one case."""

    case_name: str
    vertebrae: tuple[VertebraAssessment, ...]
    alignment: SegmentAlignment
    density_screen: DensityScreen
    candidates: tuple[Candidate, ...]
    voxel_size_mm: tuple[float, float, float]
    notes: tuple[str, ...] = ()
    disclaimer: str = ""

    def vertebra(self, level: str) -> VertebraAssessment:
        """The assessment of one level (``KeyError`` if it is not in the case)."""
        for v in self.vertebrae:
            if v.level == level:
                return v
        raise KeyError(level)

    @property
    def measured(self) -> tuple[VertebraAssessment, ...]:
        """The vertebrae whose body was measured."""
        return tuple(v for v in self.vertebrae if v.measured)

    @property
    def fractured_levels(self) -> tuple[str, ...]:
        """Levels graded Genant 1 or worse, cranial to caudal."""
        return tuple(v.level for v in self.vertebrae if v.fractured)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (tuples become lists)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Assessment:
        """Inverse of :meth:`to_dict` (also accepts the parsed output of ``to_json``)."""

        def vec(x: Any) -> Any:
            return None if x is None else tuple(float(c) for c in x)

        verts = []
        for v in d["vertebrae"]:
            v = {k: x for k, x in v.items() if k in _VERTEBRA_FIELDS}
            for key in _VECTOR_FIELDS:
                v[key] = vec(v.get(key))
            v["landmarks_ras_mm"] = {
                k: vec(p) for k, p in (v.get("landmarks_ras_mm") or {}).items()
            }
            v["flags"] = tuple(v.get("flags", ()))
            v["notes"] = tuple(v.get("notes", ()))
            verts.append(VertebraAssessment(**v))
        al = dict(d["alignment"])
        al["local_kyphosis"] = tuple(LocalKyphosis(**k) for k in al.get("local_kyphosis", ()))
        return cls(
            case_name=str(d["case_name"]),
            vertebrae=tuple(verts),
            alignment=SegmentAlignment(**al),
            density_screen=DensityScreen(**d["density_screen"]),
            candidates=tuple(
                Candidate(c["level"], tuple(c["reasons"]), tuple(c.get("cautions", ())))
                for c in d.get("candidates", ())
            ),
            voxel_size_mm=vec(d["voxel_size_mm"]),
            notes=tuple(d.get("notes", ())),
            disclaimer=str(d.get("disclaimer", "")),
        )


_VERTEBRA_FIELDS = frozenset(f.name for f in fields(VertebraAssessment))
_VECTOR_FIELDS = (
    "centroid_ras_mm",
    "superior_axis_ras",
    "anterior_axis_ras",
    "expected_heights_mm",
    "height_loss_pct",
)
