"""`kypho assess` through the CLI, the JSON/CSV/PNG outputs, the report section, the example CT."""

from __future__ import annotations

import csv
import dataclasses
import io
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from kypho.assess import Assessment, assess
from kypho.assess.outputs import (
    CSV_COLUMNS,
    assessment_table,
    from_json,
    report_section,
    sagittal_png,
    to_csv,
    to_json,
)
from kypho.cli.main import app
from kypho.errors import FormatError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def case_folder(tmp_path_factory, request):
    from kypho.io import save_case

    case, _ = request.getfixturevalue("wedge_l1")
    return save_case(case, tmp_path_factory.mktemp("cli") / "wedge", compress=False)


def test_json_round_trip(wedge_l1):
    _, a = wedge_l1
    text = to_json(a)
    d = json.loads(text)  # a real parser: valid JSON (NaN written as null)
    assert d["format"] == "kypho.assess/2" and "not a medical device" in d["disclaimer"]
    back = from_json(text)
    assert isinstance(back, Assessment)
    assert back == a
    assert back.vertebra("L1").landmarks_ras_mm == a.vertebra("L1").landmarks_ras_mm
    with pytest.raises(FormatError, match=r"kypho\.assess/2"):
        from_json(json.dumps({"kind": "something else"}))
    with pytest.raises(FormatError, match=r"format 'kypho\.plan/2'"):
        from_json(json.dumps({**d, "format": "kypho.plan/2"}))
    # version 1 files (before the common envelope) are still read
    legacy = {k: v for k, v in d.items() if k not in ("format", "kypho_version")}
    assert from_json(json.dumps({"kind": "kypho.assess", "version": 1, **legacy})) == a
    with pytest.raises(FormatError):
        from_json("{not json")


def test_csv_parses_with_one_row_per_vertebra(wedge_l1):
    case, a = wedge_l1
    rows = list(csv.DictReader(io.StringIO(to_csv(a))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r["level"] for r in rows] == ["T12", "L1", "L2"]
    l1 = rows[1]
    assert l1["genant_grade"] == "2" and l1["fracture_type"] == "wedge"
    truth = case.truth.vertebra("L1")
    assert float(l1["height_anterior_mm"]) == pytest.approx(truth.height_anterior_mm, abs=1.0)


def test_table_and_report_section(wedge_l1):
    from rich.console import Console

    case, a = wedge_l1
    console = Console(record=True, width=140)
    console.print(assessment_table(a))
    text = " ".join(console.export_text().split())
    assert "L1" in text and "wedge" in text and "not a medical device" in text
    section = report_section(case, a)
    assert section.key == "assess"
    assert "Genant" in section.html or "grade" in section.html
    (fig,) = section.figures
    assert fig.png.startswith(PNG_MAGIC) and len(fig.png) > 10_000


def test_cli_json_csv_png(case_folder, tmp_path, wedge_l1):
    runner = CliRunner()
    res = runner.invoke(app, ["assess", str(case_folder), "--json", "--no-progress"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    by_level = {v["level"]: v for v in d["vertebrae"]}
    assert by_level["L1"]["genant_grade"] == 2
    assert by_level["L1"]["height_anterior_mm"] == pytest.approx(
        wedge_l1[1].vertebra("L1").height_anterior_mm, abs=1e-6
    )
    out_csv, out_png = tmp_path / "a.csv", tmp_path / "a.png"
    res = runner.invoke(
        app,
        ["assess", str(case_folder), "--csv", str(out_csv), "--png", str(out_png), "--no-progress"],
    )
    assert res.exit_code == 0, res.output
    assert "L1" in res.stdout and "Local kyphosis over L1" in res.stdout
    assert [r["level"] for r in csv.DictReader(out_csv.open())] == ["T12", "L1", "L2"]
    assert out_png.read_bytes().startswith(PNG_MAGIC)
    res = runner.invoke(app, ["assess", str(case_folder), "--csv", "-", "--no-progress"])
    assert res.exit_code == 0 and res.stdout.startswith("level,status,")
    res = runner.invoke(
        app, ["assess", str(case_folder), "-o", str(tmp_path / "o"), "--no-progress"]
    )
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert names == ["assess.csv", "assess.json", "assess_sagittal.png"]
    assert from_json((tmp_path / "o" / "assess.json").read_text()) == wedge_l1[1]


def test_cli_bad_input_exit_2(case_folder, tmp_path, wedge_l1):
    from kypho.io import save_case

    runner = CliRunner()
    res = runner.invoke(app, ["assess", str(tmp_path / "nowhere"), "--no-progress"])
    assert res.exit_code == 2
    assert "error:" in res.output
    no_labels = save_case(
        dataclasses.replace(wedge_l1[0], labels=None, tissue=None, truth=None),
        tmp_path / "nolabels",
        compress=False,
    )
    res = runner.invoke(app, ["assess", str(no_labels), "--no-progress"])
    assert res.exit_code == 2
    assert "no vertebra label map" in res.output and "TotalSegmentator" in res.output
    res = runner.invoke(app, ["assess", str(case_folder), "--json", "--csv", "-", "--no-progress"])
    assert res.exit_code == 2 and "stdout" in res.output


#: Levels whose Ha/Hp leaves the normal band on a grid (a measured known gap: on the 1 mm copy
#: the wall refinement tilts T9's axis 6 deg from the thick-slice result, Ha/Hp 1.22).
HA_HP_OUTLIERS = {"example-2.5mm": set(), "example-iso1mm": {"T9"}}


def test_example_ct(real_ct, request):
    """The real example CT, on both grids: C5-C7 and L3 cut by the scan, T1-L2 measured with
    plausible heights, no fracture."""
    from kypho.anatomy.norms import level_norm

    case = real_ct
    a = assess(case)
    edge = set(case.labels.levels_at_edge)
    for lv in ("C5", "C6", "C7", "L3"):
        assert lv in edge
        assert a.vertebra(lv).status.startswith("not measurable: cut by scan edge"), lv
    measured = [v.level for v in a.measured]
    assert measured[0] == "T1" and measured[-1] == "L2" and len(measured) == 14
    outliers = set()
    for v in a.measured:
        norm = level_norm(v.level)
        # within 30 % of the published posterior height of the level (Panjabi 1991/1992)
        assert v.height_posterior_mm == pytest.approx(norm.height_posterior_mm, rel=0.3)
        if not 0.7 < v.ha_hp < 1.15:
            outliers.add(v.level)
        assert 60.0 < v.trabecular_hu < 300.0
    assert outliers == HA_HP_OUTLIERS[request.node.callspec.params["real_ct"]]
    assert a.fractured_levels == ()
    hp = [a.vertebra(lv).height_posterior_mm for lv in ("T1", "T6", "T12")]
    assert hp == sorted(hp)  # bodies grow taller caudally
    assert a.density_screen.hu is not None
    png = sagittal_png(case, a)
    assert png.startswith(PNG_MAGIC)
    assert np.isfinite(a.alignment.cobb_angle_deg)
