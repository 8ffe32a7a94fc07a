"""The browser benchmark's bookkeeping (modic_core/bench/browser.py): an ``--only`` run merged into the file."""
from __future__ import annotations

import pytest

from modic_core.bench.browser import TARGETS_MS, merged, run
from modic_core.schema import BrowserBenchmark, InteractionTiming


def doc(commit: str, **timings: float) -> BrowserBenchmark:
    return BrowserBenchmark(when="2026-12-07T22:00:00+00:00", commit=commit, cpu_count=2, load_average=[1.0, 1.0],
                            browser="chromium", case="phantom-dicom", settled="...", notes=["kept"],
                            interactions={k: InteractionTiming(median_ms=v, min_ms=v, max_ms=v, n=1, target_ms=300.0,
                                                               within_target=v <= 300) for k, v in timings.items()})


def test_review_save_is_measured_against_300_ms():
    assert TARGETS_MS["review_save"] == 300.0


def test_an_only_run_replaces_its_rows_keeps_the_others_and_says_when():
    old = doc("aaa", slice=70.0, review_save=400.0)
    out = merged(old, doc("bbb", review_save=250.0))
    assert {k: t.median_ms for k, t in out.interactions.items()} == {"slice": 70.0, "review_save": 250.0}
    assert out.commit == "aaa" and out.notes[0] == "kept"
    assert out.notes[-1].startswith("review_save: measured separately (--only)") and "commit bbb" in out.notes[-1]
    again = merged(out, doc("ccc", review_save=260.0))
    assert sum("review_save: measured separately" in n for n in again.notes) == 1 and "commit ccc" in again.notes[-1]


def test_unknown_interaction_names_are_refused():
    with pytest.raises(SystemExit, match="unknown interaction"):
        run(only=["review_saves"])
