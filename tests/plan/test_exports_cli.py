"""Slicer markups validated with jsonschema, plan JSON round trip, rehearsal outputs, CLI."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest
from typer.testing import CliRunner

from kypho.plan import read_plan_json, rehearse, to_slicer_markups, write_plan_json, write_rehearsal
from kypho.plan.markups import SLICER_MARKUPS_SCHEMA_URL

#: What Slicer's markups schema v1.0.3 requires of a Line file (read from
#: Slicer/Slicer Modules/Loadable/Markups/Resources/Schema/markups-schema-v1.0.3.json), tightened
#: to what kypho promises (coordinate system and units always written).
SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema",
    "type": "object",
    "required": ["@schema", "markups"],
    "properties": {
        "@schema": {"type": "string", "pattern": r"markups-schema-v1\.0\.3\.json#$"},
        "markups": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["type", "coordinateSystem", "coordinateUnits", "controlPoints"],
                "properties": {
                    "type": {"enum": ["Line"]},
                    "coordinateSystem": {"enum": ["LPS", "RAS"]},
                    "coordinateUnits": {"enum": ["mm"]},
                    "controlPoints": {
                        "type": "array",
                        "minItems": 2,
                        "maxItems": 2,
                        "items": {
                            "type": "object",
                            "required": ["position"],
                            "properties": {
                                "position": {"type": "array", "items": {"type": "number"},
                                             "minItems": 3, "maxItems": 3},
                                "positionStatus": {"enum": ["undefined", "preview", "defined"]},
                            },
                        },
                    },
                },
            },
        },
    },
}


def test_markups_validate_and_are_lps(plan_l1):
    doc = json.loads(json.dumps(to_slicer_markups(plan_l1.paths)))
    jsonschema.validate(doc, SCHEMA)
    assert doc["@schema"] == SLICER_MARKUPS_SCHEMA_URL
    for mk, p in zip(doc["markups"], plan_l1.paths, strict=True):
        assert mk["coordinateSystem"] == "LPS"
        e = mk["controlPoints"][0]["position"]
        assert np.allclose(e, [-p.entry_ras_mm[0], -p.entry_ras_mm[1], p.entry_ras_mm[2]])
    bad = {"@schema": SLICER_MARKUPS_SCHEMA_URL, "markups": [{"type": "Line", "controlPoints": []}]}
    try:
        jsonschema.validate(bad, SCHEMA)
    except jsonschema.ValidationError:
        pass
    else:  # pragma: no cover
        raise AssertionError("schema accepted a line without coordinates")


def test_plan_json_round_trip(plan_l1, tmp_path):
    f = write_plan_json(tmp_path / "plan.json", [plan_l1])
    back = read_plan_json(f)
    assert [p.name for p in back] == [p.name for p in plan_l1.paths]
    for a, b in zip(back, plan_l1.paths, strict=True):
        assert np.allclose(a.entry_ras_mm, b.entry_ras_mm) and a.verdict == b.verdict


def test_rehearsal_medialised_rule_and_breach(plan_l1, phantom_fractured, tmp_path):
    import math

    from kypho.plan.paths import TrocarPath

    fr = plan_l1.grid.frame
    good = next(p for p in plan_l1.paths if p.side == "left")
    entry = np.asarray(good.entry_ras_mm)
    loc = fr.direction_to_local(good.direction_ras)
    ang = math.radians(25.0)
    rot = np.array([[math.cos(ang), math.sin(ang), 0], [-math.sin(ang), math.cos(ang), 0], [0, 0, 1]])
    d = fr.direction_to_ras(rot @ loc)
    bad = TrocarPath(level="L1", side="left", approach="user", entry_ras_mm=tuple(entry),
                     target_ras_mm=tuple(entry + 35.0 * d))
    reh = rehearse(phantom_fractured, bad, step_mm=5.0, size=96)
    # Known answer: the step at which the tip first lies medial to the medial wall (in the
    # frame's local u) while still behind the posterior body wall (local a).
    med_u = abs(fr.to_local(plan_l1.pedicles["left"].medial_wall_ras_mm)[0])
    expect = next(
        s.step for s in reh.steps
        if abs(fr.to_local(s.tip_ras_mm)[0]) < med_u
        and fr.to_local(s.tip_ras_mm)[1] < plan_l1.grid.body_posterior_a_mm
    )
    assert abs(reh.first_rule_violation_step - expect) <= 1
    b = reh.first_breach_step("canal") or reh.first_breach_step("medial wall")
    assert b is not None and b <= reh.first_rule_violation_step + 1
    assert reh.summary["shots"] == 2 * len(reh.steps)
    files = write_rehearsal(reh, tmp_path)
    from PIL import Image

    assert Image.open(files["gif"]).n_frames == len(reh.steps)
    assert Image.open(files["contact"]).size[0] > 0
    lines = files["steps"].read_text().splitlines()
    assert len(lines) == len(reh.steps)


def test_cli_plan_and_rehearse(phantom_fractured, tmp_path):
    from kypho.cli.main import app
    from kypho.io import save_case

    folder = save_case(phantom_fractured, tmp_path / "case")
    runner = CliRunner()
    r = runner.invoke(app, ["plan", str(folder), "--level", "L2", "-o", str(tmp_path / "p")])
    assert r.exit_code == 0, r.output
    assert "L2-left: safe" in r.output
    assert (tmp_path / "p" / "paths.mrk.json").exists()
    r2 = runner.invoke(app, ["rehearse", str(folder), "--level", "L2", "--path",
                             str(tmp_path / "p" / "plan.json"), "--size", "64", "--step", "10",
                             "-o", str(tmp_path / "r")])
    assert r2.exit_code == 0, r2.output
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["shots"] > 0
    r3 = runner.invoke(app, ["plan", str(folder), "--level", "L5"])
    assert r3.exit_code == 2 and "not labelled" in r3.output


def test_a_rehearsal_with_too_many_steps_is_refused_before_rendering(phantom_fractured, plan_l1):
    from kypho.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="over the 500 allowed"):
        rehearse(phantom_fractured, plan_l1.paths[0], step_mm=0.01)
