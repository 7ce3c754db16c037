"""Rendering: closed-form line integrals, bead position, symmetry, kernels vs the NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kypho.core import Volume
from kypho.errors import InvalidParameterError
from kypho.fluoro import (
    AttenuationVolume,
    CArm,
    EmptyViewError,
    SourceInsidePatientError,
    ap_view,
    lateral_view,
    oblique_view,
    render_drr,
)
from kypho.fluoro.analytic import centred_affine
from kypho.fluoro.analytic import supersampled_fraction as supersampled
from kypho.fluoro.instruments import cylinder_chord_mm
from kypho.fluoro.render import line_integrals

MU0 = 0.02  # 1/mm, as in conftest.sphere_volume


def _sphere_chords(carm: CArm, r: float) -> tuple[np.ndarray, np.ndarray]:
    src = carm.source_ras_mm
    v = carm.pixel_centres_ras_mm() - src
    v /= np.linalg.norm(v, axis=-1, keepdims=True)
    d = np.linalg.norm(-src - (v @ -src)[..., None] * v, axis=-1)  # ray distance from centre
    return 2 * np.sqrt(np.maximum(r * r - d * d, 0.0)), d


POSES = [
    ("ap", ap_view()),
    ("lateral", lateral_view()),
    ("oblique", oblique_view(angle_deg=30)),
    ("tilted", CArm(primary_deg=140, secondary_deg=25)),
]


@pytest.mark.parametrize(("name", "carm"), POSES, ids=[p[0] for p in POSES])
def test_sphere_line_integrals_match_closed_form(sphere_volume, name, carm):
    vol, r = sphere_volume
    carm = carm.with_size(96)
    frame = render_drr(vol, carm, check=False)
    chord, d = _sphere_chords(carm, r)
    core = d < 0.7 * r
    assert core.sum() > 100
    rel = np.abs(frame.line_integral[core] / (MU0 * chord[core]) - 1)
    assert rel.max() < 0.01, f"{name}: worst relative error {rel.max():.4f}"
    assert np.all(frame.line_integral[d > r + 2.5] == 0)
    assert frame.method == ("shear-warp" if name in ("ap", "lateral") else "joseph")


def test_cylinder_line_integrals_match_closed_form():
    n, sp, rad = 56, 1.0, 15.0
    frac = supersampled(n, sp, lambda x, y, z: (x * x + y * y <= rad * rad) & (np.abs(z) <= 24.0))
    vol = AttenuationVolume(frac * MU0, centred_affine(n, sp), 55.0)
    for carm in (ap_view().with_size(80), CArm(primary_deg=120, secondary_deg=10).with_size(80)):
        frame = render_drr(vol, carm, check=False)
        src = carm.source_ras_mm
        rays = carm.pixel_centres_ras_mm() - src
        chord = cylinder_chord_mm(src, rays, (0, 0, -24.0), (0, 0, 24.0), rad)
        inner = cylinder_chord_mm(src, rays, (0, 0, -20.0), (0, 0, 20.0), 0.7 * rad)
        core = inner > 0.5 * chord  # well inside: away from the caps and the curved edge
        assert core.sum() > 100
        rel = np.abs(frame.line_integral[core] / (MU0 * chord[core]) - 1)
        assert rel.max() < 0.01


def _box_chord(carm: CArm, half: np.ndarray) -> np.ndarray:
    src = carm.source_ras_mm
    v = carm.pixel_centres_ras_mm() - src
    with np.errstate(divide="ignore"):
        t1 = (-half - src) / v
        t2 = (half - src) / v
    lo = np.minimum(t1, t2).max(axis=-1)
    hi = np.maximum(t1, t2).min(axis=-1)
    return np.maximum(hi - lo, 0) * np.linalg.norm(v, axis=-1)


def test_box_line_integrals_match_closed_form():
    n, sp = 48, 1.0
    half = np.array([14.0, 9.0, 18.0])
    frac = supersampled(
        n, sp, lambda x, y, z: (np.abs(x) <= half[0]) & (np.abs(y) <= half[1]) & (np.abs(z) <= half[2])
    )
    vol = AttenuationVolume(frac * MU0, centred_affine(n, sp), 55.0)
    for carm in (ap_view(), lateral_view(), CArm(primary_deg=-150, secondary_deg=-20)):
        carm = carm.with_size(80)
        frame = render_drr(vol, carm, check=False)
        chord = _box_chord(carm, half)
        # Away from edges: rays entering and leaving through the two faces the beam runs
        # across, at least 3 mm from every other face.
        ax = int(np.argmax(np.abs(carm.direction_ras)))
        src = carm.source_ras_mm
        v = carm.pixel_centres_ras_mm() - src
        core = np.ones(chord.shape, bool)
        for sign in (-1, 1):
            p = src + ((sign * half[ax] - src[ax]) / v[..., ax])[..., None] * v
            for other in {0, 1, 2} - {ax}:
                core &= np.abs(p[..., other]) <= half[other] - 3.0
        assert core.sum() > 30
        rel = np.abs(frame.line_integral[core] / (MU0 * chord[core]) - 1)
        assert rel.max() < 0.01


@settings(max_examples=25, deadline=None)
@given(
    st.floats(-180, 180),
    st.floats(-40, 40),
    st.tuples(st.integers(8, 23), st.integers(8, 23), st.integers(8, 23)),
)
def test_bead_images_where_the_projection_matrix_says(primary, secondary, ijk):
    n = 32
    mu = np.zeros((n, n, n), np.float32)
    i, j, k = ijk
    mu[i - 1 : i + 2, j - 1 : j + 2, k - 1 : k + 2] = 1.0  # a 3 mm dense bead centred on ijk
    aff = centred_affine(n, 1.0)
    vol = AttenuationVolume(mu, aff, 55.0)
    carm = CArm(primary_deg=primary, secondary_deg=secondary).with_size(128)  # 1.4 mm at iso
    frame = render_drr(vol, carm, check=False)
    img = frame.line_integral.astype(np.float64)
    rows, cols = np.nonzero(img > 0)
    w = img[rows, cols]
    centroid = np.array([np.sum(cols * w), np.sum(rows * w)]) / w.sum()
    bead_ras = aff[:3, :3] @ np.array(ijk, float) + aff[:3, 3]
    predicted = carm.project(bead_ras)
    assert np.abs(centroid - predicted).max() < 0.5


def test_ap_of_centred_symmetric_phantom_is_left_right_symmetric():
    n = 48
    # Symmetric in x (left-right), deliberately asymmetric front-back and up-down.
    frac = supersampled(
        n,
        1.0,
        lambda x, y, z: ((x - 8) ** 2 + y**2 + (z - 3) ** 2 <= 36) | ((x + 8) ** 2 + y**2 + (z - 3) ** 2 <= 36)
        | ((np.abs(x) <= 4) & (y > 5) & (y < 15) & (z < -2) & (z > -16)),
        ss=2,
    )
    vol = AttenuationVolume(frac * MU0, centred_affine(n, 1.0), 55.0)
    for method in ("shear-warp", "joseph"):
        frame = render_drr(vol, ap_view().with_size(64), method=method, check=False)
        img = frame.line_integral
        assert img.max() > 0.1
        np.testing.assert_allclose(img, img[:, ::-1], atol=1e-5 * img.max())
        assert not np.allclose(img, img[::-1, :], atol=1e-3)  # not trivially symmetric


def test_rotating_the_carm_90_degrees_turns_ap_into_lateral():
    """The lateral frame of a phantom equals the AP frame of the phantom turned 90 degrees."""
    n = 40
    rng = np.random.default_rng(3)
    mu = np.zeros((n, n, n), np.float32)
    mu[8:30, 12:26, 5:35] = rng.uniform(0.0, 0.05, (22, 14, 30)).astype(np.float32)
    aff = centred_affine(n, 1.0)
    ap = ap_view().with_size(48)
    lat = ap.rotated(primary_deg=-90.0)
    assert lat.primary_deg == pytest.approx(90.0)
    f_lat = render_drr(AttenuationVolume(mu, aff, 55.0), lat, check=False)
    # Turn the patient instead: new(x, y) = old(y, -x) maps the old left (-R) onto the new
    # posterior (-A), where the AP detector sits.
    turned = np.transpose(mu, (1, 0, 2))[::-1, :, :].copy()
    f_ap = render_drr(AttenuationVolume(turned, aff, 55.0), ap, check=False)
    np.testing.assert_allclose(f_lat.line_integral, f_ap.line_integral, atol=1e-5)
    assert f_lat.line_integral.max() > 0.2


@pytest.mark.parametrize(
    "carm",
    [ap_view(), lateral_view(), oblique_view(angle_deg=35), CArm(primary_deg=-60, secondary_deg=30),
     CArm(primary_deg=180, secondary_deg=50)],
    ids=["ap", "lateral", "oblique", "rao-cran", "steep-cran"],
)
def test_kernels_agree_with_numpy_reference(carm):
    rng = np.random.default_rng(0)
    mu = rng.uniform(0.0, 0.05, (30, 26, 22)).astype(np.float32)
    aff = np.array([[0.9, 0.05, 0, -12], [0, 1.1, 0.0, -13], [0.02, 0, 1.4, -15], [0, 0, 0, 1]])
    vol = AttenuationVolume(mu, aff, 55.0)
    carm = carm.with_size(40)
    ref, _, n_ref = line_integrals(vol, carm, method="reference")
    fast, used, n_fast = line_integrals(vol, carm, method="joseph")
    assert used == "joseph"
    np.testing.assert_allclose(fast, ref, atol=2e-5 * ref.max(), rtol=0)
    assert ref.max() > 0.5
    assert abs(n_fast - n_ref) <= 0.01 * n_ref


def test_shear_warp_matches_reference_on_axis_aligned_volume():
    rng = np.random.default_rng(1)
    mu = rng.uniform(0.0, 0.05, (34, 28, 20)).astype(np.float32)
    aff = np.diag([-0.8, 0.8, 1.5, 1.0])  # LAS storage, like many NIfTI files
    aff[:3, 3] = (13, -11, -14)
    vol = AttenuationVolume(mu, aff, 55.0)
    for carm in (ap_view(), lateral_view(), lateral_view(side="right"), CArm(primary_deg=0)):
        carm = carm.with_size(44)
        ref, _, _ = line_integrals(vol, carm, method="reference")
        sw, used, _ = line_integrals(vol, carm, method="shear-warp")
        assert used == "shear-warp"
        np.testing.assert_allclose(sw, ref, atol=2e-5 * ref.max(), rtol=0)
    with pytest.raises(InvalidParameterError, match="shear-warp needs"):
        line_integrals(vol, oblique_view().with_size(16), method="shear-warp")


def _ct_block() -> Volume:
    n = 40
    hu = np.full((n, n, n), -1000, np.int16)
    hu[10:30, 10:30, 5:35] = 40  # a soft-tissue "patient" 20 x 20 x 30 mm around the origin
    return Volume(hu, centred_affine(n, 1.0))


def test_source_inside_patient_is_refused():
    ct = _ct_block()
    close = CArm(source_to_isocentre_mm=5.0, source_to_detector_mm=400.0)
    with pytest.raises(SourceInsidePatientError, match=r"X-ray source .* is inside the patient"):
        render_drr(ct, close.with_size(16))
    detector_inside = CArm(source_to_isocentre_mm=300.0, source_to_detector_mm=305.0)
    with pytest.raises(SourceInsidePatientError, match="detector"):
        render_drr(ct, detector_inside.with_size(16))
    frame = render_drr(ct, CArm().with_size(16))  # the default pose is fine
    assert frame.line_integral.max() > 0


def test_detector_that_sees_nothing_is_refused():
    ct = _ct_block()
    away = CArm(isocentre_ras_mm=(0.0, 0.0, 500.0)).with_size(16)  # centred far above the CT
    with pytest.raises(EmptyViewError, match="sees nothing of the volume"):
        render_drr(ct, away)


def test_frame_properties_and_beer_lambert():
    ct = _ct_block()
    frame = render_drr(ct, CArm(), size=32)
    assert frame.shape == (32, 32)
    np.testing.assert_allclose(frame.intensity, np.exp(-frame.line_integral), rtol=1e-6)
    assert frame.pixel_centres_ras_mm.shape == (32, 32, 3)
    assert frame.pixel_spacing_mm == pytest.approx((300 / 32, 300 / 32))
    assert frame.samples > 0
    # 20 mm of 40 HU tissue along the central ray (AP crosses y in [-10, 10]).
    from kypho.fluoro.attenuation import hu_to_mu

    expected = float(hu_to_mu(np.array([40.0]), energy_kev=55.0)[0]) * 20.0
    centre = frame.line_integral[15:17, 15:17].mean()
    assert centre == pytest.approx(expected, rel=0.02)
    with pytest.raises(InvalidParameterError):
        render_drr(ct, CArm(), size=-1)
    with pytest.raises(InvalidParameterError):
        render_drr(ct, CArm(), energy_kev=20.0)
    with pytest.raises(InvalidParameterError):
        line_integrals(AttenuationVolume(ct.hu(), ct.affine, 55.0), CArm(), method="magic")  # type: ignore[arg-type]
