"""``kypho phantom`` through the real CLI app."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from kypho.cli.main import app

runner = CliRunner()


def test_phantom_writes_a_case_folder(tmp_path):
    out = tmp_path / "ph"
    r = runner.invoke(
        app,
        [
            "phantom",
            "-o",
            str(out),
            "--level",
            "T12-L2",
            "--voxel",
            "1.5",
            "--density",
            "osteoporotic",
            "--fracture",
            "L1:wedge:2",
            "--fracture",
            "T12:biconcave:35%",
            "--seed",
            "4",
            "--no-soft-tissue",
            "--no-progress",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "Phantom:" in r.stdout
    for name in ("case.json", "ct.nii.gz", "labels.nii.gz", "tissue.nii.gz", "truth.json"):
        assert (out / name).is_file(), name
    truth = json.loads((out / "truth.json").read_text())
    l1 = next(v for v in truth["vertebrae"] if v["level"] == "L1")
    assert l1["fracture_type"] == "wedge" and l1["genant_grade"] == 2
    t12 = next(v for v in truth["vertebrae"] if v["level"] == "T12")
    assert t12["fracture_type"] == "biconcave" and abs(t12["height_loss_pct"] - 35) < 1e-6
    assert truth["spec"]["bone_density"] == "osteoporotic" and truth["seed"] == 4

    from kypho.io import load_case

    case = load_case(out)
    assert case.levels == ("T12", "L1", "L2")
    assert np.allclose(case.volume.spacing_mm, 1.5)


def test_existing_folder_needs_force(tmp_path):
    out = tmp_path / "ph"
    args = [
        "phantom",
        "-o",
        str(out),
        "--level",
        "L1-L1",
        "--voxel",
        "2",
        "--no-soft-tissue",
        "--no-progress",
    ]
    assert runner.invoke(app, args).exit_code == 0
    r = runner.invoke(app, args)
    assert r.exit_code == 2 and "not empty" in r.output
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0


def test_bad_arguments_exit_2_and_write_nothing(tmp_path):
    cases = [
        (["--level", "T9-L1"], "no anatomy table"),
        (["--level", "L3-T10"], "caudal to cranial"),
        (["--voxel", "0"], "voxel size must be positive"),
        (["--voxel", "-1"], "voxel size must be positive"),
        (["--density", "strong"], "bone density"),
        (["--fracture", "L1:wedge:4"], "Genant grade"),
        (["--fracture", "L1:wedge:100%"], "height loss"),
        (["--fracture", "L5:wedge:2"], "outside the built levels"),
        (["--fracture", "L1:twist:2"], "wedge, biconcave or crush"),
    ]
    for i, (extra, message) in enumerate(cases):
        out = tmp_path / f"o{i}"
        r = runner.invoke(app, ["phantom", "-o", str(out), "--no-progress", *extra])
        assert r.exit_code == 2, (extra, r.output)
        assert message in r.output, (extra, r.output)
        assert "error:" in r.output and len(r.output.strip().splitlines()) == 1
        assert not out.exists()
