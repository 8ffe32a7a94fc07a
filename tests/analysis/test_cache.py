"""Study fingerprints, the byte-bounded cache, crop-local heat maps (no models needed except where marked)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from modic_core.analysis.cache import ByteLRU, nbytes_of, study_fingerprint
from modic_core.analysis.report import HeatPatch, LevelResult, LocalHeatmap
from modic_core.datasets.synthetic import make_phantom


@pytest.fixture(scope="module")
def study():
    return make_phantom(seed=4, shape=(15, 128, 128), spacing=(4.0, 2.0, 2.0)).to_study()


def _with_t2(study, array):
    return dataclasses.replace(study, t2=study.t2.with_array(array))


def _off_grid_change(study, fraction=0.8, seed=0):
    """T2 with ``fraction`` of its pixels changed, none on the every-4th-row-and-column grid."""
    t2 = study.t2.array.copy()
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(t2.shape)
    mask = ((y % 4 != 0) | (x % 4 != 0)) & (rng.random(t2.shape) < fraction / (15 / 16))
    t2[mask] = t2[mask] * 0.2 + rng.normal(0, 5, mask.sum()).astype(np.float32)
    assert mask.mean() > 0.75
    return _with_t2(study, t2)


def test_fingerprint_covers_every_pixel_and_the_geometry(study):
    fp = study_fingerprint(study)
    assert fp == study_fingerprint(dataclasses.replace(study)) and len(fp) == 32
    # the old key hashed every 4th row and column only: this change left it equal
    assert study_fingerprint(_off_grid_change(study)) != fp
    one = study.t2.array.copy()
    one[7, 1, 1] += 1.0
    assert study_fingerprint(_with_t2(study, one)) != fp
    moved = dataclasses.replace(study.t1, origin=(study.t1.origin[0] + 1.0, *study.t1.origin[1:]))
    assert study_fingerprint(dataclasses.replace(study, t1=moved)) != fp
    finer = dataclasses.replace(study.t2, spacing=(4.0, 2.0, 1.9))
    assert study_fingerprint(dataclasses.replace(study, t2=finer)) != fp


def test_byte_lru_evicts_least_recently_used_by_bytes():
    cache = ByteLRU(max_bytes=1000)
    a, b, c = (np.zeros(100, np.float32) for _ in range(3))  # 400 bytes each
    cache.put("a", a)
    cache.put("b", b)
    assert cache.get("a") is a  # a used: b is now the oldest
    cache.put("c", c)
    assert "b" not in cache and cache.get("a") is a and cache.get("c") is c and cache.nbytes == 800
    cache.put("big", np.zeros(1000, np.float32))  # larger than the budget: not kept, nothing evicted
    assert "big" not in cache and len(cache) == 2
    cache.put("a", np.zeros(10, np.float32))  # replacing a value re-counts it
    assert cache.nbytes == 440
    cache.discard_where(lambda k: k == "c")
    assert cache.nbytes == 40 and len(cache) == 1


def test_nbytes_of_counts_arrays_in_containers_once():
    x = np.zeros((10, 10), np.float32)
    assert nbytes_of({"a": [x, x], "b": (np.zeros(5, np.int64), "text")}) == 400 + 40
    cam = LocalHeatmap((3, 8, 8), (HeatPatch(1, 2, 2, np.ones((2, 3), np.float32)),))
    assert nbytes_of(cam) == cam.nbytes == 24


def test_local_heatmap_is_crop_local_and_pastes_on_demand():
    dense = np.zeros((5, 64, 64), np.float32)
    dense[2, 10:20, 30:40] = np.linspace(0, 1, 100, dtype=np.float32).reshape(10, 10)
    dense[3, 12:14, 31:33] = 0.5
    cam = LocalHeatmap.from_dense(dense)
    assert cam.z_slices == [2, 3] and cam.nbytes == (100 + 4) * 4  # not 5 x 64 x 64 x 4
    assert np.array_equal(cam.dense(), dense)
    assert np.array_equal(cam.plane(2), dense[2]) and cam.plane(0) is None
    lv = LevelResult("L4-L5", (30, 10, 40, 20), 0.9, {"MC0": 1.0, "MC1": 0.0, "MC2": 0.0}, "MC0", (2, 3), dense)
    assert isinstance(lv.gradcam, LocalHeatmap)  # a dense map given to LevelResult is kept crop-local
    assert lv.heatmap.dtype == np.float32 and lv.heatmap.shape == dense.shape and np.array_equal(lv.heatmap, dense)
    with pytest.raises(ValueError):
        cam.patches[0].values[0, 0] = 2.0  # shared between reports: read-only


# --------------------------------------------------------------------------- with the shipped models


def _models():
    from modic_core.analysis.analyze import models_available

    return models_available()


needs_models = pytest.mark.skipif(not (_models()["detector"] and _models()["zscore"]), reason="shipped weights missing")


@needs_models
def test_analyze_of_a_study_with_most_t2_pixels_changed_is_its_own(study):
    from modic_core.analysis.analyze import analyze

    a = analyze(study, "zscore", 0.3)
    b = analyze(_off_grid_change(study), "zscore", 0.3)
    assert a.levels and b.levels
    pa = np.array([list(lv.probabilities.values()) for lv in a.levels])
    pb = np.array([list(lv.probabilities.values()) for lv in b.levels])
    assert pa.shape != pb.shape or not np.allclose(pa, pb, atol=1e-4)  # not the previous study's report


@needs_models
def test_shared_cache_serves_a_new_analysis_without_network_and_stays_in_budget(study, monkeypatch):
    from modic_core.analysis.analyze import StudyAnalysis
    from modic_core.classification.infer import Classifier
    from modic_core.detection.infer import Detector

    calls = {"det": 0, "cls": 0}
    orig_det, orig_cls = Detector.detect_slices, Classifier.predict
    monkeypatch.setattr(Detector, "detect_slices", lambda self, *a, **k: calls.__setitem__("det", calls["det"] + 1) or orig_det(self, *a, **k))
    monkeypatch.setattr(Classifier, "predict", lambda self, *a, **k: calls.__setitem__("cls", calls["cls"] + 1) or orig_cls(self, *a, **k))
    cache = ByteLRU(max_bytes=8 * 2**20)
    r1 = StudyAnalysis(study, cache=cache).report("zscore", 0.5)
    # T1, and T2 once for the alignment check (one frame of reference, discs in line: no through-plane passes)
    assert calls == {"det": 2, "cls": 1}
    r2 = StudyAnalysis(dataclasses.replace(study), cache=cache).report("zscore", 0.5)  # same pixels, new objects
    assert calls == {"det": 2, "cls": 1}
    assert [lv.probabilities for lv in r1.levels] == [lv.probabilities for lv in r2.levels]
    StudyAnalysis(study, cache=cache).report("zscore", 0.5, gradcam=False)  # served by the Grad-CAM result
    assert calls == {"det": 2, "cls": 1}
    StudyAnalysis(_off_grid_change(study), cache=cache).report("zscore", 0.5)
    # new content: detection (T1, T2) and grading run again; when the header check fails, also the native
    # and the moved T2, all slices of T1 and T2 (through-plane) and of a T2 moved through-plane: 6 to 8 more
    assert calls["det"] in (4, 8, 10) and calls["cls"] == 2
    assert 0 < cache.nbytes <= cache.max_bytes
    dense = study.t1.array.nbytes
    assert all(lv.gradcam.nbytes < dense / 10 for lv in r1.levels)


def test_byte_lru_keep_newest_and_remeasure():
    """The dashboard's session store mode: the newest entry stays even over budget, and values that
    grew after ``put`` are measured again by ``trim(remeasure=True)``, shared arrays counted once."""
    cache = ByteLRU(max_bytes=1000, keep_newest=True)
    shared = np.zeros(100, np.float32)  # 400 bytes held by both values below
    a, b = [shared], [shared]
    cache.put("a", a)
    cache.put("b", b)
    cache.trim(remeasure=True)
    assert cache.keys() == ["a", "b"] and cache.nbytes == 400
    b.append(np.zeros(200, np.float32))  # b grows by 800 bytes: 1200 in all, a goes
    cache.trim()
    assert cache.keys() == ["a", "b"]  # not re-measured: sizes as stored
    cache.trim(remeasure=True)
    assert cache.keys() == ["b"] and cache.nbytes == 1200  # over budget alone, but the newest
    cache.put("huge", np.zeros(1000, np.float32))
    assert cache.keys() == ["huge"] and cache.nbytes == 4000


def test_the_session_store_is_a_byte_lru():
    from modic_core.ui.session import AnalysisStore

    store = AnalysisStore(lambda study, fingerprint=None: [np.zeros(10, np.float32)], max_bytes=100)
    assert isinstance(store._cache, ByteLRU) and store._cache.keep_newest
