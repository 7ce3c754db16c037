import numpy as np
import pytest

from kypho.core import Volume, affine_from_spacing
from kypho.core.reslice import plane_through, reslice


@pytest.mark.parametrize("view", ["sagittal", "coronal", "axial"])
@pytest.mark.parametrize("flip", [False, True])
def test_bright_voxel_lands_where_the_plane_says(view, flip):
    data = np.full((20, 24, 28), -1000.0, np.float32)
    ijk = (7, 15, 9)
    data[ijk] = 2000.0
    affine = affine_from_spacing((1.0, 1.0, 1.0), (-10, 5, 30))
    if flip:  # LPS-like voxel axes: i runs to the left, j posterior
        affine = affine @ np.diag([-1.0, -1.0, 1.0, 1.0])
    vol = Volume(data, affine)
    p = vol.ijk_to_ras(ijk)
    plane = plane_through(vol, view, p)
    img = reslice(vol, plane, order=0)
    rc = np.unravel_index(np.argmax(img), img.shape)
    assert np.allclose(rc, plane.to_pixel(p), atol=0.51)
    # Superior is up in sagittal/coronal pictures: a more superior point has a smaller row.
    if view != "axial":
        above = plane.to_pixel(p + np.array([0, 0, 5.0]))
        assert above[0] < plane.to_pixel(p)[0]


def test_curved_plane_follows_an_off_midline_curve():
    """A bright rod that drifts 20 mm sideways stays in a sagittal slice that follows it."""
    from kypho.core.reslice import plane_through, reslice
    from kypho.core.volume import Volume, affine_from_spacing

    data = np.full((60, 20, 50), -1000.0, dtype=np.float32)
    for k in range(50):
        x = 20 + round(20 * k / 49)  # rod centre drifts from x=20 to x=40 mm
        data[x - 1 : x + 2, 8:12, k] = 1000.0
    vol = Volume(data, affine_from_spacing((1.0, 1.0, 1.0)))
    curve = np.array([[20.0, 10.0, 0.0], [40.0, 10.0, 49.0]])
    flat = reslice(vol, plane_through(vol, "sagittal", curve[0]))
    bent = reslice(vol, plane_through(vol, "sagittal", curve[0], follow_ras_mm=curve))
    assert (bent > 500).any(axis=1).sum() >= 48  # the rod is seen on (nearly) every row
    assert (flat > 500).any(axis=1).sum() <= 6  # a flat plane catches only the crossing
