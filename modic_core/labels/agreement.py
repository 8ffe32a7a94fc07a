"""Agreement in the label store: one reviewer against another, or a reviewer against the model.

Each reviewer's *latest* grade of a level counts (:meth:`~modic_core.labels.store.LabelStore.latest_reviews`);
a level enters when both sides graded it (matched by study and level name as reviewed). The kappa and its CI
(bootstrap over studies) come from :func:`modic_core.evaluation.agreement.cohen_kappa`.

How the grades that do not fit are handled (the record's ``excluded`` counts them):

- ``not_gradable`` (either side): left out -- it says the level could not be graded, not which grade;
- reviewer vs reviewer: kappa over MC0, MC1, MC2, MC3 (MC3 is a grade like the others);
- reviewer vs model: the model grades MC0/MC1/MC2 only (its top grade: the argmax of the stored analysis's
  probabilities of MC0, MC1, MC2), so a level the reviewer graded MC3 is left out ("MC3"), as is a level the
  analysis did not grade or stored no probabilities for ("no_model_grade", e.g. an imported cohort). The
  analysis is the one the review was made against (``analysis_id``), else the study's latest.
"""
from __future__ import annotations

from typing import Any

from modic_core.errors import InputError
from modic_core.evaluation.agreement import cohen_kappa
from modic_core.labels.store import LabelStore, ReviewRecord, StoredAnalysis
from modic_core.schema import Agreement

__all__ = ["MODEL_GRADES", "REVIEW_GRADES", "agreement", "agreement_with_model", "model_grade", "model_pairs"]

#: Grades kappa is computed over between two reviewers, and between a reviewer and the model.
REVIEW_GRADES = ("MC0", "MC1", "MC2", "MC3")
MODEL_GRADES = ("MC0", "MC1", "MC2")


def _latest_by_reviewer(store: LabelStore, reviewer: str) -> dict[tuple[str, str], ReviewRecord]:
    """``reviewer``'s latest review per (study, level); InputError when the reviewer has none."""
    out = {(r.study_id, r.level): r for r in store.all_latest_reviews() if r.reviewer == reviewer}  # one query
    if not out:
        raise InputError(f"The reviewer {reviewer!r} has no reviews in the store; give the name a review was saved under.")
    return out


def _count(excluded: dict[str, int], why: str) -> None:
    excluded[why] = excluded.get(why, 0) + 1


def agreement(store: LabelStore, *, a: str, b: str, n_boot: int = 1000, seed: int = 0) -> Agreement:
    """Cohen's kappa of reviewer ``a``'s vs reviewer ``b``'s latest grades over the levels both graded
    (MC0-MC3; a level either called ``not_gradable`` is left out and counted). InputError when a reviewer
    has no reviews or ``a`` is ``b``."""
    if a == b:
        raise InputError("Agreement needs two different reviewers; give two names.")
    ra, rb = _latest_by_reviewer(store, a), _latest_by_reviewer(store, b)
    ga, gb, studies, excluded = [], [], [], {}
    for key in sorted(ra.keys() & rb.keys()):
        x, y = ra[key].grade, rb[key].grade
        if "not_gradable" in (x, y):
            _count(excluded, "not_gradable")
            continue
        ga.append(x)
        gb.append(y)
        studies.append(key[0])
    return cohen_kappa(ga, gb, study_ids=studies, categories=REVIEW_GRADES, excluded=excluded, n_boot=n_boot, seed=seed)


def model_grade(level: dict[str, Any]) -> str | None:
    """The model's top grade of one stored analysis level: the argmax of its MC0/MC1/MC2 probabilities (the
    first on ties); None when the level was not graded or has none of those probabilities."""
    probs = level.get("probabilities") or {}
    if not level.get("graded", True) or not all(g in probs for g in MODEL_GRADES):
        return None
    return max(MODEL_GRADES, key=lambda g: float(probs[g]))


def _analysis_for(review: ReviewRecord, analyses: list[StoredAnalysis]) -> StoredAnalysis | None:
    by_id = {an.id: an for an in analyses}
    return by_id.get(review.analysis_id) or (analyses[-1] if analyses else None)


def model_pairs(store: LabelStore, *, reviewer: str) -> tuple[list[tuple[str, str, str, str]], dict[str, int]]:
    """``(study, level, reviewer's grade, model's top grade)`` of each level ``reviewer`` graded MC0/MC1/MC2 and the
    model graded (:func:`model_grade` of the analysis the review was made against, else the study's latest), sorted
    by study and level; and the levels left out, counted by why (``not_gradable``, ``MC3``, ``no_model_grade``).
    InputError when the reviewer has no reviews."""
    reviews = _latest_by_reviewer(store, reviewer)
    analyses = {study: store.analyses(study) for study in {k[0] for k in reviews}}
    pairs, excluded = [], {}
    for (study, level), review in sorted(reviews.items()):
        if review.grade in ("not_gradable", "MC3"):
            _count(excluded, review.grade)
            continue
        an = _analysis_for(review, analyses[study])
        stored = next((lv for lv in (an.levels if an else []) if lv.get("level") == level), None)
        grade = None if stored is None else model_grade(stored)
        if grade is None:
            _count(excluded, "no_model_grade")
            continue
        pairs.append((study, level, review.grade, grade))
    return pairs, excluded


def agreement_with_model(store: LabelStore, *, reviewer: str, n_boot: int = 1000, seed: int = 0) -> Agreement:
    """Cohen's kappa of ``reviewer``'s latest grades vs the model's top grade (:func:`model_grade`) of the
    analysis each review was made against (else the study's latest), over MC0/MC1/MC2; levels graded
    ``not_gradable`` or MC3, or without a model grade, are left out and counted (:func:`model_pairs`).
    InputError when the reviewer has no reviews."""
    pairs, excluded = model_pairs(store, reviewer=reviewer)
    return cohen_kappa([p[2] for p in pairs], [p[3] for p in pairs], study_ids=[p[0] for p in pairs],
                       categories=MODEL_GRADES, excluded=excluded, n_boot=n_boot, seed=seed)
