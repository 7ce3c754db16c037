"""Dose bookkeeping, display mapping, file outputs (PNG/.npy/DICOM XA), CLI and report section."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image
from typer.testing import CliRunner

from kypho.core import LEVEL_IDS, Case, LabelMap, Volume
from kypho.errors import InvalidParameterError, UnsupportedFormatError
from kypho.fluoro import (
    CArm,
    DoseSession,
    Technique,
    ap_view,
    lateral_view,
    project_labels,
    render_drr,
    to_display,
    view_for_level,
)
from kypho.fluoro.dose import tube_output_ugy_per_mas
from kypho.fluoro.io import orientation_letters, write_frame
from kypho.fluoro.outlines import level_axes, outline_polylines

# ---------------------------------------------------------------------------- a tiny spine
N_XY, N_Z, SP = 40, 48, 2.0
LEVELS3 = ("L1", "L2", "L3")


def _tiny_spine() -> Case:
    aff = np.diag([SP, SP, SP, 1.0])
    aff[:3, 3] = (-(N_XY - 1) / 2 * SP, -(N_XY - 1) / 2 * SP, -(N_Z - 1) / 2 * SP)
    x, y, z = np.meshgrid(*(np.arange(n) for n in (N_XY, N_XY, N_Z)), indexing="ij")
    xr, yr, zr = (x - (N_XY - 1) / 2) * SP, (y - (N_XY - 1) / 2) * SP, (z - (N_Z - 1) / 2) * SP
    hu = np.where(xr**2 + (yr / 0.8) ** 2 <= 34**2, 40, -1000).astype(np.int16)
    labels = np.zeros(hu.shape, np.int16)
    for i, level in enumerate(LEVELS3):  # L1 on top (superior = +z)
        zc = 30.0 - 30.0 * i
        body = (xr**2 + (yr - 4) ** 2 <= 14**2) & (np.abs(zr - zc) <= 11)
        hu[body] = 300
        labels[body] = LEVEL_IDS[level]
    return Case(Volume(hu, aff), LabelMap(labels, aff), name="tiny")


@pytest.fixture(scope="module")
def spine() -> Case:
    return _tiny_spine()


@pytest.fixture(scope="module")
def spine_files(tmp_path_factory, spine) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("spine")
    ct, lab = d / "ct.nii.gz", d / "labels.nii.gz"
    nib.save(nib.Nifti1Image(np.asarray(spine.volume.data), spine.volume.affine), ct)
    nib.save(nib.Nifti1Image(np.asarray(spine.labels.data), spine.labels.affine), lab)
    return ct, lab


# ---------------------------------------------------------------------------- dose
def test_dose_follows_inverse_square_and_counts_time():
    carm = CArm(source_to_isocentre_mm=600, source_to_detector_mm=1000)
    tq = Technique(kvp=80, tube_current_ma=5, pulse_width_ms=8, pulse_rate_per_s=7.5)
    s = DoseSession(tq)
    s.record(carm, 75)
    k_pulse = 70.20 * 0.04 * (1000 / 450) ** 2 / 1000  # mGy: SpekPy 80 kV output, 0.04 mAs
    assert s.reference_air_kerma_mgy == pytest.approx(75 * k_pulse)
    area_cm2 = 300 * 300 * (450 / 1000) ** 2 / 100
    assert s.dap_gy_cm2 == pytest.approx(75 * k_pulse / 1000 * area_cm2)
    assert s.fluoroscopy_time_s == pytest.approx(10.0)
    # DAP does not depend on where the source is; kerma at the IRP does.
    far = DoseSession(tq)
    far.record(CArm(source_to_isocentre_mm=800, source_to_detector_mm=1000), 75)
    assert far.dap_gy_cm2 == pytest.approx(s.dap_gy_cm2)
    assert far.reference_air_kerma_mgy < s.reference_air_kerma_mgy
    n = s.fluoroscopy(carm, 60.0)
    assert n == 450 and s.frames == 525
    summary = s.summary()
    rows = dict((a, (b, c)) for a, b, c in summary.as_rows())
    assert "4.9" in rows["Fluoroscopy time"][1] and "3.47" in rows["Dose-area product"][1]
    assert "<table>" in summary.to_html()
    assert tube_output_ugy_per_mas(85) == pytest.approx((70.20 + 86.93) / 2)


def test_render_counts_exposures(spine):
    s = DoseSession()
    render_drr(spine.volume, CArm().with_size(16), dose=s)
    render_drr(spine.volume, CArm().with_size(16), dose=s)
    assert s.frames == 2 and s.reference_air_kerma_mgy > 0


@pytest.mark.parametrize(
    "kwargs", [{"kvp": 150}, {"tube_current_ma": 0}, {"pulse_width_ms": -1}, {"pulse_rate_per_s": 0}, {"field_fraction": 0}]
)
def test_bad_technique_is_refused(kwargs):
    with pytest.raises(InvalidParameterError):
        Technique(**kwargs)


# ---------------------------------------------------------------------------- display
def test_display_bone_dark_or_bright():
    L = np.linspace(0.0, 6.0, 64 * 64).reshape(64, 64)
    dark = to_display(L, bone="dark", edge_enhance=0)
    bright = to_display(L, bone="bright", edge_enhance=0)
    assert dark.dtype == np.uint8
    assert dark[0, 0] == 255 and dark[-1, -1] == 0  # air white, most attenuating black
    np.testing.assert_array_equal(dark.astype(int) + bright.astype(int), 255)
    assert np.all(np.diff(dark.reshape(-1).astype(int)) <= 0)
    with pytest.raises(InvalidParameterError):
        to_display(L, bone="grey")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- outlines
def test_level_axes_and_outlines(spine):
    centre, sup, _ant = level_axes(spine, "L2")
    np.testing.assert_allclose(centre, [0, 4, 0], atol=1.0)
    np.testing.assert_allclose(sup, [0, 0, 1], atol=1e-6)
    carm = view_for_level(spine, "L2", "lateral").with_size(64)
    assert carm.primary_deg == pytest.approx(90.0)
    sils = project_labels(spine.labels, carm)
    assert set(sils) == set(LEVELS3)
    # Silhouettes stack cranial to caudal: L1 above L2 above L3 (image up = superior).
    rows = {lv: np.nonzero(m)[0].mean() for lv, m in sils.items()}
    assert rows["L1"] < rows["L2"] < rows["L3"]
    # The L2 silhouette is centred on the frame (isocentre on L2).
    rr, cc = np.nonzero(sils["L2"])
    assert abs(rr.mean() - 31.5) < 2 and abs(cc.mean() - 31.5) < 2
    lines = outline_polylines(sils["L2"])
    assert len(lines) == 1 and lines[0].shape[1] == 2
    assert lines[0][:, 0].min() >= cc.min() - 1 and lines[0][:, 0].max() <= cc.max() + 1


# ---------------------------------------------------------------------------- files
def test_png_npy_dicom_round_trips(tmp_path, spine):
    frame = render_drr(spine.volume, view_for_level(spine, "L2", "ap").with_size(48))
    png = write_frame(frame, tmp_path / "f.png", bone="bright")
    np.testing.assert_array_equal(np.asarray(Image.open(png)), to_display(frame, bone="bright"))
    npy = write_frame(frame, tmp_path / "f.npy")
    np.testing.assert_array_equal(np.load(npy), frame.line_integral)
    dcm = write_frame(frame, tmp_path / "f.dcm")
    ds = pydicom.dcmread(dcm)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.12.1" and ds.Modality == "XA"
    assert float(ds.PositionerPrimaryAngle) == pytest.approx(frame.carm.primary_deg, abs=1e-3)
    assert float(ds.PositionerSecondaryAngle) == pytest.approx(frame.carm.secondary_deg, abs=1e-3)
    assert float(ds.DistanceSourceToDetector) == pytest.approx(1000.0)
    assert float(ds.DistanceSourceToPatient) == pytest.approx(600.0)
    assert [float(v) for v in ds.ImagerPixelSpacing] == pytest.approx([300 / 48] * 2)
    assert list(ds.PatientOrientation) == ["R", "F"]  # prone AP seen from behind
    assert ds.PatientPosition == "HFP"
    np.testing.assert_array_equal(ds.pixel_array, to_display(frame))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.dcm", "f.npy", "f.png"]  # no temp files
    with pytest.raises(UnsupportedFormatError):
        write_frame(frame, tmp_path / "f.jpg")
    assert orientation_letters(lateral_view().right_ras) == "P"


# ---------------------------------------------------------------------------- CLI
def test_cli_writes_frames(tmp_path, spine_files):
    from kypho.cli.main import app

    ct, lab = spine_files
    runner = CliRunner()
    res = runner.invoke(app, ["fluoro", str(ct), "--labels", str(lab), "--view", "lateral",
                              "--level", "l2", "-o", str(tmp_path / "lat"), "--size", "64",
                              "--bone", "bright"])
    assert res.exit_code == 0, res.output
    assert "lateral of L2" in res.output and "LAO 90.0" in res.output
    assert Image.open(tmp_path / "lat" / "fluoro_lateral_L2.png").size == (64, 64)
    doc = json.loads((tmp_path / "lat" / "fluoro_lateral_L2.json").read_text())
    assert doc["format"] == "kypho.fluoro/1" and doc["level"] == "L2"
    assert doc["dose"]["frames"] == 1 and doc["dose"]["dap_gy_cm2"] > 0
    res = runner.invoke(app, ["fluoro", str(ct), "--view", "oblique-right", "-o",
                              str(tmp_path / "o"), "--size", "32", "--dicom", "--npy"])
    assert res.exit_code == 0, res.output
    dcm = pydicom.dcmread(tmp_path / "o" / "fluoro_oblique-right.dcm")
    assert float(dcm.PositionerPrimaryAngle) == pytest.approx(-160.0)
    assert np.load(tmp_path / "o" / "fluoro_oblique-right.npy").shape == (32, 32)
    # the same folder again: refused without --force, replaced with it
    again = ["fluoro", str(ct), "--view", "oblique-right", "-o", str(tmp_path / "o"), "--size",
             "32"]
    res = runner.invoke(app, again)
    assert res.exit_code == 2 and "--force" in res.output
    assert runner.invoke(app, [*again, "--force"]).exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--view", "sideways"], "unknown view"),
        (["--size", "0"], "16-2048 pixels"),
        (["--size", "50000"], "16-2048 pixels"),
        (["--bone", "grey"], "bone must be 'dark' or 'bright'"),
        (["--level", "L4"], "not labelled"),
        (["--level", "Q9"], "unknown vertebral level"),
        (["--secondary", "120"], "secondary angle"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(tmp_path, spine_files, args, message):
    from kypho.cli.main import app

    ct, lab = spine_files
    res = CliRunner().invoke(app, ["fluoro", str(ct), "--labels", str(lab), "-o",
                                   str(tmp_path / "x"), *args])
    assert res.exit_code == 2, res.output
    assert message in res.output and len(res.output.strip().splitlines()) == 1
    assert not list(tmp_path.rglob("*.png")) and not list(tmp_path.rglob("*.json"))


def test_cli_out_must_be_a_folder(tmp_path, spine_files):
    from kypho.cli.main import app

    f = tmp_path / "frame.png"
    f.write_bytes(b"not a folder")
    res = CliRunner().invoke(app, ["fluoro", str(spine_files[0]), "-o", str(f)])
    assert res.exit_code == 2 and "is a file, not a folder" in res.output
    assert f.read_bytes() == b"not a folder"


# ---------------------------------------------------------------------------- report
def test_report_section(spine):
    from kypho.fluoro.report import choose_level, fluoro_section

    assert choose_level(spine) == "L2"
    sec = fluoro_section(spine, size=64)
    assert sec.key == "fluoro" and "L2" in sec.title
    assert len(sec.figures) == 1 and sec.figures[0].png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "LAO 180.0" in sec.html or "RAO 180.0" in sec.html
    assert "Dose-area product" in sec.html


def test_ap_and_lateral_of_tiny_spine_look_right(spine):
    """Bodies are darker than soft tissue (bone dark) where the outlines say they are."""
    for carm in (ap_view(isocentre_ras_mm=(0, 4, 0)), lateral_view(isocentre_ras_mm=(0, 4, 0))):
        carm = carm.with_size(64)
        frame = render_drr(spine.volume, carm)
        pic = to_display(frame, edge_enhance=0)
        sil = project_labels(spine.labels, carm)["L2"]
        assert pic[sil].mean() < pic[~sil & (frame.line_integral > 0.5)].mean()


# ---------------------------------------------------------------------------- additions
def test_metal_does_not_throw_a_wide_halo():
    """Edge enhancement works on the windowed picture, so the bright rim (overshoot) around a
    steel shaft stays as small as around bone (enhancing raw line integrals gave about 110 grey
    levels next to the shaft and 45 at 10 px in this frame)."""
    L = np.full((256, 256), 4.0)
    L[80:180, 90:170] = 5.0  # a vertebra-like block fills the metered centre
    L[:, 200:203] = 12.0  # a trocar shaft: L far above anything else
    pic = to_display(L).astype(int)  # blur sigma 256/30 = 8.5 px
    field = pic[10:30, 20:40].mean()
    assert abs(pic[10:30, 240:250].mean() - field) <= 2  # 5 blur widths away: no rim
    assert pic[10:30, 203:207].mean() - field <= 40  # next to the shaft
    assert pic[10:30, 213].mean() - field <= 15  # 10 px away
    assert pic[:, 201].max() == 0  # the shaft itself is black (bone dark)


def test_level_axes_ignore_a_neighbour_cut_by_the_field_of_view():
    """A vertebra that the CT cuts off has a biased centroid: it must not tilt the spine axis."""
    case = _tiny_spine()
    labels = np.asarray(case.labels.data).copy()
    hu = np.asarray(case.volume.data).copy()
    # Cut the CT just inside L3 (L3 is the lowest level; z index 0 is inferior) and shift
    # what is left of L3 sideways: its centroid moves, the spine does not.
    keep = slice(12, None)
    labels, hu = labels[:, :, keep], hu[:, :, keep]
    l3 = labels == LEVEL_IDS["L3"]
    assert l3.any() and l3[:, :, 0].any()  # truncated
    shifted = np.zeros_like(l3)
    shifted[6:, :, :] = l3[:-6, :, :]
    labels[l3] = 0
    labels[shifted] = LEVEL_IDS["L3"]
    aff = case.volume.affine.copy()
    aff[:3, 3] += aff[:3, 2] * 12
    cut = Case(Volume(hu, aff), LabelMap(labels, aff), name="cut")
    _c, sup, _a = level_axes(cut, "L2")
    np.testing.assert_allclose(sup, [0, 0, 1], atol=1e-6)  # from L1 and L2 only


def test_a_published_length_procedure_lands_in_the_published_dap_range():
    """4.9 min of pulsed fluoroscopy (the published mean per level) with the default technique,
    checked against the formula, and against the published DAP interquartile range."""
    carm = ap_view()
    s = DoseSession()
    n = s.fluoroscopy(carm, 4.9 * 60)
    assert n == round(4.9 * 60 * 7.5) == 2205
    d_irp = 600 - 150
    k_mgy = n * 70.20 * (5 * 8 / 1000) * (1000 / d_irp) ** 2 / 1000  # uGy/mAs at 1 m -> mGy
    area_cm2 = 30 * 30 * (d_irp / 1000) ** 2
    assert s.reference_air_kerma_mgy == pytest.approx(k_mgy) == pytest.approx(30.58, abs=0.01)
    assert s.dap_gy_cm2 == pytest.approx(k_mgy / 1000 * area_cm2)
    assert 2.70 <= s.dap_gy_cm2 <= 5.73  # published IQR for a vertebroplasty procedure
    # Collimating to half the field halves the DAP but not the reference air kerma.
    half = DoseSession(Technique(field_fraction=0.5))
    half.fluoroscopy(carm, 4.9 * 60)
    assert half.dap_gy_cm2 == pytest.approx(s.dap_gy_cm2 / 2)
    assert half.reference_air_kerma_mgy == pytest.approx(s.reference_air_kerma_mgy)


def test_rendering_the_same_volume_twice_reuses_its_layouts(spine):
    from kypho.fluoro.render import prepare_volume

    a = prepare_volume(spine.volume)
    assert prepare_volume(spine.volume) is a
    assert prepare_volume(spine.volume, energy_kev=70.0) is not a
    other = Volume(np.asarray(spine.volume.data).copy(), spine.volume.affine)
    assert prepare_volume(other) is not prepare_volume(spine.volume)


def test_plot_frame_marks_points_where_the_projection_matrix_says(spine):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kypho.fluoro.report import plot_frame

    carm = view_for_level(spine, "L2", "lateral").with_size(64)
    frame = render_drr(spine.volume, carm)
    tip = np.array([3.0, 10.0, -4.0])
    fig, ax = plt.subplots()
    plot_frame(ax, frame, labels=spine.labels, highlight="L2", points_ras_mm=tip)
    cross = ax.lines[-1]
    np.testing.assert_allclose([cross.get_xdata()[0], cross.get_ydata()[0]], carm.project(tip))
    assert {t.get_text() for t in ax.texts} == set(LEVELS3)
    plt.close(fig)


def test_real_ct_views_are_centred_on_the_measured_body(real_ct):
    """True AP and lateral of the example's T12, on both grids: centred on the measured body
    centroid and aligned with its measured axes."""
    from kypho.anatomy import SpineAnatomy
    from kypho.fluoro import view_for_level

    v = SpineAnatomy.of(real_ct).vertebra("T12")
    for view in ("ap", "lateral"):
        carm = view_for_level(real_ct, "T12", view)
        np.testing.assert_allclose(carm.isocentre_ras_mm, v.frame.origin_ras_mm, atol=1e-9)
