"""A short, JSON-able description of a case (what ``kypho info`` prints)."""

from __future__ import annotations

from typing import Any

import numpy as np

from kypho.core.case import Case
from kypho.core.levels import LEVEL_IDS
from kypho.io._common import id_counts
from kypho.io.load import labelled_levels

__all__ = ["case_summary"]

#: Voxels sampled for the HU percentiles (every n-th along i and j; min/max use all voxels).
_PERCENTILE_STRIDE = 2


def case_summary(case: Case) -> dict[str, Any]:
    """Name, source, grid, HU range and labelled levels of ``case``.

    HU percentiles (1st, 50th, 99th) are taken on every second voxel along i and j.
    """
    v = case.volume
    data = v.data
    levels = labelled_levels(case.labels)
    sample = np.asarray(data[::_PERCENTILE_STRIDE, ::_PERCENTILE_STRIDE, :], dtype=np.float32)
    p1, p50, p99 = (float(x) for x in np.percentile(sample, [1, 50, 99]))
    corners = np.array([[0, 0, 0], [n - 1 for n in v.shape]], dtype=float)
    lo, hi = v.ijk_to_ras(corners)
    out: dict[str, Any] = {
        "name": case.name,
        "source": str(case.source) if case.source is not None else None,
        "shape": list(v.shape),
        "spacing_mm": [round(s, 4) for s in v.spacing_mm],
        "axcodes": "".join(v.axcodes),
        "extent_mm": [round(float(abs(b - a)), 1) for a, b in zip(lo, hi, strict=True)],
        "origin_ras_mm": [round(float(x), 3) for x in v.affine[:3, 3]],
        "dtype": str(data.dtype),
        "hu": {
            "min": float(data.min()),
            "max": float(data.max()),
            "p1": round(p1, 1),
            "median": round(p50, 1),
            "p99": round(p99, 1),
        },
        "levels": list(levels),
        "levels_at_edge": list(case.labels.levels_at_edge) if case.labels is not None else [],
        "has_tissue_map": case.tissue is not None,
        "has_truth": case.truth is not None,
    }
    if case.labels is not None:
        counts = id_counts(case.labels.data)
        vox_ml = case.labels.voxel_volume_ml
        by_id = {i: int(n) for i, n in enumerate(counts.tolist()) if n}
        out["level_volume_ml"] = {
            lv: round(by_id.get(LEVEL_IDS[lv], 0) * vox_ml, 2) for lv in case.levels
        }
    return out
