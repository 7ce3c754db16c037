"""Exports: 3D Slicer markups (``.mrk.json``, one ``Line`` per trocar) and kypho's plan JSON.

Slicer markups follow ``markups-schema-v1.0.3.json`` (Slicer/Slicer:
Modules/Loadable/Markups/Resources/Schema): top level ``@schema`` and ``markups``; each markup
``type`` "Line", ``coordinateSystem`` "LPS" (what Slicer writes for files; kypho converts from RAS
here, at the file edge), ``coordinateUnits`` "mm", ``controlPoints`` with 3-number ``position``s
and ``positionStatus`` "defined" (without it hand-written lines may not show in slice views,
discourse.slicer.org/t/using-json-files-to-create-markups/22754).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kypho.core.atomic import write_text_atomic
from kypho.core.outputs import format_name, open_envelope, write_json
from kypho.core.reading import read_json, validate_json
from kypho.errors import FormatError, InputFileError
from kypho.plan.paths import Breach, Margins, TrocarPath

__all__ = [
    "PLAN_FORMAT_VERSION",
    "PLAN_JSON_SCHEMA",
    "SLICER_MARKUPS_SCHEMA_URL",
    "path_from_dict",
    "path_to_dict",
    "plan_to_dict",
    "plans_payload",
    "read_plan_json",
    "slicer_markups_json",
    "to_slicer_markups",
    "write_plan_json",
    "write_slicer_markups",
]

#: The schema URL Slicer writes into ``.mrk.json`` files (version 1.0.3).
SLICER_MARKUPS_SCHEMA_URL = (
    "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/"
    "Resources/Schema/markups-schema-v1.0.3.json#"
)
#: Layout version of ``plan.json`` (``"format": "kypho.plan/2"``; version 1 was
#: ``"kypho-plan/1"``, still read).
PLAN_FORMAT_VERSION = 2
_LEGACY_PLAN_FORMAT = "kypho-plan/1"


def _lps(p: tuple[float, float, float]) -> list[float]:
    return [-float(p[0]), -float(p[1]), float(p[2])]


def to_slicer_markups(paths: list[TrocarPath] | tuple[TrocarPath, ...]) -> dict[str, Any]:
    """Slicer markups document with one Line (entry -> target) per path, in LPS mm."""
    colours = {"safe": [0.2, 0.8, 0.3], "caution": [1.0, 0.7, 0.1], "unsafe": [0.9, 0.1, 0.1]}
    markups = []
    for p in paths:
        markups.append(
            {
                "type": "Line",
                "name": f"{p.name} trocar ({p.gauge} G)",
                "coordinateSystem": "LPS",
                "coordinateUnits": "mm",
                "locked": True,
                "fixedNumberOfControlPoints": True,
                "labelFormat": "%N-%d",
                "controlPoints": [
                    {
                        "id": "1",
                        "label": f"{p.name}-entry",
                        "description": "docking point on the posterior bone",
                        "position": _lps(p.entry_ras_mm),
                        "orientation": [-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0],
                        "selected": False,
                        "locked": True,
                        "visibility": True,
                        "positionStatus": "defined",
                    },
                    {
                        "id": "2",
                        "label": f"{p.name}-target",
                        "description": f"planned tip; verdict {p.verdict}",
                        "position": _lps(p.target_ras_mm),
                        "orientation": [-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0],
                        "selected": False,
                        "locked": True,
                        "visibility": True,
                        "positionStatus": "defined",
                    },
                ],
                "display": {
                    "visibility": True,
                    "opacity": 1.0,
                    "color": colours.get(p.verdict or "", [0.4, 1.0, 1.0]),
                    "selectedColor": colours.get(p.verdict or "", [0.4, 1.0, 1.0]),
                    "lineThickness": 0.2,
                },
            }
        )
    return {"@schema": SLICER_MARKUPS_SCHEMA_URL, "markups": markups}


def slicer_markups_json(paths: Sequence[TrocarPath]) -> str:
    """The text of a Slicer ``.mrk.json`` file holding ``paths``."""
    return json.dumps(to_slicer_markups(paths), indent=2) + "\n"


def write_slicer_markups(path: str | Path, paths: list[TrocarPath] | tuple[TrocarPath, ...]) -> Path:
    """Write the paths as a Slicer ``.mrk.json`` file (atomically)."""
    return write_text_atomic(path, slicer_markups_json(paths))


def path_to_dict(p: TrocarPath) -> dict[str, Any]:
    """JSON-able form of a path (RAS mm)."""
    m = p.margins
    return {
        "level": p.level,
        "side": p.side,
        "approach": p.approach,
        "gauge": p.gauge,
        "outer_diameter_mm": p.outer_diameter_mm,
        "entry_ras_mm": list(p.entry_ras_mm),
        "target_ras_mm": list(p.target_ras_mm),
        "skin_ras_mm": list(p.skin_ras_mm) if p.skin_ras_mm is not None else None,
        "transverse_angle_deg": round(p.transverse_angle_deg, 2),
        "sagittal_angle_deg": round(p.sagittal_angle_deg, 2),
        "bone_length_mm": round(p.bone_length_mm, 2),
        "skin_length_mm": None if p.skin_length_mm is None else round(p.skin_length_mm, 2),
        "margins_mm": None if m is None else {k: (None if v is None else round(v, 2))
                                              for k, v in m.__dict__.items()},
        "breaches": [b.__dict__ | {"point_ras_mm": list(b.point_ras_mm)} for b in p.breaches],
        "verdict": p.verdict,
        "reasons": list(p.reasons),
        "score": None if p.score != p.score else round(p.score, 3),
    }


def path_from_dict(d: dict[str, Any], *, source: str = "plan") -> TrocarPath:
    """Inverse of :func:`path_to_dict` (margins and breaches kept as stored)."""
    try:
        m = d.get("margins_mm")
        return TrocarPath(
            level=str(d["level"]),
            side=str(d["side"]),
            approach=d.get("approach", "user"),
            entry_ras_mm=tuple(d["entry_ras_mm"]),  # type: ignore[arg-type]
            target_ras_mm=tuple(d["target_ras_mm"]),  # type: ignore[arg-type]
            gauge=int(d.get("gauge", 11)),
            skin_ras_mm=tuple(d["skin_ras_mm"]) if d.get("skin_ras_mm") else None,  # type: ignore[arg-type]
            transverse_angle_deg=float(d.get("transverse_angle_deg", 0.0)),
            sagittal_angle_deg=float(d.get("sagittal_angle_deg", 0.0)),
            margins=Margins(**m) if m else None,
            breaches=tuple(
                Breach(**{**b, "point_ras_mm": tuple(b["point_ras_mm"])})
                for b in d.get("breaches", ())
            ),
            verdict=d.get("verdict"),
            reasons=tuple(d.get("reasons", ())),
            score=float(d["score"]) if d.get("score") is not None else float("nan"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise FormatError(f"{source}: not a kypho trocar path ({exc})") from None


def plan_to_dict(plan: Any) -> dict[str, Any]:
    """JSON-able form of a :class:`~kypho.plan.search.LevelPlan`."""
    from kypho.anatomy.pedicle import published_comparison

    grid = plan.grid
    return {
        "coordinates": "RAS+ mm",
        "level": plan.level,
        "mode": plan.mode,
        "gauge": plan.gauge,
        "verdict": plan.verdict,
        "vertebra": None if grid is None else {
            "frame": grid.frame.__dict__,
            "canal_width_mm": round(grid.canal_width_mm, 2),
            "canal_depth_mm": round(grid.canal_depth_mm, 2),
            "body_depth_mm": round(grid.body_depth_mm, 2),
        },
        "pedicles": {
            side: {
                "isthmus_ras_mm": list(p.isthmus_ras_mm),
                "axis_ras": list(p.axis_ras),
                "width_mm": round(p.width_mm, 2),
                "height_mm": round(p.height_mm, 2),
                "transverse_angle_deg": round(p.transverse_angle_deg, 2),
                "sagittal_angle_deg": round(p.sagittal_angle_deg, 2),
                "medial_wall_to_midline_mm": round(p.canal_gap_mm, 2),
                "published": published_comparison(plan.level, p),
            }
            for side, p in plan.pedicles.items()
        },
        "paths": [path_to_dict(p) for p in plan.paths],
        "options": {side: [path_to_dict(p) for p in opts] for side, opts in plan.options.items()},
    }


def plans_payload(plans: Sequence[Any]) -> dict[str, Any]:
    """The content of a plan file (inside kypho's envelope): every level plan as a dict."""
    return {"plans": [plan_to_dict(p) for p in plans]}


def write_plan_json(path: str | Path, plans: list[Any]) -> Path:
    """Write one or more level plans as JSON (atomically)."""
    return write_json(path, "plan", PLAN_FORMAT_VERSION, plans_payload(plans))


_VEC3: dict[str, Any] = {"type": "array", "items": {"type": "number"}, "minItems": 3,
                         "maxItems": 3}
_NUMBER_OR_NULL: dict[str, Any] = {"type": ["number", "null"]}
#: JSON schema of the parts of a plan file that :func:`read_plan_json` reads (other fields are
#: written for people and other tools and are not checked).
PLAN_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["format", "plans"],
    "properties": {
        "format": {"enum": [format_name("plan", PLAN_FORMAT_VERSION), _LEGACY_PLAN_FORMAT]},
        "plans": {"type": "array", "items": {
            "type": "object",
            "properties": {"paths": {"type": "array", "items": {
                "type": "object",
                "required": ["level", "side", "entry_ras_mm", "target_ras_mm"],
                "properties": {
                    "level": {"type": "string"}, "side": {"type": "string"},
                    "approach": {"type": "string"}, "gauge": {"type": "integer"},
                    "entry_ras_mm": _VEC3, "target_ras_mm": _VEC3,
                    "skin_ras_mm": {"oneOf": [_VEC3, {"type": "null"}]},
                    "transverse_angle_deg": {"type": "number"},
                    "sagittal_angle_deg": {"type": "number"},
                    "margins_mm": {"type": ["object", "null"],
                                   "additionalProperties": _NUMBER_OR_NULL},
                    "breaches": {"type": "array", "items": {
                        "type": "object",
                        "required": ["wall", "depth_mm", "point_ras_mm", "depth_beyond_mm"],
                        "properties": {"wall": {"type": "string"}, "depth_mm": {"type": "number"},
                                       "point_ras_mm": _VEC3,
                                       "depth_beyond_mm": {"type": "number"}},
                        "additionalProperties": False,
                    }},
                    "verdict": {"type": ["string", "null"]},
                    "reasons": {"type": "array", "items": {"type": "string"}},
                    "score": _NUMBER_OR_NULL,
                },
            }}},
        }},
    },
}  # fmt: skip


def read_plan_json(path: str | Path) -> list[TrocarPath]:
    """The chosen paths of every level in a plan JSON file.

    The file goes through kypho's reading layer (a regular file, bounded size, nesting and
    numbers, UTF-8) and is checked against :data:`PLAN_JSON_SCHEMA`; errors name the field
    (``plans[0].paths[1].entry_ras_mm``).
    """
    p = Path(path)
    if not p.exists():
        raise InputFileError(f"{p}: no such plan file")
    doc = read_json(p, what="plan file")
    if not (isinstance(doc, dict) and doc.get("format") == _LEGACY_PLAN_FORMAT):
        doc = open_envelope(doc, "plan", (PLAN_FORMAT_VERSION,), source=str(p))
    validate_json(doc, PLAN_JSON_SCHEMA, p)
    out = []
    for plan in doc.get("plans", []):
        for d in plan.get("paths", []):
            out.append(path_from_dict(d, source=str(p)))
    if not out:
        raise FormatError(f"{p}: the plan holds no paths")
    return out
