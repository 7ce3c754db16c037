"""Vertebra labels from TotalSegmentator, when its package is installed (it is not a dependency).

TotalSegmentator (Wasserthal et al., Radiology: AI 2023, https://github.com/wasserth/TotalSegmentator)
segments the vertebrae C1-S1 in its default task ``total``; its Python API
``totalsegmentator.python_api.totalsegmentator(input, output, ml=True, roi_subset=[...])`` returns
a multilabel NIfTI image on the input's grid.  Its ids are mapped to kypho's by name
(:data:`kypho.core.levels.TOTALSEGMENTATOR_V2_IDS`).  It downloads its model weights on first use.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from kypho.anatomy.spine import totalsegmentator_command
from kypho.core.case import Case
from kypho.core.levels import TOTALSEGMENTATOR_V2_IDS
from kypho.core.volume import LabelMap
from kypho.errors import KyphoError

__all__ = [
    "SegmentationError",
    "segment_vertebrae",
    "totalsegmentator_available",
    "totalsegmentator_command",
]


class SegmentationError(KyphoError):
    """TotalSegmentator is missing or failed."""


def totalsegmentator_available() -> bool:
    """True when the ``totalsegmentator`` package can be imported (checked without importing)."""
    try:
        return importlib.util.find_spec("totalsegmentator") is not None
    except (ImportError, ValueError):
        return False


def segment_vertebrae(case: Case, *, fast: bool = False) -> LabelMap:
    """Segment the vertebrae of ``case`` with TotalSegmentator and return kypho labels.

    Parameters
    ----------
    case : Case
        The CT (HU) to segment.
    fast : bool
        Use TotalSegmentator's 3 mm model (``--fast``).

    Raises
    ------
    SegmentationError
        If the package is not installed or the segmentation fails.
    """
    if not totalsegmentator_available():
        raise SegmentationError(
            "the totalsegmentator package is not installed (pip install TotalSegmentator); "
            f"or run `{totalsegmentator_command()}` elsewhere and pass the labels with --labels"
        )
    import nibabel as nib
    from totalsegmentator.python_api import totalsegmentator  # type: ignore[import-not-found]

    vol = case.volume
    img = nib.Nifti1Image(np.asarray(vol.data), np.asarray(vol.affine))
    rois = [f"vertebrae_{lv}" for lv in TOTALSEGMENTATOR_V2_IDS]
    try:
        seg = totalsegmentator(img, None, ml=True, roi_subset=rois, fast=fast, quiet=True)
    except Exception as exc:  # any failure inside the third-party tool
        raise SegmentationError(f"TotalSegmentator failed: {type(exc).__name__}: {exc}") from exc
    data = np.asarray(seg.dataobj)
    if data.shape != vol.shape:
        raise SegmentationError(
            f"TotalSegmentator returned a {data.shape} label map for a {vol.shape} CT"
        )
    id_to_level = {int(i): lv for lv, i in TOTALSEGMENTATOR_V2_IDS.items()}
    return LabelMap.from_mapping(np.rint(data).astype(np.int32), vol.affine, id_to_level)
