"""The review panel's pure helpers (modic_core/ui/review.py): items, rows to save, prefill, keys, boxes."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from modic_core.analysis.report import LevelResult, StudyReport
from modic_core.errors import InputError
from modic_core.labels.store import ReviewRecord
from modic_core.ui.review import (
    Draft,
    ReviewItem,
    ReviewRow,
    analysis_key,
    check_box,
    items_of,
    pending_rows,
    prefill,
    review_rows,
    saved_message,
    step,
)

P = {"MC0": 0.2, "MC1": 0.1, "MC2": 0.7}


def report(*, renamed: bool = False, threshold: float = 0.5) -> StudyReport:
    levels = [LevelResult("L4-L5", (10.0, 20.0, 50.0, 30.0), 0.9, P, "MC2", prediction_set=("MC0", "MC2")),
              LevelResult("L5-S1", (12.0, 40.0, 52.0, 50.0), 0.8, P, "MC0", graded=False, note="no T2")]
    if renamed:
        levels[0].detected_level, levels[0].level = "L4-L5", "L3-L4"
    return StudyReport(levels=levels, normalization="zscore", threshold=threshold, weights={"classifier": "c.pt (sha 1)"},
                       coverage=0.9)


def record(level, grade, *, reviewer="ana", box=None, comment="", corrected=None, rid=1) -> ReviewRecord:
    return ReviewRecord(id=rid, study_id="k", analysis_id=1, level=level, reviewer=reviewer, grade=grade,
                        corrected_level=corrected, box=box, comment=comment, created_at=datetime.now(timezone.utc))


class TestItemsAndRows:
    def test_items_carry_the_models_name_grade_and_set(self):
        items = items_of(report(renamed=True), Draft())
        assert [(i.key, i.name, i.model_grade, i.prediction_set) for i in items] == [
            ("L4-L5", "L3-L4", "MC2", ("MC0", "MC2")), ("L5-S1", "L5-S1", None, ())]

    def test_only_graded_levels_become_rows_with_the_corrected_name(self):
        draft = Draft(grades={"L4-L5": "MC1"}, comments={"L4-L5": "  oedema?  "})
        rows = review_rows(items_of(report(renamed=True), draft), draft)
        assert rows == [ReviewRow(level="L4-L5", grade="MC1", corrected_level="L3-L4", box=None, comment="oedema?")]

    def test_a_box_is_kept_only_when_moved_or_added(self):
        added = ReviewItem(key="L2-L3", name="L2-L3", model_grade=None, prediction_set=(), box=(1, 2, 3, 4), added=True)
        draft = Draft(grades={"L4-L5": "MC0", "L5-S1": "MC2", "L2-L3": "MC1"},
                      boxes={"L4-L5": (10.3, 20.0, 50.0, 29.8), "L5-S1": (12.0, 40.0, 60.0, 50.0)}, added=[added])
        rows = {r.level: r for r in review_rows(items_of(report(), draft), draft)}
        assert rows["L4-L5"].box is None  # within half a pixel of the model's
        assert rows["L5-S1"].box == (12.0, 40.0, 60.0, 50.0)
        assert rows["L2-L3"].box == (1.0, 2.0, 3.0, 4.0)

    def test_pending_rows_leave_out_what_is_stored(self):
        draft = Draft(grades={"L4-L5": "MC0", "L5-S1": "MC2"})
        draft.stored = {"L4-L5": ReviewRow(level="L4-L5", grade="MC0")}
        assert [r.level for r in pending_rows(items_of(report(), draft), draft)] == ["L5-S1"]
        draft.grades["L4-L5"] = "MC3"
        assert [r.level for r in pending_rows(items_of(report(), draft), draft)] == ["L4-L5", "L5-S1"]


class TestPrefill:
    def test_this_reviewers_latest_fills_what_the_user_has_not_entered(self):
        draft = Draft(grades={"L5-S1": "MC3"})
        records = [record("L4-L5", "MC1", comment="c", box=(10, 20, 55, 30)), record("L5-S1", "MC0"),
                   record("L4-L5", "MC2", reviewer="ben")]
        prefill(draft, items_of(report(), draft), records, reviewer="ana")
        assert draft.grades == {"L4-L5": "MC1", "L5-S1": "MC3"}  # the user's own entry is kept
        assert draft.comments == {"L4-L5": "c"} and draft.boxes == {"L4-L5": (10.0, 20.0, 55.0, 30.0)}
        assert draft.reviewer == "ana" and set(draft.stored) == {"L4-L5", "L5-S1"}
        assert pending_rows(items_of(report(), draft), draft) == [ReviewRow(level="L5-S1", grade="MC3")]

    def test_a_stored_level_not_shown_comes_back_as_added_when_it_has_a_box(self):
        draft = Draft()
        prefill(draft, items_of(report(), draft), [record("L2-L3", "MC2", box=(1, 2, 3, 4)), record("L1-L2", "MC0")],
                reviewer="ana")
        assert [(i.key, i.added, i.box) for i in draft.added] == [("L2-L3", True, (1.0, 2.0, 3.0, 4.0))]
        assert draft.grades == {"L2-L3": "MC2"}


class TestSmallHelpers:
    def test_step_is_clamped(self):
        assert [step(0, 5, -1), step(0, 5, 1), step(4, 5, 1), step(9, 5, 0), step(0, 0, 1)] == [0, 1, 4, 4, 0]

    def test_check_box(self):
        assert check_box([1, 2, 30, 40], shape=(3, 50, 60)) == (1.0, 2.0, 30.0, 40.0)
        for bad in ([5, 2, 5, 40], [1, 2, 61, 40], [-1, 2, 3, 4], [1, 2, 3]):
            with pytest.raises(InputError):
                check_box(bad, shape=(3, 50, 60))

    def test_analysis_key_is_the_analysis_not_its_timings(self):
        a, b = report(), report()
        b.timings, b.device = {"classify_s": 3.0}, "cuda"
        assert analysis_key(a) == analysis_key(b)
        assert analysis_key(a) != analysis_key(report(renamed=True)) != analysis_key(report(threshold=0.7))

    def test_saved_message(self):
        when = datetime(2026, 12, 7, 15, 4, tzinfo=timezone(timedelta(hours=1)))
        assert saved_message(n=3, name="Ana", when=when) == "Saved 3 levels as Ana · 14:04 UTC"
        assert saved_message(n=1, name="Ana", when=when, study_key="80bb2b5642c9c352") == (
            "Saved 1 level as Ana · 14:04 UTC · label store key `80bb2b5642c9c352`")
        assert saved_message(n=1, name="Ana", when=when) == "Saved 1 level as Ana · 14:04 UTC"


def test_another_reviewers_draft_is_not_carried_over():
    from modic_core.ui.review import for_reviewer

    anonymous = Draft(grades={"L4-L5": "MC1"})
    assert for_reviewer(anonymous, "ana") is anonymous  # graded before giving a name: kept
    anas = Draft(grades={"L4-L5": "MC1"}, reviewer="ana", study_key="k")
    assert for_reviewer(anas, "ana") is anas
    bens = for_reviewer(anas, "ben")
    assert bens.grades == {} and bens.reviewer is None and bens.study_key == "k"
