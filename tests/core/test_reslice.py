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
