"""The dashboard with the shipped models (skipped until the detector and the z-score classifier are installed).

Checks the main path end to end: the first demo case opens analysed, a threshold change redraws
without running a network (the StudyAnalysis caches are untouched), a method switch reruns only
the classifier, the phantom DICOM pair uploads and is analysed, and the teaching page predicts.
"""
from __future__ import annotations


import pytest
from streamlit.testing.v1 import AppTest

from tests.app.helpers import APP, default_method, phantom_files
from tests.app.test_pages import level_table


def _ready() -> tuple[bool, list[str]]:
    try:
        import importlib

        m = importlib.import_module("modic_core.analysis.analyze").models_available()
    except Exception:  # noqa: BLE001
        return False, []
    methods = [k for k, v in m.items() if k != "detector" and v]
    return bool(m.get("detector")) and "zscore" in methods, methods


READY, METHODS = _ready()
pytestmark = pytest.mark.skipif(not READY, reason="trained detector and z-score classifier not installed in weights/")


def _store(at: AppTest):
    return at.session_state["_modic_analysis_store"]


def test_real_models_demo_threshold_method_and_upload():
    from modic_core.ui.backend import set_backend_factory

    set_backend_factory(None)  # the shipped pipeline
    at = AppTest.from_file(APP, default_timeout=240)
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    table = level_table(at)
    assert len(table) > 0 and set(table["prediction"]) <= {"MC0", "MC1", "MC2"}
    assert set(table["true grade"]) <= {"MC0", "MC1", "MC2", "MC3", "—"}  # the demo's radiologist grades, beside
    assert set(table["true grade"]) != {"—"}
    store = _store(at)
    sa = store.peek(store.keys()[-1])
    det = sa.detections()

    at.slider(key="threshold").set_value(0.95).run()
    assert not at.exception and not at.error
    assert sa.detections() is det  # the cached detection: no network ran
    assert len(level_table(at)) <= len(table)

    d = default_method()
    other = [m for m in METHODS if m != d]
    if other:
        at.slider(key="threshold").set_value(0.5).run()
        at.radio(key="normalization").set_value(other[0]).run()
        assert not at.exception and not at.error
        assert sa.detections() is det
        assert {k[0] for k in sa._cls} >= {d, other[0]}
        assert all(lv.gradcam is None or lv.gradcam.nbytes < 4 * 2**20 for lv in sa.report(d, 0.5).levels)  # crop-local

    at.radio(key="cv_source").set_value("Upload").run()
    at.file_uploader(key="cv_upload").set_value(phantom_files()).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("T1 TSE SAG" in m.value for m in at.markdown)


def test_real_models_teaching_page():
    from modic_core.ui.backend import set_backend_factory

    set_backend_factory(None)  # the shipped pipeline
    at = AppTest.from_file(APP, default_timeout=240)
    at.run()
    at.switch_page("pages/teaching.py").run()
    at.radio(key="tp_mode").set_value("Synthetic phantom explorer").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    text = "\n".join(m.value for m in at.markdown)
    assert "Truth: **MC2** at L4-L5" in text or any("found no region" in w.value for w in at.warning)


def test_real_models_misaligned_pair_is_flagged_in_red_and_levels_still_listed():
    from pathlib import Path

    from modic_core.ui.backend import set_backend_factory

    set_backend_factory(None)  # the shipped pipeline
    fix = Path(__file__).resolve().parents[1] / "fixtures" / "spider_misaligned" / "9"
    files = [(f"{k}.mha", (fix / f"{k}.mha").read_bytes(), "application/octet-stream") for k in ("t1", "t2")]
    at = AppTest.from_file(APP, default_timeout=240)
    at.run()
    at.radio(key="cv_source").set_value("Upload").run()
    at.file_uploader(key="cv_upload").set_value(files).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any("NOT aligned" in e and "unreliable" in e for e in errors), errors
    assert len(level_table(at)) > 0  # the levels are still shown, marked by the red warning
    checker = [t for t in at.toggle if str(t.key).startswith("cv_show_checker_")]
    assert len(checker) == 1 and checker[0].value is True  # the checkerboard opens by itself on a failed check
    assert not any("DICOM SR" in b.label for b in at.get("download_button"))
