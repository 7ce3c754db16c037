"""``kypho demo`` end to end on a coarse phantom: case folder, report, stage sections, errors."""

from __future__ import annotations

import json
import re

import icalendar
import numpy as np
from typer.testing import CliRunner

import kypho
from kypho.cli.main import app
from kypho.demo import run_demo

runner = CliRunner()


def test_public_api_names_resolve():
    for name in kypho.__all__:
        assert getattr(kypho, name) is not None, name
    assert re.match(r"\d+\.\d+", kypho.__version__)


def test_demo_writes_case_and_report(tmp_path):
    result = run_demo(tmp_path / "demo", voxel_mm=1.5, seed=3)
    html = result.report.read_text(encoding="utf-8")
    assert "Not a medical device" in html
    assert result.sections == (
        "case",
        "phantom",
        "assess",
        "fluoro",
        "plan",
        "simulate",
        "aftercare",
    )
    for kind in ("assess/assess.json", "plan/plan.json", "plan/paths.mrk.json"):
        assert (result.folder / kind).is_file(), kind
    # The assessment finds the phantom's fracture, and that level is the one treated.
    assert result.treated_level == "L1"
    graded = json.loads((result.folder / "assess" / "assess.json").read_text())
    l1 = next(v for v in graded["vertebrae"] if v["level"] == "L1")
    assert l1["genant_grade"] == 2 and l1["fracture_type"] == "wedge", l1
    ics = (result.folder / "aftercare" / "aftercare.ics").read_bytes()
    assert icalendar.Calendar.from_ical(ics).walk("VEVENT")
    for key in result.sections:
        assert f'<section id="{key}">' in html
    assert html.count("data:image/png;base64,") >= 4
    # The case folder written by the demo reads back as the same phantom.
    case = kypho.load_case(result.folder / "case")
    assert case.levels == ("T10", "T11", "T12", "L1", "L2", "L3")
    assert case.truth is not None
    l1 = case.truth.vertebra("L1")
    assert l1.genant_grade == 2 and l1.fracture_type == "wedge"
    assert l1.height_anterior_mm < 0.8 * l1.height_posterior_mm
    assert np.isclose(case.volume.spacing_mm[0], 1.5)


def test_demo_cli_refuses_non_empty_folder(tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    res = runner.invoke(app, ["demo", "-o", str(out), "--voxel-mm", "1.5", "--no-progress"])
    assert res.exit_code == 2
    assert "not empty" in res.output
    assert "Traceback" not in res.output
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_demo_cli_bad_level_and_density(tmp_path):
    res = runner.invoke(app, ["demo", "-o", str(tmp_path / "a"), "--level", "Q9", "--no-progress"])
    assert res.exit_code == 2 and "Q9" in res.output
    res = runner.invoke(
        app, ["demo", "-o", str(tmp_path / "b"), "--density", "chalky", "--no-progress"]
    )
    assert res.exit_code == 2 and "chalky" in res.output
    assert not (tmp_path / "b" / "report.html").exists()
