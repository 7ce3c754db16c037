"""Attenuation coefficients, HU conversion, instruments (trocar, balloon, cement) in the frame."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kypho.errors import InvalidParameterError
from kypho.fluoro import (
    Balloon,
    CArm,
    CementVolume,
    Trocar,
    ap_view,
    gauge_outer_diameter_mm,
    lateral_view,
    render_drr,
)
from kypho.fluoro.analytic import centred_affine
from kypho.fluoro.attenuation import (
    cement,
    cortical_bone,
    hu_to_mu,
    iodine_contrast,
    mass_attenuation_cm2_g,
    mu_per_mm,
    steel,
    water,
)
from kypho.fluoro.instruments import cylinder_chord_mm, ellipsoid_chord_mm
from kypho.fluoro.render import AttenuationVolume


def test_nist_values_at_grid_points_and_interpolation():
    assert mass_attenuation_cm2_g("water", 60) == pytest.approx(0.2059)  # NIST ComTab water
    assert mass_attenuation_cm2_g("bone_cortical", 50) == pytest.approx(0.4242)
    assert mass_attenuation_cm2_g("iron", 80) == pytest.approx(0.5952)
    w55 = mass_attenuation_cm2_g("water", 55)
    assert 0.2059 < w55 < 0.2269  # between the 60 and 50 keV entries
    assert water().mu_per_mm(60) == pytest.approx(0.02059)  # 1 g/cm^3 -> cm^-1 / 10
    assert steel().mu_per_mm(60) == pytest.approx(1.205 * 7.874 / 10)
    with pytest.raises(InvalidParameterError, match="outside the tabulated range"):
        mass_attenuation_cm2_g("water", 150)
    with pytest.raises(InvalidParameterError):
        mu_per_mm("unobtainium")


def test_cement_and_contrast_mixtures():
    c = cement(0.30)
    baso4 = 0.30 * (0.5884 * 8.511 + 0.1374 * 0.4053 + 0.2742 * 0.1907)  # 60 keV, mass fractions
    assert c.mass_attenuation_cm2_g(60) == pytest.approx(0.70 * 0.1924 + baso4, rel=2e-3)
    assert c.density_g_cm3 == pytest.approx(1 / (0.7 / 1.19 + 0.3 / 4.49))
    assert cement(0.0).mu_per_mm(55) == pytest.approx(mu_per_mm("pmma", 55))
    assert mu_per_mm("cement", 55) > 5 * cortical_bone().mu_per_mm(55) / 2  # radio-opaque
    contrast = iodine_contrast(150)
    expected = (0.2059 + 0.150 * 7.579) / 10  # water + 0.15 g/cm^3 iodine at 60 keV
    assert contrast.mu_per_mm(60) == pytest.approx(expected, rel=1e-9)
    with pytest.raises(InvalidParameterError):
        cement(1.2)
    with pytest.raises(InvalidParameterError):
        iodine_contrast(-5)


def test_hu_conversion_anchor_points():
    e = 55.0
    mu_w = water().mu_per_mm(e)
    hu_bone = 1000 * (cortical_bone().mu_per_mm(70) / water().mu_per_mm(70) - 1)
    got = hu_to_mu(np.array([-1000, -2048, 0, -500, hu_bone]), energy_kev=e)
    np.testing.assert_allclose(got, [0, 0, mu_w, mu_w / 2, cortical_bone().mu_per_mm(e)], rtol=1e-5)
    assert got.dtype == np.float32


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1500, 3000), min_size=2, max_size=20))
def test_hu_conversion_is_monotonic_and_non_negative(values):
    hu = np.sort(np.asarray(values))
    mu = hu_to_mu(hu)
    assert np.all(mu >= 0) and np.all(np.diff(mu) >= -1e-9)


def test_gauges():
    assert gauge_outer_diameter_mm(11) == pytest.approx(3.048)
    assert gauge_outer_diameter_mm(8) == pytest.approx(4.191)
    with pytest.raises(InvalidParameterError, match="unknown needle gauge"):
        gauge_outer_diameter_mm(9)


def test_chord_functions_on_known_rays():
    src = np.array([0.0, -100.0, 0.0])
    rays = np.array([[[0.0, 200.0, 0.0], [0.0, 200.0, 0.5], [0.0, 200.0, 10.0]]])  # 1 x 3 rays
    # Cylinder along x, radius 2: ray through the axis crosses 4 mm; offset 0.5/200*100 in z.
    c = cylinder_chord_mm(src, rays, (-50, 0, 0), (50, 0, 0), 2.0)
    z_at_axis = 0.5 * 100 / 200
    assert c[0, 0] == pytest.approx(4.0)
    assert c[0, 1] == pytest.approx(2 * np.sqrt(4 - z_at_axis**2), rel=1e-3)
    assert c[0, 2] == 0
    # Ray along the cylinder's own axis: its whole length inside.
    along = cylinder_chord_mm(np.array([-100.0, 0, 0]), np.array([[300.0, 0, 0]]), (-50, 0, 0), (50, 0, 0), 2.0)
    assert along[0] == pytest.approx(100.0)
    # Sphere as an ellipsoid.
    e = ellipsoid_chord_mm(src, rays, (0, 0, 0), np.eye(3), (3.0, 3.0, 3.0))
    assert e[0, 0] == pytest.approx(6.0)


def test_trocar_shows_with_its_diameter_and_tip_where_projected():
    carm = lateral_view().with_size(201)  # odd: a pixel row through the shaft axis
    tip = np.array([0.0, 10.0, 0.0])
    trocar = Trocar.along(tip - np.array([0, 40.0, 0]), (0, 1, 0), 40.0, gauge=11)
    np.testing.assert_allclose(trocar.tip_ras_mm, tip, atol=1e-12)
    added = trocar.line_integral(carm, energy_kev=55)
    dmu = steel().mu_per_mm(55) - water().mu_per_mm(55)
    # Lateral beam crosses the horizontal shaft perpendicularly: max chord = outer diameter.
    assert added.max() == pytest.approx(dmu * 3.048, rel=0.02)
    col, row = carm.project(tip)
    shaft_rows = np.nonzero(added.max(axis=1) > 0)[0]
    assert shaft_rows.min() <= row <= shaft_rows.max()
    cols = np.nonzero(added[round(row)] > 0)[0]
    # Left lateral: posterior on the right, so the shaft comes from the right and ends at the tip.
    assert abs(cols.min() - col) <= 1.0
    hollow = Trocar.along(tip - np.array([0, 40.0, 0]), (0, 1, 0), 40.0, gauge=8, inner_diameter_mm=3.0)
    h = hollow.line_integral(carm, energy_kev=55)
    assert h.max() < dmu * 4.191 * 0.8  # walls only
    with pytest.raises(InvalidParameterError):
        Trocar((0, 0, 0), (0, 0, 0))
    with pytest.raises(InvalidParameterError):
        Trocar((0, 0, 0), (0, 0, 10), gauge=11, inner_diameter_mm=3.5)


def test_balloon_and_cement_add_attenuation_in_place():
    carm = ap_view().with_size(129)  # odd: the central pixel looks through the isocentre
    balloon = Balloon((0, 0, 0), (0, 0, 1), length_mm=15.0, diameter_mm=10.0)
    assert balloon.volume_ml == pytest.approx(4 / 3 * np.pi * 7.5 * 25 / 1000)
    b = balloon.line_integral(carm, energy_kev=55)
    dmu = iodine_contrast(150).mu_per_mm(55) - water().mu_per_mm(55)
    centre = carm.project((0, 0, 0))
    r, c = round(centre[1]), round(centre[0])
    assert b[r - 1 : r + 2, c - 1 : c + 2].max() == pytest.approx(dmu * 10.0, rel=0.01)
    # Cement: a voxel box 10 x 8 x 6 mm; AP beam crosses 8 mm of it at the centre.
    n = 24
    frac = np.zeros((n, n, n), np.float32)
    frac[7:17, 8:16, 9:15] = 1.0
    cem = CementVolume(frac, centred_affine(n, 1.0))
    assert cem.volume_ml == pytest.approx(0.48)
    got = cem.line_integral(carm, energy_kev=55)
    dmu_c = cement(0.3).mu_per_mm(55) - water().mu_per_mm(55)
    assert got[r, c] == pytest.approx(dmu_c * 8.0, rel=0.02)
    # Added to a rendered frame.
    soft = AttenuationVolume(np.full((n, n, n), 0.02, np.float32), centred_affine(n, 1.0), 55.0)
    plain = render_drr(soft, carm, check=False)
    both = render_drr(soft, carm, instruments=[balloon, cem], check=False)
    np.testing.assert_allclose(both.line_integral - plain.line_integral, b + got, atol=1e-5)
    with pytest.raises(InvalidParameterError):
        CementVolume(frac * 2, centred_affine(n, 1.0))
    with pytest.raises(InvalidParameterError):
        Balloon((0, 0, 0), (0, 0, 1), length_mm=0, diameter_mm=5)


def test_cement_out_of_view_adds_nothing():
    carm = CArm(isocentre_ras_mm=(0, 0, 400)).with_size(16)
    frac = np.ones((4, 4, 4), np.float32)
    assert not CementVolume(frac, centred_affine(4, 1.0)).line_integral(carm).any()
