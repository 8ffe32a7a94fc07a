"""The review queue: every stored study's levels, in the order that helps the model most.

The levels are those of each study's *latest* analysis (:meth:`~modic_core.labels.store.LabelStore.latest_analyses`);
a level's reviews are matched by the level name as reviewed, each reviewer's latest counting. The order is fixed in
advance (:data:`TIERS`, first matching tier wins):

1. ``"not reviewed"``: levels nobody has graded yet (with ``reviewer``: levels that reviewer has not graded),
   least sure first: larger prediction set, then higher entropy of the stored probabilities (levels without
   probabilities, e.g. an imported cohort, after those with);
2. ``"reviewers disagree"``: levels whose reviewers' latest grades differ (``not_gradable`` counts as a grade);
3. ``"reviewed"``: the rest, least sure first as well.

Ties keep the store's order (studies oldest first, levels top to bottom). The whole queue takes three queries
(studies, latest analyses, latest reviews), not one per study or level.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from modic_core.labels.agreement import model_grade
from modic_core.labels.store import LabelStore, ReviewRecord

__all__ = ["TIERS", "QueueItem", "QueueProgress", "entropy_nats", "latest_grades", "queue_progress", "review_queue"]


@dataclass(frozen=True)
class QueueItem:
    """One level of a stored study in the review queue.

    ``study_id``: the study's key (salted pixel hash); ``level``: its name in the latest analysis
    (``analysis_id``); ``model_grade``: the model's top grade (:func:`~modic_core.labels.agreement.model_grade`;
    None when the analysis holds no model probabilities); ``set_size``: grades in the stored prediction set (0: no
    set); ``entropy``: entropy in nats of the stored probabilities (None: none stored); ``grades``: each reviewer's
    latest grade, by reviewer name (``reviewers``: those names, sorted); ``disagreement``: the latest grades differ;
    ``reviewed``: graded (by the queue's reviewer when one was given, else by anyone); ``tier``: the name of its
    :data:`TIERS` entry.
    """

    study_id: str
    level: str
    analysis_id: int
    model_grade: str | None
    set_size: int
    entropy: float | None
    grades: Mapping[str, str] = field(default_factory=dict)
    disagreement: bool = False
    reviewed: bool = False
    tier: str = ""

    @property
    def reviewers(self) -> tuple[str, ...]:
        """Names of the reviewers who graded this level, sorted."""
        return tuple(sorted(self.grades))


@dataclass(frozen=True)
class QueueProgress:
    """How far the queue is reviewed: levels reviewed of levels queued, and studies whose every queued level is
    reviewed of studies queued (reviewed: by the queue's reviewer when one was given, else by anyone)."""

    levels_reviewed: int
    levels_queued: int
    studies_reviewed: int
    studies_queued: int

    def sentence(self, *, by: str | None = None) -> str:
        """E.g. "12 of 40 levels reviewed (3 of 10 studies complete)"; ``by``: "… reviewed by <by> (…)"."""
        return (f"{self.levels_reviewed} of {self.levels_queued} levels reviewed{f' by {by}' if by else ''} "
                f"({self.studies_reviewed} of {self.studies_queued} studies complete)")


#: The queue's tiers in order: (name, does a level belong to it), the first match wins.
TIERS: tuple[tuple[str, Callable[[QueueItem], bool]], ...] = (
    ("not reviewed", lambda item: not item.reviewed),
    ("reviewers disagree", lambda item: item.disagreement),
    ("reviewed", lambda item: True),
)


def entropy_nats(probabilities: Mapping[str, Any] | None) -> float | None:
    """Shannon entropy (nats) of ``probabilities`` (renormalised to sum 1); None when there are none or they are
    not finite and positive in sum."""
    values = [float(v) for v in (probabilities or {}).values()]
    total = sum(values)
    if not values or not math.isfinite(total) or total <= 0 or any(v < 0 or not math.isfinite(v) for v in values):
        return None
    return float(-sum((v / total) * math.log(v / total) for v in values if v > 0))


def _tier(item: QueueItem) -> str:
    return next(name for name, belongs in TIERS if belongs(item))


def review_queue(store: LabelStore, *, reviewer: str | None = None) -> list[QueueItem]:
    """Every level of every stored study's latest analysis, in queue order (see the module).

    ``reviewer``: "reviewed" means graded by this reviewer (None: by anyone). Studies without an analysis have no
    levels to queue and are left out.
    """
    studies = store.list_studies()
    latest = store.latest_analyses()
    grades = latest_grades(store.all_latest_reviews())
    keyed: list[tuple[tuple, QueueItem]] = []
    for s_pos, study in enumerate(studies):
        analysis = latest.get(study.id)
        for l_pos, lv in enumerate(analysis.levels if analysis else []):
            name = str(lv.get("level", ""))
            by = grades.get((study.id, name), {})
            entropy = entropy_nats(lv.get("probabilities"))
            item = QueueItem(study_id=study.id, level=name, analysis_id=analysis.id, model_grade=model_grade(lv),
                             set_size=len(lv.get("prediction_set") or ()), entropy=entropy, grades=dict(by),
                             disagreement=len(set(by.values())) > 1,
                             reviewed=(reviewer in by) if reviewer else bool(by))
            item = replace(item, tier=_tier(item))
            tier = [t for t, _ in TIERS].index(item.tier)
            keyed.append(((tier, -item.set_size, entropy is None, -(entropy or 0.0), s_pos, l_pos), item))
    return [item for _, item in sorted(keyed, key=lambda pair: pair[0])]


def queue_progress(items: Sequence[QueueItem]) -> QueueProgress:
    """Reviewed / queued counts of a :func:`review_queue` (levels, and studies whose every level is reviewed)."""
    studies: dict[str, bool] = {}
    for item in items:
        studies[item.study_id] = studies.get(item.study_id, True) and item.reviewed
    return QueueProgress(levels_reviewed=sum(item.reviewed for item in items), levels_queued=len(items),
                         studies_reviewed=sum(studies.values()), studies_queued=len(studies))


def latest_grades(reviews: Sequence[ReviewRecord]) -> dict[tuple[str, str], dict[str, str]]:
    """``{(study, level): {reviewer: grade}}`` of latest reviews (:meth:`LabelStore.all_latest_reviews`)."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    for r in reviews:
        out.setdefault((r.study_id, r.level), {})[r.reviewer] = r.grade
    return out
