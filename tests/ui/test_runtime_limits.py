"""The bound on concurrent analyses per process (modic_core/analysis/slots.py) and what a waiting
dashboard session sees (modic_core/ui/runtime.py)."""
from __future__ import annotations

import threading
import time

import pytest
from streamlit.testing.v1 import AppTest

from modic_core import settings
from modic_core.analysis.slots import AnalysisSlots, analysis_slot, notify_waiting, process_slots
from modic_core.ui.runtime import wait_message


def _run_threads(n, target):
    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a caller never got a slot"


def test_at_most_n_run_at_once_and_the_others_wait_then_complete():
    slots = AnalysisSlots(2, poll_s=0.05)
    lock = threading.Lock()
    now = {"running": 0, "peak": 0}
    done, waited = [], {}

    def work(i):
        seen = []
        with slots.hold(on_wait=seen.append):
            with lock:
                now["running"] += 1
                now["peak"] = max(now["peak"], now["running"])
            time.sleep(0.15)
            with lock:
                now["running"] -= 1
        waited[i] = seen
        done.append(i)

    _run_threads(6, work)
    assert now["peak"] == 2
    assert sorted(done) == list(range(6))
    queued = [s for s in waited.values() if s]
    assert len(queued) >= 3, waited  # with 2 slots, at least 4 of 6 callers could not start at once
    for seen in queued:
        assert seen[-1] == 0 and all(a >= 1 for a in seen[:-1]), seen  # "N ahead" while waiting, 0 when started
    assert slots.stats().running == 0 and slots.stats().waiting == 0


def _hold_one(slots: AnalysisSlots) -> tuple[threading.Event, threading.Thread]:
    """A thread holding one of ``slots`` until the returned event is set (returns once it holds it)."""
    release = threading.Event()

    def holder():
        with slots.hold():
            release.wait(10)

    h = threading.Thread(target=holder)
    h.start()
    while slots.stats().running == 0:
        time.sleep(0.01)
    return release, h


def test_waiters_are_served_in_arrival_order_and_count_who_is_ahead():
    slots = AnalysisSlots(1, poll_s=0.02)
    first_seen: dict[int, int] = {}
    order = []
    release, h = _hold_one(slots)

    def waiter(i):
        def on_wait(ahead):
            first_seen.setdefault(i, ahead)
        with slots.hold(on_wait=on_wait):
            order.append(i)

    ws = []
    for i in range(3):  # queued one after the other
        ws.append(threading.Thread(target=waiter, args=(i,)))
        ws[-1].start()
        while slots.stats().waiting < i + 1:
            time.sleep(0.01)
    assert first_seen == {0: 1, 1: 2, 2: 3}
    release.set()
    for t in [h, *ws]:
        t.join(10)
    assert order == [0, 1, 2]


def test_a_holder_taking_a_slot_again_does_not_wait_for_itself():
    slots = AnalysisSlots(1, poll_s=0.02)
    with slots.hold():
        with slots.hold(on_wait=lambda a: pytest.fail("waited for its own slot")):
            assert slots.stats().running == 1
    assert slots.stats().running == 0


def test_a_waiter_that_is_stopped_leaves_the_queue():
    slots = AnalysisSlots(1, poll_s=0.02)

    class Stop(Exception):
        pass

    def stop(ahead):
        raise Stop  # what Streamlit does to the script of a user who moved on

    got, release = threading.Event(), threading.Event()

    def holder():
        with slots.hold():
            got.set()
            release.wait(10)

    h = threading.Thread(target=holder)
    h.start()
    assert got.wait(10)
    with pytest.raises(Stop):
        with slots.hold(on_wait=stop):
            pass
    assert slots.stats().waiting == 0
    release.set()
    h.join(10)
    with slots.hold(on_wait=lambda a: pytest.fail("the slot should be free")):
        pass


def test_the_process_bound_is_a_setting(monkeypatch):
    monkeypatch.delenv("MODIC_MAX_CONCURRENT_ANALYSES", raising=False)
    assert settings.max_concurrent_analyses() == 2
    assert process_slots().limit == 2
    monkeypatch.setenv("MODIC_MAX_CONCURRENT_ANALYSES", "3")
    assert process_slots().limit == 3 and process_slots() is process_slots()
    for bad in ("0", "-1", "1.5", "two"):
        monkeypatch.setenv("MODIC_MAX_CONCURRENT_ANALYSES", bad)
        with pytest.raises(ValueError):
            settings.max_concurrent_analyses()


def _hold_process_slot_for(seconds: float) -> threading.Thread:
    """Another 'session' holds the only process slot for ``seconds`` (returns once it holds it)."""
    got = threading.Event()

    def run():
        with analysis_slot():
            got.set()
            time.sleep(seconds)

    t = threading.Thread(target=run)
    t.start()
    assert got.wait(10)
    return t


def test_library_waits_for_a_slot_but_a_report_from_held_results_does_not(monkeypatch):
    from modic_core.analysis.analyze import StudyAnalysis, models_available
    from modic_core.datasets.demo import list_demo_cases, load_demo

    if not models_available()["detector"] or not models_available()["zscore"]:
        pytest.skip("shipped weights missing")
    monkeypatch.setenv("MODIC_MAX_CONCURRENT_ANALYSES", "1")
    study = load_demo([c for c in list_demo_cases() if c.kind == "spider2d"][0].name)
    analysed = StudyAnalysis(study)
    analysed.report("zscore", 0.5)

    holder = _hold_process_slot_for(3.0)
    t0 = time.perf_counter()
    analysed.report("zscore", 0.8)  # a threshold change: results held, no slot needed
    assert time.perf_counter() - t0 < 1.0
    seen = []
    with notify_waiting(seen.append):
        StudyAnalysis(study).report("zscore", 0.5)  # must compute: waits for the holder
    assert time.perf_counter() - t0 > 2.0
    assert seen[0] == 1 and seen[-1] == 0
    holder.join(10)


def _waiting_page():
    import streamlit as st

    from modic_core.analysis.slots import analysis_slot
    from modic_core.ui.runtime import waiting_notice

    with waiting_notice():
        with analysis_slot():
            st.write("analysed")


def test_a_waiting_session_sees_the_queue_in_a_status_box_and_then_runs(monkeypatch):
    assert wait_message(2) == "Waiting for another analysis to finish (2 ahead)…"
    monkeypatch.setenv("MODIC_MAX_CONCURRENT_ANALYSES", "1")
    calls = []
    import streamlit as st

    real_status = st.status

    def spy(label, **kw):  # the label the user reads while waiting (later updated in place)
        calls.append(label)
        return real_status(label, **kw)

    monkeypatch.setattr(st, "status", spy)
    holder = _hold_process_slot_for(1.5)
    at = AppTest.from_function(_waiting_page, default_timeout=30).run()
    holder.join(10)
    assert not at.exception
    assert calls == ["Waiting for another analysis to finish (1 ahead)…"]
    (box,) = at.status
    assert box.state == "complete" and box.label.startswith("Waited ") and "other analyses" in box.label
    assert [m.value for m in at.markdown] == ["analysed"]


def test_no_status_box_when_a_slot_is_free(monkeypatch):
    monkeypatch.setenv("MODIC_MAX_CONCURRENT_ANALYSES", "1")
    at = AppTest.from_function(_waiting_page, default_timeout=30).run()
    assert not at.exception and len(at.status) == 0
    assert [m.value for m in at.markdown] == ["analysed"]


def test_concurrent_first_loads_of_the_viewer_make_one_figure_folder(tmp_path, monkeypatch):
    import shutil
    import tempfile

    from modic_core.io import tempdirs
    from modic_core.ui import figure

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(tempdirs, "_process_dirs", {})
    real_copy = shutil.copy2

    def slow_copy(src, dst):  # widen the window in which several first loads overlap
        time.sleep(0.05)
        return real_copy(src, dst)

    monkeypatch.setattr(figure.shutil, "copy2", slow_copy)
    got, start = [], threading.Barrier(5)

    def first_load(i):
        start.wait()
        got.append(figure.component_dir())

    _run_threads(5, first_load)
    made = [p for p in tmp_path.iterdir() if p.name.startswith("modic_figure_")]
    assert len(made) == 1, made
    assert set(got) == {made[0]}
    assert {"index.html", "viewer.js", "plotly.min.js"} <= {p.name for p in made[0].iterdir()}


# --------------------------------------------------------------------------- memory of one analysis
# A 64 Mi-voxel pair peaked at 2.95 GiB in the CLI; these steps each made full-size copies they did not
# need. tracemalloc sees numpy's allocations (not torch's nor SimpleITK's), in units of one series.


def _traced_peak(f) -> int:
    import tracemalloc

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        f()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _series(seed=0, shape=(32, 256, 256)):
    import numpy as np

    from modic_core.volume import Volume

    rng = np.random.default_rng(seed)
    arr = rng.random(shape, dtype=np.float32) * 100
    arr[:, 32:224, 40:216] += 500  # a "body" covering about half of each slice
    return Volume(arr, (4.0, 1.0, 1.0))


def test_zscore_makes_one_full_size_copy():
    import numpy as np

    from modic_core.normalization.methods import normalize

    vol = _series()
    mask = vol.array > 300
    assert 0.4 < mask.mean() < 0.6
    peak = _traced_peak(lambda: normalize(vol, "zscore", mask=mask))
    assert peak < 1.1 * vol.array.nbytes, peak / vol.array.nbytes  # was 1.5: values + their float64 deviations
    out = normalize(vol, "zscore", mask=mask).array
    v = vol.array[mask]
    expected = ((vol.array - np.float32(v.mean(dtype=np.float64))) * np.float32(1 / v.std(dtype=np.float64)))
    assert np.array_equal(out, expected.astype(np.float32))


def test_resampling_t2_copies_it_once():
    from modic_core.pairing.study import resample_to
    from modic_core.volume import Volume

    t1 = _series(1)
    t2 = Volume(_series(2).array, (4.0, 1.0, 1.0), origin=(0.5, 0.3, 0.2))
    peak = _traced_peak(lambda: resample_to(t2, t1))
    assert peak < 2.2 * t1.array.nbytes, peak / t1.array.nbytes  # was 2.9: the result was copied again


def test_crops_copy_only_the_slices_they_need():
    import numpy as np
    import torch

    from modic_core.classification.crops import CropSpec, extract_crops

    t1, t2 = _series(3).array, _series(4).array
    boxes = np.array([[100, 100, 150, 120], [90, 150, 140, 170]], float)
    peak = _traced_peak(lambda: extract_crops(t1, t2, boxes, [10, 20], (1.0, 1.0), CropSpec(depth=3)))
    assert peak < 0.2 * t1.nbytes, peak / t1.nbytes  # was 4: both volumes stacked, then copied again
    crops = extract_crops(t1, t2, boxes, [10, 20], (1.0, 1.0), CropSpec(depth=3))
    assert crops.shape == (2, 2, 3, 48, 56) and crops.dtype == torch.float32


def test_a_caller_stopped_just_as_it_gets_its_slot_frees_it():
    slots = AnalysisSlots(1, poll_s=0.02)
    release, h = _hold_one(slots)
    threading.Timer(0.1, release.set).start()

    class Stop(BaseException):  # Streamlit's StopException is a BaseException too
        pass

    def stop_when_starting(ahead):
        if ahead == 0:
            raise Stop  # the user moved on at the moment the slot came free

    with pytest.raises(Stop):
        with slots.hold(on_wait=stop_when_starting):
            pass
    h.join(10)
    assert slots.stats() == type(slots.stats())(1, 0, 0)
    with slots.hold(on_wait=lambda a: pytest.fail("the slot leaked")):
        pass


def test_the_dashboard_sweeps_stale_temp_folders_when_it_starts(tmp_path, monkeypatch):
    import os
    import subprocess
    import sys
    import tempfile

    from modic_core.io import tempdirs
    from tests.app import fakes
    from tests.app.helpers import APP

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(tempdirs, "_swept", False)  # as in a fresh server process
    monkeypatch.setattr(tempdirs, "_process_dirs", {})
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = tmp_path / "modic_upload_killed"
    left.mkdir()
    (left / "big.dcm").write_bytes(b"x" * 1000)
    (left / tempdirs.OWNER_FILE).write_text(f"pid={dead.pid} start=\n")
    live = tmp_path / "modic_upload_live"
    live.mkdir()
    (live / tempdirs.OWNER_FILE).write_text(f"pid={os.getpid()} start={tempdirs._start_ticks(os.getpid()) or ''}\n")
    fakes.uninstall()
    fakes.install()
    try:
        at = AppTest.from_file(APP, default_timeout=90).run()
    finally:
        fakes.uninstall()
    assert not at.exception
    assert not left.exists() and live.is_dir()
