"""The review queue (modic_core.labels.queue) on a hand-built SQLite store: order, disagreements, progress."""
from __future__ import annotations

import math

import numpy as np
import pytest
from sqlalchemy import event

from modic_core.labels import LabelStore
from modic_core.labels.queue import TIERS, entropy_nats, queue_progress, review_queue
from modic_core.volume import Study, Volume

SURE = {"MC0": 0.9, "MC1": 0.05, "MC2": 0.05}
UNSURE = {"MC0": 0.4, "MC1": 0.3, "MC2": 0.3}
FLAT = {"MC0": 1 / 3, "MC1": 1 / 3, "MC2": 1 / 3}


def _study(seed: int) -> Study:
    rng = np.random.default_rng(seed)
    t1 = Volume(rng.random((2, 8, 6), dtype=np.float32) * 100, (4.0, 0.8, 0.8))
    return Study(t1=t1, t2=t1.with_array(rng.random((2, 8, 6), dtype=np.float32)))


def _level(name: str, probs: dict, grade_set: list[str]) -> dict:
    return {"level": name, "box": [1.0, 1.0, 5.0, 5.0], "score": 0.9, "prediction": max(probs, key=probs.get),
            "probabilities": probs, "prediction_set": grade_set, "z_range": [0, 1]}


def _report(*levels: dict) -> dict:
    return {"normalization": "zscore", "threshold": 0.5, "weights": {"classifier": "cls.pt (abc)"}, "levels": list(levels)}


@pytest.fixture
def store(tmp_path):
    """Two studies. Study A: L3-L4 sure (set of 1), L4-L5 unsure (set of 2), L5-S1 flat (set of 2, highest entropy).
    Study B (an older analysis, then the latest): L4-L5 sure (set 1), L5-S1 unsure (set 3).
    Reviews: A/L3-L4 by dr a and dr b, who disagree (dr a changed their mind from the same grade); A/L4-L5 by dr a;
    B/L4-L5 by dr a and dr b, who agree; a review of a level the latest analysis no longer has is not queued."""
    with LabelStore.open(f"sqlite:///{tmp_path / 'labels.sqlite3'}", data_dir=tmp_path / "data") as s:
        a, _ = s.add_study(study=_study(0), analysis=_report(
            _level("L3-L4", SURE, ["MC0"]), _level("L4-L5", UNSURE, ["MC0", "MC1"]), _level("L5-S1", FLAT, ["MC0", "MC2"])))
        b, _ = s.add_study(study=_study(1), analysis=_report(_level("L2-L3", SURE, ["MC0"])))
        s.add_study(study=_study(1), analysis=_report(
            _level("L4-L5", SURE, ["MC0"]), _level("L5-S1", UNSURE, ["MC0", "MC1", "MC2"])))
        s.add_review(study_id=a.id, level="L3-L4", reviewer="dr a", grade="MC1")
        s.add_review(study_id=a.id, level="L3-L4", reviewer="dr b", grade="MC1")
        s.add_review(study_id=a.id, level="L3-L4", reviewer="dr a", grade="MC0")  # dr a's latest: now they disagree
        s.add_review(study_id=a.id, level="L4-L5", reviewer="dr a", grade="MC1")
        s.add_review(study_id=b.id, level="L4-L5", reviewer="dr a", grade="MC0")
        s.add_review(study_id=b.id, level="L4-L5", reviewer="dr b", grade="MC0")
        s.add_review(study_id=b.id, level="L2-L3", reviewer="dr b", grade="MC2")  # not in b's latest analysis
        yield s, a.id, b.id


def _order(items) -> list[tuple[str, str]]:
    return [(i.study_id, i.level) for i in items]


def test_unreviewed_least_sure_first_then_disagreements_then_the_rest(store):
    s, a, b = store
    items = review_queue(s)
    assert _order(items) == [(b, "L5-S1"), (a, "L5-S1"),  # not reviewed: set of 3, then set of 2
                             (a, "L3-L4"),  # reviewers disagree
                             (a, "L4-L5"), (b, "L4-L5")]  # reviewed: set of 2 before set of 1
    assert [i.tier for i in items] == ["not reviewed", "not reviewed", "reviewers disagree", "reviewed", "reviewed"]
    assert [name for name, _ in TIERS] == ["not reviewed", "reviewers disagree", "reviewed"]
    first, _, disputed, *_ = items
    assert (first.set_size, first.model_grade, first.reviewed, first.reviewers) == (3, "MC0", False, ())
    assert first.entropy == pytest.approx(entropy_nats(UNSURE))
    assert disputed.disagreement and disputed.grades == {"dr a": "MC0", "dr b": "MC1"}
    assert disputed.reviewers == ("dr a", "dr b")
    assert not items[-1].disagreement and items[-1].grades == {"dr a": "MC0", "dr b": "MC0"}


def test_same_set_size_higher_entropy_first_and_levels_without_probabilities_last(tmp_path):
    with LabelStore.open(f"sqlite:///{tmp_path / 'q.sqlite3'}", data_dir=tmp_path / "data") as s:
        imported = _level("L1-L2", SURE, [])
        imported["probabilities"] = {}  # an imported cohort's level: no model probabilities
        st, _ = s.add_study(study=_study(3), analysis=_report(
            imported, _level("L3-L4", UNSURE, ["MC0", "MC1"]), _level("L4-L5", FLAT, ["MC0", "MC1"]),
            _level("L5-S1", SURE, [])))
        items = review_queue(s)
    assert [i.level for i in items] == ["L4-L5", "L3-L4", "L5-S1", "L1-L2"]
    assert items[-1].entropy is None and items[-1].model_grade is None and items[-1].set_size == 0


def test_for_a_reviewer_their_own_unreviewed_levels_come_first(store):
    s, a, b = store
    items = review_queue(s, reviewer="dr b")
    # dr b has not graded A/L4-L5 (dr a has), so it joins the unreviewed tier, after the larger sets
    assert _order(items)[:3] == [(b, "L5-S1"), (a, "L5-S1"), (a, "L4-L5")]
    assert _order(items)[3:] == [(a, "L3-L4"), (b, "L4-L5")]
    assert not items[2].reviewed and items[2].grades == {"dr a": "MC1"}


def test_progress_counts_levels_and_complete_studies(store):
    s, a, b = store
    anyone = queue_progress(review_queue(s))
    assert (anyone.levels_reviewed, anyone.levels_queued, anyone.studies_reviewed, anyone.studies_queued) == (3, 5, 0, 2)
    assert anyone.sentence() == "3 of 5 levels reviewed (0 of 2 studies complete)"
    s.add_review(study_id=b, level="L5-S1", reviewer="dr c", grade="not_gradable")
    after = queue_progress(review_queue(s))
    assert (after.levels_reviewed, after.studies_reviewed) == (4, 1)
    mine = queue_progress(review_queue(s, reviewer="dr b"))
    assert (mine.levels_reviewed, mine.studies_reviewed) == (2, 0)
    assert mine.sentence(by="dr b") == "2 of 5 levels reviewed by dr b (0 of 2 studies complete)"
    assert queue_progress([]).sentence() == "0 of 0 levels reviewed (0 of 0 studies complete)"


def test_the_queue_takes_a_fixed_number_of_queries(store):
    s, a, _ = store
    counted = []
    event.listen(s.engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *rest: counted.append(statement.lstrip().upper().startswith("SELECT")))
    review_queue(s)
    few = sum(counted)
    for k in range(4):  # more studies and reviews: the same number of queries
        st, _ = s.add_study(study=_study(10 + k), analysis=_report(_level("L4-L5", SURE, ["MC0"])))
        s.add_review(study_id=st.id, level="L4-L5", reviewer="dr a", grade="MC0")
    counted.clear()
    assert len(review_queue(s)) == 9
    assert sum(counted) == few <= 3


def test_entropy_in_nats():
    assert entropy_nats(FLAT) == pytest.approx(math.log(3))
    assert entropy_nats({"MC0": 2.0, "MC1": 2.0}) == pytest.approx(math.log(2))  # renormalised
    assert entropy_nats({"MC0": 1.0, "MC1": 0.0}) == 0.0
    assert entropy_nats({}) is None and entropy_nats(None) is None
    assert entropy_nats({"MC0": float("nan")}) is None


def test_the_bulk_reads_match_the_per_study_reads_on_both_backends(db_url, tmp_path):
    with LabelStore.open(db_url, data_dir=tmp_path / "data") as s:
        a, _ = s.add_study(study=_study(0), analysis=_report(_level("L4-L5", SURE, ["MC0"])))
        s.add_study(study=_study(0), analysis=_report(_level("L5-S1", UNSURE, ["MC0", "MC1"])))
        b, _ = s.add_study(study=_study(1), analysis=_report(_level("L4-L5", FLAT, ["MC0", "MC2"])))
        for study, level, who, grade in ((a, "L5-S1", "dr a", "MC1"), (a, "L5-S1", "dr a", "MC2"),
                                         (a, "L5-S1", "dr b", "MC0"), (b, "L4-L5", "dr b", "not_gradable")):
            s.add_review(study_id=study.id, level=level, reviewer=who, grade=grade)
        assert s.latest_analyses() == {st.id: s.analyses(st.id)[-1] for st in (a, b)}
        assert s.all_latest_reviews() == sorted(s.latest_reviews(a.id) + s.latest_reviews(b.id),
                                                key=lambda r: (r.study_id, r.level, r.reviewer))
        assert [(i.level, i.tier) for i in review_queue(s)] == [("L5-S1", "reviewers disagree"), ("L4-L5", "reviewed")]
