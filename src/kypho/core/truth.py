"""Ground truth written by the phantom generator, read by tests and benchmarks only.

It lives in :mod:`kypho.core` so that case folders (:mod:`kypho.io`) can carry it without
importing the generator; no stage reads it (``tests/test_project.py`` walks the source tree).

Every coordinate is RAS+ mm (see ``docs/coordinate-systems.md``).  Angles are degrees.
The JSON form (``truth.json`` in a case folder) is :meth:`PhantomTruth.to_dict`.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from enum import IntEnum
from pathlib import Path
from typing import Any, Literal

from kypho.core.breaks import BREAK_LOCATIONS, CorticalBreak

__all__ = [
    "MORPHOMETRY_POINTS",
    "TRUTH_FORMAT_VERSION",
    "TRUTH_JSON_SCHEMA",
    "CorticalBreak",
    "FractureType",
    "PedicleTruth",
    "PhantomTruth",
    "Tissue",
    "VertebraTruth",
]

FractureType = Literal["none", "wedge", "biconcave", "crush"]

#: Six-point morphometry landmarks: superior/inferior endplate x anterior/middle/posterior.
MORPHOMETRY_POINTS: tuple[str, ...] = ("sa", "sm", "sp", "ia", "im", "ip")

Vec3 = tuple[float, float, float]


class Tissue(IntEnum):
    """Tissue classes of the phantom's tissue map (``tissue.nii.gz``)."""

    AIR = 0
    SKIN = 1
    FAT = 2
    MUSCLE = 3
    CORTICAL = 4  # cortical shell of every vertebra, endplates included
    TRABECULAR = 5  # cancellous bone of the vertebral body
    POSTERIOR_TRABECULAR = 6  # cancellous bone of pedicles, laminae and processes
    DISC = 7
    CANAL = 8  # spinal canal contents (dura, CSF, cord)
    CLEFT = 9  # fracture cleft inside a fractured body
    RETROPULSED = 10  # posterior-wall fragment pushed into the canal
    SOFT_TISSUE = 11  # viscera and other soft tissue inside the trunk (not muscle or fat)


@dataclass(frozen=True)
class PedicleTruth:
    """One pedicle as built: isthmus centre, axis and cross-section."""

    side: Literal["left", "right"]
    isthmus_ras_mm: Vec3
    axis_ras: Vec3  # unit vector pointing from the posterior elements into the body
    width_mm: float  # transverse (medial-lateral) isthmus width
    height_mm: float  # cranio-caudal isthmus height
    transverse_angle_deg: float  # convergence towards the midline in the axial plane
    sagittal_angle_deg: float  # tilt in the sagittal plane relative to the superior endplate


@dataclass(frozen=True)
class VertebraTruth:
    """What the generator built for one vertebra."""

    level: str
    label_id: int
    centroid_ras_mm: Vec3  # centroid of the vertebral body (not the whole vertebra)
    superior_axis_ras: Vec3  # unit vector along the body's cranio-caudal axis
    anterior_axis_ras: Vec3  # unit vector from posterior to anterior wall, mid-sagittal
    landmarks_ras_mm: dict[str, Vec3]  # MORPHOMETRY_POINTS -> point on the endplate surface
    height_anterior_mm: float  # Ha, |sa - ia|
    height_middle_mm: float  # Hm
    height_posterior_mm: float  # Hp
    normal_height_anterior_mm: float  # heights before the fracture (from the anatomy table)
    normal_height_middle_mm: float
    normal_height_posterior_mm: float
    body_width_mm: float
    body_depth_mm: float
    wedge_angle_deg: float  # angle between the endplates, positive when anterior is shorter
    fracture_type: FractureType
    genant_grade: int  # 0..3
    height_loss_pct: float  # largest loss of Ha, Hm or Hp against the normal heights, percent
    trabecular_hu: float  # mean HU of the trabecular region as generated (before noise)
    retropulsion_mm: float  # how far a posterior-wall fragment protrudes into the canal
    pedicles: tuple[PedicleTruth, ...]
    cortical_breaks: tuple[CorticalBreak, ...] = ()


@dataclass(frozen=True)
class PhantomTruth:
    """Ground truth of a whole phantom."""

    seed: int
    spec: dict[str, Any]  # the PhantomSpec as JSON-able dict
    vertebrae: tuple[VertebraTruth, ...]
    tissue_hu: dict[str, float] = field(default_factory=dict)  # nominal HU per tissue class
    column_height_loss_mm: float = 0.0  # total height lost by all fractures
    notes: tuple[str, ...] = ()

    def vertebra(self, level: str) -> VertebraTruth:
        """The truth of one level (``KeyError`` if it was not built)."""
        for v in self.vertebrae:
            if v.level == level:
                return v
        raise KeyError(level)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PhantomTruth:
        """Inverse of :meth:`to_dict`."""

        def vec(x: Any) -> Vec3:
            return (float(x[0]), float(x[1]), float(x[2]))

        verts = []
        for v in d["vertebrae"]:
            v = dict(v)
            v["pedicles"] = tuple(
                PedicleTruth(
                    **{
                        **p,
                        "isthmus_ras_mm": vec(p["isthmus_ras_mm"]),
                        "axis_ras": vec(p["axis_ras"]),
                    }
                )
                for p in v["pedicles"]
            )
            v["cortical_breaks"] = tuple(
                CorticalBreak(**{**b, "centre_ras_mm": vec(b["centre_ras_mm"])})
                for b in v.get("cortical_breaks", ())
            )
            v["landmarks_ras_mm"] = {k: vec(p) for k, p in v["landmarks_ras_mm"].items()}
            for key in ("centroid_ras_mm", "superior_axis_ras", "anterior_axis_ras"):
                v[key] = vec(v[key])
            verts.append(VertebraTruth(**v))
        return cls(
            seed=int(d["seed"]),
            spec=dict(d["spec"]),
            vertebrae=tuple(verts),
            tissue_hu={k: float(x) for k, x in d.get("tissue_hu", {}).items()},
            column_height_loss_mm=float(d.get("column_height_loss_mm", 0.0)),
            notes=tuple(d.get("notes", ())),
        )

    def to_json(self) -> str:
        """``truth.json``: :meth:`to_dict` in kypho's envelope (``"kypho.phantom-truth/1"``)."""
        from kypho.core.outputs import dumps, envelope

        return dumps(envelope("phantom-truth", TRUTH_FORMAT_VERSION, self.to_dict()))

    @classmethod
    def read(cls, path: str | Path) -> PhantomTruth:
        """Read ``truth.json`` through kypho's reading layer and check it against
        :data:`TRUTH_JSON_SCHEMA` (a :class:`~kypho.errors.FormatError` names the field)."""
        from kypho.core.reading import read_json

        doc = read_json(path, what="phantom truth file", schema=TRUTH_JSON_SCHEMA)
        return cls.from_dict({k: v for k, v in doc.items() if k not in _ENVELOPE_KEYS})


# ------------------------------------------------------------------------------------------------
# JSON schema of truth.json, derived from the dataclasses above (so it follows their fields).

_VEC3: dict[str, Any] = {"type": "array", "items": {"type": "number"}, "minItems": 3,
                         "maxItems": 3}
_ANNOTATIONS: dict[str, dict[str, Any]] = {
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "str": {"type": "string"},
    "bool": {"type": "boolean"},
    "Vec3": _VEC3,
    "dict[str, Vec3]": {"type": "object", "additionalProperties": _VEC3},
    "dict[str, float]": {"type": "object", "additionalProperties": {"type": "number"}},
    "dict[str, Any]": {"type": "object"},
    "tuple[str, ...]": {"type": "array", "items": {"type": "string"}},
    "BreakLocation": {"enum": list(BREAK_LOCATIONS)},
}


def _object_schema(cls: type, nested: dict[str, dict[str, Any]]) -> dict[str, Any]:
    props: dict[str, Any] = {}
    required = []
    for f in fields(cls):
        ann = str(f.type)
        if ann in nested:
            props[f.name] = {"type": "array", "items": nested[ann]}
        elif ann.startswith("Literal["):
            props[f.name] = {"type": "string"}
        elif ann == "FractureType":
            props[f.name] = {"enum": ["none", "wedge", "biconcave", "crush"]}
        else:
            props[f.name] = _ANNOTATIONS.get(ann, {})
        if f.default is MISSING and f.default_factory is MISSING:
            required.append(f.name)
    return {"type": "object", "required": required, "properties": props,
            "additionalProperties": False}


_BREAK = _object_schema(CorticalBreak, {})
_PEDICLE = _object_schema(PedicleTruth, {})
_VERTEBRA = _object_schema(
    VertebraTruth, {"tuple[PedicleTruth, ...]": _PEDICLE, "tuple[CorticalBreak, ...]": _BREAK}
)
#: Layout version of ``truth.json`` (``"format": "kypho.phantom-truth/1"``; files written
#: before the envelope, without ``format``, are still read).
TRUTH_FORMAT_VERSION = 1
_ENVELOPE_KEYS = ("format", "kypho_version", "disclaimer")
_TRUTH_OBJECT = _object_schema(PhantomTruth, {"tuple[VertebraTruth, ...]": _VERTEBRA})
#: JSON schema of ``truth.json`` (:meth:`PhantomTruth.to_json`).
TRUTH_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    **_TRUTH_OBJECT,
    "properties": {
        **_TRUTH_OBJECT["properties"],
        "format": {"const": f"kypho.phantom-truth/{TRUTH_FORMAT_VERSION}"},
        "kypho_version": {"type": "string"},
        "disclaimer": {"type": "string"},
    },
}
