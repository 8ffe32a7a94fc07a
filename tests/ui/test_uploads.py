"""Upload pairing, the session store, the error guard and the teaching helpers."""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pytest

from modic_core import InputError
from modic_core.io import SeriesInfo
from modic_core.ui.guard import guarded, safe_call
from modic_core.analysis.cache import study_fingerprint
from modic_core.ui.session import AnalysisStore, models_status
from modic_core.export.labels import study_label
from modic_core.export.style import GENERIC_ERROR
from modic_core.ui.uploads import auto_pair, check_upload_size, list_upload_series, load_pair, upload_key

ROOT = Path(__file__).resolve().parents[2]
PHANTOM = ROOT / "demo" / "phantom_dicom"


def info(i, desc, seq, orient="sagittal", n=15):
    return SeriesInfo(i, f"k{i}", desc, n, orient, seq, None, None, 256, 256, "dicom", i + 1)


def uploads(which=("t1", "t2")):
    return [(f"{s}_{f.name}", f.read_bytes()) for s in which for f in sorted((PHANTOM / s).glob("*.dcm"))]


def test_auto_pair_typical_lumbar_protocol():
    infos = [
        info(0, "LOC 3-plane", "unknown", "axial", 3),
        info(1, "T2 TSE SAG", "T2"),
        info(2, "T1 TSE SAG", "T1"),
        info(3, "T2 TSE AX", "T2", "axial", 30),
        info(4, "STIR SAG", "T2"),
    ]
    p = auto_pair(infos)
    assert (p.t1, p.t2, p.confident) == (2, 1, True)


def test_auto_pair_unsure_without_sequence_info():
    p = auto_pair([info(0, "series a", "unknown"), info(1, "series b", "unknown")])
    assert {p.t1, p.t2} == {0, 1} and not p.confident and "check" in p.reason


def test_auto_pair_needs_two_series():
    with pytest.raises(InputError, match="Only one series"):
        auto_pair([info(0, "T1 SAG", "T1")])
    with pytest.raises(InputError, match="Only one series"):
        auto_pair([])


def test_upload_listing_pairing_and_loading_the_phantom():
    files = uploads()
    infos = list_upload_series(files)
    p = auto_pair(infos)
    assert p.confident
    study = load_pair(files, infos[p.t1], infos[p.t2])
    assert study.t1.meta.sequence == "T1" and study.t2.meta.sequence == "T2" and study.shape == (15, 192, 192)
    with pytest.raises(InputError, match="same series"):
        load_pair(files, infos[p.t1], infos[p.t1])


def test_upload_errors():
    with pytest.raises(InputError, match="Nothing was uploaded"):
        list_upload_series([])
    with pytest.raises(InputError, match="not a medical image"):
        list_upload_series([("x.dcm", np.random.default_rng(0).bytes(2048))])


def test_upload_size_limit(monkeypatch):
    monkeypatch.setenv("MODIC_MAX_UPLOAD_MB", str(1000 / 2**20))
    with pytest.raises(InputError, match="too large"):
        check_upload_size([("a", b"x" * 600), ("b", b"x" * 600)])
    assert check_upload_size([("a", b"x" * 600)]) == 600


def test_upload_key_is_stable_and_content_free():
    class F:
        def __init__(self, fid, name, size):
            self.file_id, self.name, self.size = fid, name, size

    k1 = upload_key([F("id1", "a.dcm", 10)])
    assert k1 == upload_key([F("id1", "a.dcm", 10)]) and k1 != upload_key([F("id2", "a.dcm", 10)])


def test_fingerprint_and_short_id_are_hashes():
    from modic_core.datasets.demo import load_demo

    s = load_demo("phantom-dicom")
    fp = study_fingerprint(s)
    assert len(fp) == 32 and fp == study_fingerprint(s)
    sid = study_label(s, fp)
    assert len(sid) == 8 and int(sid, 16) >= 0
    assert sid not in (s.t1.meta.study_hash or "")  # a hash of the salted hash, not the same string
    s2 = dataclasses.replace(s, t1=s.t1.with_array(s.t1.array + 1))
    assert study_fingerprint(s2) != fp


class _Sized:
    def __init__(self, study, nbytes):
        self.study, self._n = study, nbytes

    @property
    def nbytes(self):
        return self._n

    def rebind(self, study):
        self.study = study


def test_analysis_store_is_bounded_in_bytes_and_keeps_the_newest():
    made = []

    def factory(study, fingerprint=None):
        made.append(fingerprint)
        return _Sized(study, 40)

    store = AnalysisStore(factory, max_bytes=100)
    a = store.get("a", "study-a")
    assert store.get("a", "study-a") is a and made == ["a"]
    store.get("b", "study-b")
    store.get("a", "study-a")  # refresh a: b is now the least recently used
    store.get("c", "study-c")  # 120 bytes > 100: b goes
    assert "a" in store and "c" in store and "b" not in store and store.nbytes == 80
    c = store.get("c", "study-c")
    c._n = 95  # the analysis on screen grows (another method's results): the older one goes, it stays
    store.trim()
    assert store.keys() == ["c"]
    c._n = 150  # over the whole budget alone: still kept, it is the newest
    store.trim()
    assert store.keys() == ["c"]
    store.get("d", "study-d")
    assert store.keys() == ["d"] and made == ["a", "b", "c", "d"]
    # a new Study object with the same fingerprint replaces the old one (one copy of the arrays alive)
    new_d = "study-d (re-uploaded)"
    assert store.get("d", new_d).study is new_d


def test_models_status_reads_the_weights_folder(tmp_path, monkeypatch):
    from modic_core.ui.backend import default_backend

    monkeypatch.setenv("MODIC_WEIGHTS_DIR", str(tmp_path))
    (tmp_path / "classifier_minmax.pt").write_bytes(b"x")
    s = models_status(default_backend())
    assert not s["available"] and not s["detector"] and s["classifiers"]["minmax"]
    (tmp_path / "detector.pt").write_bytes(b"x")
    s = models_status(default_backend())
    assert s["available"] and s["detector"]
    assert [m for m, ok in s["classifiers"].items() if ok] == ["minmax"]
    assert set(s["classifiers"]) == set(__import__("modic_core.normalization.methods", fromlist=["x"]).NORMALIZATIONS)


def test_guard_shows_input_errors_and_hides_the_rest(caplog):
    shown = []
    with guarded("testing", show=shown.append) as g:
        raise InputError("The T1 series is blank.")
    assert not g.ok and g.kind == "input" and shown == ["The T1 series is blank."]
    caplog.set_level(logging.INFO, logger="modic_core.app")
    with guarded("testing", show=shown.append) as g:
        raise KeyError("Doe^John 1970-01-01")
    assert g.kind == "unexpected" and shown[-1] == GENERIC_ERROR
    assert "KeyError" in caplog.text and "Doe" not in caplog.text
    with guarded("testing", show=shown.append) as g:
        pass
    assert g.ok

    class Control(BaseException):  # like Streamlit's st.stop / rerun
        pass

    with pytest.raises(Control):
        with guarded("testing", show=shown.append):
            raise Control()
    assert safe_call(lambda: 1 / 0, "dividing", fallback=b"")() == b""


def test_teaching_phantom_signal_follows_modic_types():
    from modic_core.ui.teaching import match_level, signal_chart, signal_summary, teaching_phantom

    expected = {1: ("<", ">"), 2: (">", None), 3: ("<", "<")}
    for grade, (t1, t2) in expected.items():
        ph = teaching_phantom("L4-L5", grade, "both", seed=5)
        s = signal_summary(ph, "L4-L5")
        assert s["n_lesion_voxels"] > 0
        assert (s["T1"]["ratio"] < 1) if t1 == "<" else (s["T1"]["ratio"] > 1)
        if t2:
            assert (s["T2"]["ratio"] < 1) if t2 == "<" else (s["T2"]["ratio"] > 1)
        assert len(signal_chart(s).data) == 2
    ph0 = teaching_phantom("L4-L5", 0, "both", seed=5)
    assert signal_summary(ph0, "L4-L5")["n_lesion_voxels"] == 0
    assert len(signal_chart(signal_summary(ph0, "L4-L5")).data) == 1
    with pytest.raises(ValueError):
        teaching_phantom("C5-C6", 1)
    truth = ph0.level("L4-L5")

    class L:
        def __init__(self, box):
            self.box = box

    near, far = L(tuple(np.add(truth.box, (1, 1, 1, 1)))), L((0, 0, 5, 5))
    assert match_level([far, near], truth.box) is near and match_level([far], truth.box) is None
