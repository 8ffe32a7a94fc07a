"""Conformal prediction sets per level: which grades the model cannot rule out at a chosen coverage.

A *prediction set* is the list of grades whose conformal p-value exceeds ``1 - coverage``. Split
conformal with out-of-fold calibration scores, class-conditional (Mondrian by the true grade): for
every grade ``c`` the set contains ``c`` for a share of at least ``coverage`` of the discs whose true
grade is ``c`` (exchangeable calibration and test data assumed; the guarantee is on average over
discs, not per disc). One grade: the model is sure at that coverage; two or three grades: it is not,
and the level is "uncertain".

Non-conformity scores (:data:`SCORES`), from the calibrated probabilities ``p`` (N, 3):

* ``lac`` (least ambiguous set-valued classifier, Sadinle et al. 2019): ``1 - p[y]``;
* ``aps`` (adaptive prediction sets, Romano et al. 2020, not randomised): the total probability of
  the grades at least as probable as ``y``.

The p-values come from :class:`crepes.ConformalClassifier` (non-smoothed, so sets are
deterministic): ``p_c = (#{calibration scores of grade c >= the test score for c} + 1) / (n_c + 1)``.
The calibration scores themselves are stored in the classifier card
(:class:`modic_core.schema.ConformalRecord`) and fitted by ``python -m modic_core.train.conformal``.

Two additions to the plain sets, both of which can only raise coverage: the model's own grade (the largest
calibrated probability, ``top``) is always in its set, so a report never shows a grade outside its set (class-
conditional sets can otherwise drop it, e.g. an MC1 call less confident than the synthetic lesions MC1 was
calibrated on); and an empty set is never returned (the grade with the largest p-value is kept).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from crepes import ConformalClassifier

from modic_core import settings

__all__ = ["DEFAULT_COVERAGE", "COVERAGE_CHOICES", "SCORES", "ConformalCalibration", "nonconformity", "p_values", "quantile", "quantiles",
           "prediction_sets", "set_label", "is_uncertain_set"]

#: The coverage used when nothing else is chosen (share of levels whose true grade is in the set); ``MODIC_COVERAGE``
#: overrides it at run time (:func:`modic_core.settings.default_coverage`).
DEFAULT_COVERAGE = settings.DEFAULT_COVERAGE
#: Coverages offered in the app's sidebar.
COVERAGE_CHOICES = (0.80, 0.85, 0.90, 0.95)
SCORES = ("lac", "aps")


def nonconformity(probs: np.ndarray, score: str) -> np.ndarray:
    """Scores (N, C) for every grade as the candidate label; larger = less like that grade."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"probabilities must be (N, C), got shape {p.shape}")
    if score == "lac":
        return 1.0 - p
    if score == "aps":
        # for candidate c: sum of p_j over grades j with p_j >= p_c (c included)
        return np.stack([(p * (p >= p[:, [c]])).sum(axis=1) for c in range(p.shape[1])], axis=1)
    raise ValueError(f"unknown conformal score {score!r}; one of {SCORES}")


@dataclass(frozen=True)
class ConformalCalibration:
    """What inference needs: the score name, the grade names (column order of the probabilities) and,
    per grade, the calibration scores of discs of that grade (any order); and where those discs came from
    (scanner makers, field strengths), so that a study from elsewhere can be told its sets are not measured there."""

    score: str
    classes: tuple[str, ...]
    calibration_scores: Mapping[str, Sequence[float]]
    makers: tuple[str, ...] = ()  # scanner makers of the calibration discs (``volume.scanner_group`` names); () = not recorded
    field_strengths: tuple[str, ...] = ()  # their field strengths ("1.5 T", "3 T")

    def __post_init__(self) -> None:
        if self.score not in SCORES:
            raise ValueError(f"unknown conformal score {self.score!r}")
        missing = [c for c in self.classes if len(self.calibration_scores.get(c, ())) == 0]
        if missing:
            raise ValueError(f"no calibration scores for {missing}")

    def n(self, grade: str) -> int:
        return len(self.calibration_scores[grade])

    def min_coverage_miss(self, grade: str) -> float:
        """The smallest p-value a grade can get (1 / (n + 1)): coverages above ``1 -`` this always keep the grade."""
        return 1.0 / (self.n(grade) + 1)


def quantile(scores: Sequence[float], coverage: float) -> float:
    """The calibration score at ``coverage``: the ``ceil((n + 1) * coverage)``-th smallest of ``scores`` (inf when that
    exceeds n). A test score at or below it has a p-value above ``1 - coverage`` (up to ties at the quantile)."""
    s = np.sort(np.asarray(scores, dtype=np.float64))
    k = int(np.ceil((len(s) + 1) * float(coverage) - 1e-9))
    return float(s[k - 1]) if 1 <= k <= len(s) else float("inf")


def quantiles(calibration_scores: Mapping[str, Sequence[float]], coverage: float) -> dict[str, float | None]:
    """Per grade, :func:`quantile` of its scores rounded to 6 decimals; None where too few scores support
    ``coverage`` (the grade is then always in the set). What the classifier card records for its readers."""
    out: dict[str, float | None] = {}
    for grade, scores in calibration_scores.items():
        q = quantile(scores, coverage)
        out[grade] = round(q, 6) if np.isfinite(q) else None
    return out


def p_values(probs: np.ndarray, cal: ConformalCalibration) -> np.ndarray:
    """Conformal p-values (N, C) of every grade for every row of ``probs`` (N, C; columns in ``cal.classes``).
    Rows with a non-finite probability (level not graded) get NaN."""
    p = np.asarray(probs, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p).all(axis=1) if p.size else np.zeros(len(p), bool)
    if not ok.any():
        return out
    alphas = nonconformity(p[ok], cal.score)
    cal_alphas = np.concatenate([np.asarray(cal.calibration_scores[c], dtype=np.float64) for c in cal.classes])
    cal_bins = np.concatenate([np.full(cal.n(c), j) for j, c in enumerate(cal.classes)])
    cc = ConformalClassifier()
    cc.fit(cal_alphas, bins=cal_bins)
    cols = [cc.predict_p(alphas[:, [j]], bins=np.full(len(alphas), j), smoothing=False)[:, 0] for j in range(len(cal.classes))]
    out[ok] = np.stack(cols, axis=1)
    return out


def prediction_sets(pvals: np.ndarray, classes: Sequence[str], coverage: float = DEFAULT_COVERAGE, *,
                    top: Sequence[int] | None = None) -> list[tuple[str, ...]]:
    """Per row, the grades with p-value > ``1 - coverage`` in ``classes`` order, plus the grade ``top[i]`` (column
    index of the model's own grade; None: not added); never empty for a graded row (the largest p-value's grade is
    kept); ``()`` for a row of NaN (not graded)."""
    if not 0.0 < float(coverage) < 1.0:
        raise ValueError(f"coverage must lie strictly between 0 and 1, got {coverage!r}")
    pv = np.asarray(pvals, dtype=np.float64)
    alpha = 1.0 - float(coverage)
    sets: list[tuple[str, ...]] = []
    for i, row in enumerate(pv):
        if not np.isfinite(row).all():
            sets.append(())
            continue
        keep = row > alpha + 1e-12
        if top is not None:
            keep[int(top[i])] = True
        if not keep.any():
            keep[int(np.argmax(row))] = True
        sets.append(tuple(c for c, k in zip(classes, keep) if k))
    return sets


def set_label(prediction_set: Sequence[str]) -> str:
    """How a set reads: ``"MC2"``, ``"MC0 or MC2"``, ``"MC0, MC1 or MC2"``; ``""`` for an empty set."""
    s = list(prediction_set)
    if not s:
        return ""
    if len(s) == 1:
        return s[0]
    return ", ".join(s[:-1]) + " or " + s[-1]


def is_uncertain_set(prediction_set: Sequence[str]) -> bool:
    """A level is uncertain when its set holds more than one grade."""
    return len(tuple(prediction_set)) > 1
