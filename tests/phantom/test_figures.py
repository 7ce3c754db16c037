"""The phantom's report section and pictures."""

from __future__ import annotations

import numpy as np
import pytest

from kypho.core.case import Case
from kypho.errors import InvalidParameterError
from kypho.phantom import lateral_projection, phantom_section


def test_section_has_the_truth_table_and_four_pictures(wedge_l1):
    sec = phantom_section(wedge_l1)
    assert sec.key == "phantom"
    for level in ("T12", "L1", "L2"):
        assert f"<td>{level}</td>" in sec.html
    assert 'class="flag"' in sec.html  # the fractured level stands out
    assert len(sec.figures) == 4
    assert all(f.png.startswith(b"\x89PNG") for f in sec.figures)


def test_lateral_projection_sees_bone(normal_t12_l2):
    img, extent = lateral_projection(normal_t12_l2)
    vol = normal_t12_l2.volume
    assert img.shape == (vol.shape[2], vol.shape[1])
    assert extent[1] == pytest.approx(vol.shape[1] * vol.spacing_mm[1])
    # The column is brighter (more attenuating) than the air beside it.
    assert img.max() > 5 * np.median(img)


def test_section_refuses_a_case_without_truth(normal_t12_l2):
    with pytest.raises(InvalidParameterError, match="not a phantom"):
        phantom_section(Case(volume=normal_t12_l2.volume))
