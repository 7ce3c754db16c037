"""The case pipeline, fluoroscopy frames, dose model, report section and ``kypho simulate``."""

from __future__ import annotations

import io
import itertools
import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from kypho.anatomy import SpineAnatomy
from kypho.cli.main import app
from kypho.io import save_case
from kypho.phantom import FractureSpec, PhantomSpec, make_phantom
from kypho.sim.frames import (
    animation_gif,
    balloon_instruments,
    contact_sheet_png,
    procedure_dose,
    trocar_instruments,
)
from kypho.sim.from_case import trocar_axes
from kypho.sim.pipeline import build_case_model, simulate_case
from kypho.sim.report import sim_section


@pytest.fixture(scope="module")
def case():
    return make_phantom(PhantomSpec(
        first_level="T12", last_level="L2", voxel_mm=1.0, bone_density="osteoporotic",
        soft_tissue=False, fractures=(FractureSpec("L1", "wedge", grade=2),),
    ))


@pytest.fixture(scope="module")
def model(case):
    return build_case_model(case, "L1")


@pytest.fixture(scope="module")
def kp(case, model):
    return simulate_case(case, "L1", technique="kyphoplasty", model=model, frame_size=48,
                         use_plan=False)


def test_default_approach_is_transpedicular_and_bipedicular_for_kyphoplasty(case, model, kp):
    r = kp.result
    assert len(r.trocar_tips_ras_mm) == 2 and kp.approach.startswith("bipedicular")
    v = case.truth.vertebra("L1")
    measured = SpineAnatomy.of(case).vertebra("L1").pedicles
    for tip, ax in zip(r.trocar_tips_ras_mm, r.trocar_axes_ras, strict=True):
        # the trocar line through the tip passes through the measured isthmus of a pedicle,
        # which lies within a few mm of the phantom's true isthmus
        def miss(isthmus, tip=tip, ax=ax):
            return np.linalg.norm(np.cross(np.asarray(isthmus) - tip, ax))

        assert min(miss(p.isthmus_ras_mm) for p in measured.values()) < 1e-6
        assert min(miss(p.isthmus_ras_mm) for p in v.pedicles) < 3.0
        assert np.dot(ax, v.anterior_axis_ras) > 0.7  # pointing into the body
    # without measured pedicles the trocar runs along the anterior axis
    (ax,) = trocar_axes(model, [r.trocar_tips_ras_mm[0]])
    assert np.allclose(ax, model.anterior_axis_ras)


def test_filling_order_reproduces_the_cement_at_every_moment(kp):
    r = kp.result
    v = r.model.voxel_volume_mm3 / 1000.0
    inside = r.model.fluid
    vols = [float(r.cement_fraction_at(x)[inside].sum()) * v
            for x in np.linspace(0, r.injected_volume_ml, 6)]
    assert vols[0] == 0.0
    assert all(b >= a for a, b in itertools.pairwise(vols))
    assert np.array_equal(r.cement_fraction_at(r.injected_volume_ml), r.cement_fraction)


def test_balloon_drawn_with_the_cavity_volume(kp):
    r = kp.result
    balloons = balloon_instruments(r, 1.0)
    assert len(balloons) == 2
    total = sum(b.volume_ml for b in balloons)
    assert total == pytest.approx(r.balloon.cavity_volume_ml, rel=1e-6)
    half = sum(b.volume_ml for b in balloon_instruments(r, 0.5))
    assert half == pytest.approx(0.5 * total, rel=1e-6)
    assert len(trocar_instruments(r)) == 2


def test_frames_show_balloon_and_cement_darker_than_bone(kp):
    fr = kp.frames
    labels = [f.label for f in fr]
    assert labels[0].startswith("trocar") and "balloon" in labels[2]
    assert labels[-1].startswith("cement")
    for view in ("ap", "lateral"):
        first = getattr(fr[0], view).astype(float)
        balloon = getattr(fr[2], view).astype(float)
        last = getattr(fr[-1], view).astype(float)
        assert first.shape == (48, 48)
        # radiopaque contrast and cement show as dark pixels (bone dark convention)
        assert (balloon < 40).sum() > (first < 40).sum()
        assert (last < 40).sum() > (first < 40).sum()


def test_dose_counts_continuous_lateral_fluoroscopy_during_injection(kp):
    r = kp.result
    d = procedure_dose(r, rendered_frames=0)
    inj_s = r.injected_volume_ml / r.rate_ml_per_min * 60.0
    assert d.fluoroscopy_time_s >= inj_s
    assert d.dap_gy_cm2 > 0 and d.reference_air_kerma_mgy > 0
    assert procedure_dose(r, rendered_frames=10).frames == d.frames + 20


def test_contact_sheet_animation_and_section(kp, case, model):
    png = contact_sheet_png(kp.frames, title="t")
    assert png.startswith(b"\x89PNG")
    gif = Image.open(io.BytesIO(animation_gif(kp.frames)))
    assert gif.format == "GIF" and gif.n_frames == len(kp.frames)
    vp = simulate_case(case, "L1", technique="vertebroplasty", model=model, volume_ml=2.0,
                       frames=False)
    sec = sim_section([kp.result, vp.result],
                      doses={"kyphoplasty": kp.dose, "vertebroplasty": vp.dose},
                      contact_sheets={"kyphoplasty": png}, slices=False)
    assert sec.key == "simulate" and len(sec.figures) == 1
    for text in ("kyphoplasty", "vertebroplasty", "fluoroscopy time", "kyphotic",
                 "Ha / Hm / Hp before"):
        assert text in sec.html


@pytest.fixture(scope="module")
def case_dir(case, tmp_path_factory):
    d = tmp_path_factory.mktemp("case")
    save_case(case, d)
    return d


def test_cli_writes_summary_pictures_and_animation(case_dir, tmp_path):
    out = tmp_path / "sim"
    res = CliRunner().invoke(app, [
        "simulate", str(case_dir), "--level", "L1", "--technique", "both", "-o", str(out),
        "--size", "48", "--json", "--no-progress", "--volume", "2.0"])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "simulate.json").read_text())
    assert set(summary["results"]) == {"kyphoplasty", "vertebroplasty"}
    for tech, s in summary["results"].items():
        assert s["injected_ml"] == pytest.approx(s["inside_ml"] + s["leaked_ml"], abs=2e-3)
        assert s["fluoroscopy"]["time_s"] > 0
        assert (out / f"simulate_{tech}_frames.png").read_bytes().startswith(b"\x89PNG")
        assert Image.open(out / f"simulate_{tech}.gif").n_frames >= 4
    assert summary["results"]["kyphoplasty"]["balloon"]["pv_curve_ml_mpa"]
    assert (out / "simulate_report.html").read_text().count('id="simulate"') == 1


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--volume", "300"], "exceeds the volume"),
        (["--rate", "-3"], "rate must be positive"),
        (["--cement", "superglue"], "unknown cement"),
        (["--tip", "0,0,250"], "outside the cancellous"),
        (["--tip", "1,2"], "is not a point; give three numbers"),
        (["--tip", "0,0,1e12"], "--tip (z)"),
        (["--technique", "sacroplasty"], "--technique"),
        (["--level", "L4"], "no label for L4"),
        (["--level", "L1-L2"], "exactly one level"),
        (["--seed", "-1"], "seed must be a non-negative integer"),
    ],
)
def test_cli_bad_parameters_exit_2_with_one_line(case_dir, tmp_path, args, match):
    level = [] if "--level" in args else ["--level", "L1"]
    base = ["simulate", str(case_dir), *level, "--technique", "vertebroplasty",
            "-o", str(tmp_path / "o"), "--no-frames", "--no-progress", "--no-plan"]
    res = CliRunner().invoke(app, base + args)
    assert res.exit_code == 2
    assert match in res.output and len(res.output.strip().splitlines()) == 1
    assert not list((tmp_path / "o").glob("*")) if (tmp_path / "o").exists() else True
