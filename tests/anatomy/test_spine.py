"""SpineAnatomy: measured once, shared, cached; against the phantom's truth (tests only)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from kypho.anatomy import SpineAnatomy
from kypho.errors import InvalidParameterError, NotMeasurableError
from kypho.phantom import FractureSpec, PhantomSpec, make_phantom


@pytest.fixture(scope="module")
def case():
    return make_phantom(PhantomSpec(
        first_level="T11", last_level="L2", voxel_mm=1.0, bone_density="osteoporotic",
        soft_tissue=False, seed=5,
        fractures=(FractureSpec("L1", "wedge", grade=2),
                   FractureSpec("T12", "crush", grade=1, retropulsion_mm=2.5)),
    ))


def _deg(a, b) -> float:
    return float(np.degrees(np.arccos(np.clip(abs(np.dot(a, b)), 0.0, 1.0))))


def test_frames_heights_density_and_pedicles_match_the_truth(case):
    spine = SpineAnatomy.of(case)
    for lv in ("T12", "L1"):
        v, t = spine.vertebra(lv), case.truth.vertebra(lv)
        f = v.frame
        assert _deg(f.superior, t.superior_axis_ras) < 1.5, lv
        assert _deg(f.anterior, t.anterior_axis_ras) < 1.5, lv
        assert np.linalg.norm(np.subtract(f.origin_ras_mm, t.centroid_ras_mm)) < 2.0
        truth_h = (t.height_anterior_mm, t.height_middle_mm, t.height_posterior_mm)
        assert v.heights_mm == pytest.approx(truth_h, abs=1.0)  # 1 mm voxels
        assert v.morphometry.wedge_angle_deg == pytest.approx(t.wedge_angle_deg, abs=3.0)
        # phantom noise 20 HU; 3 mm erosion keeps the shell out
        assert v.trabecular.mean_hu == pytest.approx(t.trabecular_hu, abs=12.0)
        for side, ped in v.pedicles.items():
            tp = next(p for p in t.pedicles if p.side == side)
            assert _deg(ped.axis_ras, tp.axis_ras) < 6.0, (lv, side)
            assert abs(ped.width_mm - tp.width_mm) <= 1.25
        # the cortex lies on the body's surface, the gas cleft is empty (no gas painted)
        assert v.cortex.any() and not v.cleft.any()


def test_measured_once_and_shared(case, monkeypatch):
    import kypho.anatomy.spine as spine_mod

    spine = SpineAnatomy.of(case)
    assert SpineAnatomy.of(case) is spine  # the same object for the same case
    other = SpineAnatomy(case)  # a fresh anatomy measures on its own
    assert other is not spine
    calls = []
    real = spine_mod.measure_morphometry

    def counting(geom):
        calls.append(geom.level)
        return real(geom)

    monkeypatch.setattr(spine_mod, "measure_morphometry", counting)
    v = other.vertebra("L2")
    assert other.vertebra("L2") is v
    frames = {id(v.frame) for _ in range(3)}
    heights = v.heights_mm
    assert v.morphometry.heights_mm == heights and len(frames) == 1
    assert calls == ["L2"]


def test_concurrent_readers_measure_once(case, monkeypatch):
    import kypho.anatomy.spine as spine_mod

    calls = []
    real = spine_mod.extract_vertebra

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(spine_mod, "extract_vertebra", counting)
    spine = SpineAnatomy(case)
    out = []
    threads = [threading.Thread(target=lambda: out.append(spine.vertebra("T11").heights_mm))
               for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == 6 and len(set(out)) == 1 and len(calls) == 1


def test_failures_are_kept_with_their_reason(case, monkeypatch):
    import kypho.anatomy.spine as spine_mod

    calls = []

    def broken(*a, **k):
        calls.append(1)
        raise np.linalg.LinAlgError("singular matrix")

    monkeypatch.setattr(spine_mod, "extract_vertebra", broken)
    v = SpineAnatomy(case).vertebra("T11")
    for _ in range(2):
        with pytest.raises(NotMeasurableError, match=r"finding the body failed.*singular"):
            _ = v.frame
    assert v.status.startswith("not measurable: finding the body failed")
    assert len(calls) == 1 and not v.measured


def test_unlabelled_level_and_missing_labels(case):
    with pytest.raises(InvalidParameterError, match="L4 is not labelled"):
        SpineAnatomy.of(case).vertebra("L4")
    from dataclasses import replace

    from kypho.anatomy import NoLabelsError

    with pytest.raises(NoLabelsError, match="TotalSegmentator"):
        SpineAnatomy(replace(case, labels=None))


def test_the_shared_anatomy_lives_and_dies_with_its_case():
    """SpineAnatomy.of keeps the anatomy on the case: no table keeps old cases alive, a pickled
    case travels without it, and a replaced case starts afresh."""
    import gc
    import pickle
    import weakref
    from dataclasses import replace

    case = make_phantom(PhantomSpec(first_level="L1", last_level="L2", voxel_mm=2.0,
                                    soft_tissue=False))
    spine = SpineAnatomy.of(case)
    assert spine.vertebra("L1").measured
    copy = pickle.loads(pickle.dumps(case))
    assert copy.levels == case.levels and SpineAnatomy.of(copy) is not spine
    assert SpineAnatomy.of(replace(case, name="other")) is not spine
    ref = weakref.ref(case)
    del case, spine, copy
    gc.collect()
    assert ref() is None
