"""One option vocabulary across commands, and the output-folder rule, checked on the real CLI."""

from __future__ import annotations

import json

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from kypho.cli.main import app

#: Commands that read a CT case, and those that write outputs into a folder.
CASE_COMMANDS = ("info", "assess", "anatomy", "fluoro", "plan", "rehearse", "simulate")
OUT_COMMANDS = ("assess", "anatomy", "fluoro", "plan", "rehearse", "simulate", "demo", "phantom",
                "example")
JSON_COMMANDS = ("info", "assess", "anatomy", "fluoro", "plan", "rehearse", "simulate")
LEVEL_COMMANDS = ("anatomy", "fluoro", "plan", "rehearse", "simulate")


def _options(name: str) -> dict:
    cmd = get_command(app).commands[name]  # type: ignore[attr-defined]
    return {o: p for p in cmd.params if p.param_type_name == "option" for o in p.opts}


@pytest.mark.parametrize("name", CASE_COMMANDS)
def test_case_commands_take_labels_and_their_scheme(name):
    opts = _options(name)
    assert "--labels" in opts and "--labels-scheme" in opts


@pytest.mark.parametrize("name", OUT_COMMANDS)
def test_out_is_a_folder_and_force_replaces(name):
    opts = _options(name)
    assert {"-o", "--out"} <= set(opts) and "--force" in opts
    assert "older" in (opts["--out"].help or "")  # "Folder ..." / "... folder ..."


@pytest.mark.parametrize("name", JSON_COMMANDS)
def test_json_everywhere_a_result_is_printed(name):
    assert "--json" in _options(name)


@pytest.mark.parametrize("name", LEVEL_COMMANDS)
def test_levels_are_named_one_way(name):
    opt = _options(name)["--level"]
    assert opt.multiple and "T10-L3" in (opt.help or "")


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory):
    from kypho.io import save_case
    from kypho.phantom import FractureSpec, PhantomSpec, make_phantom

    case = make_phantom(PhantomSpec(first_level="T12", last_level="L2", voxel_mm=1.0,
                                    soft_tissue=False,
                                    fractures=(FractureSpec("L1", "wedge", grade=2),)))
    return save_case(case, tmp_path_factory.mktemp("case") / "case")


def test_anatomy_command_writes_its_envelope_and_pictures(case_dir, tmp_path):
    runner = CliRunner()
    out = tmp_path / "a"
    res = runner.invoke(app, ["anatomy", str(case_dir), "--level", "T12-L1", "-o", str(out),
                              "--no-progress"])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "anatomy.json").read_text())
    assert doc["format"] == "kypho.anatomy/1" and "not a medical device" in doc["disclaimer"]
    assert [v["level"] for v in doc["levels"]] == ["T12", "L1"]
    l1 = doc["levels"][1]
    assert l1["status"] == "measured" and l1["endplates"]["wedge_angle_deg"] > 10
    assert set(l1["pedicles"]) == {"left", "right"}
    assert (out / "anatomy_L1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # again: refused without --force, nothing touched; a range that runs backwards is refused
    before = (out / "anatomy.json").read_bytes()
    res = runner.invoke(app, ["anatomy", str(case_dir), "--level", "T12-L1", "-o", str(out)])
    assert res.exit_code == 2 and "--force" in res.output
    assert (out / "anatomy.json").read_bytes() == before
    res = runner.invoke(app, ["anatomy", str(case_dir), "--level", "L1-T12", "-o", str(out)])
    assert res.exit_code == 2 and "caudal to cranial" in res.output
    res = runner.invoke(app, ["anatomy", str(case_dir), "--level", "L4", "-o",
                              str(tmp_path / "b")])
    assert res.exit_code == 2 and "L4 is not labelled" in res.output
    assert not (tmp_path / "b").exists()


def test_plan_accepts_a_level_range_and_prints_json(case_dir, tmp_path):
    res = CliRunner().invoke(app, ["plan", str(case_dir), "--level", "T12-L1", "-o",
                                   str(tmp_path / "p"), "--json", "--no-progress"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout[res.stdout.index("{"):])
    assert doc["format"] == "kypho.plan/2"
    assert [p["level"] for p in doc["plans"]] == ["T12", "L1"]
    assert {p.name for p in (tmp_path / "p").iterdir()} == {
        "plan.json", "paths.mrk.json", "plan_T12.png", "plan_L1.png"}
