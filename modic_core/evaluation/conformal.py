"""Measuring conformal prediction sets on out-of-fold predictions (patient-level, nested).

- :func:`calibration_from`: a :class:`~modic_core.classification.conformal.ConformalCalibration` from
  labelled probabilities (the score of each disc at its true grade, grouped by grade).
- :func:`nested_p_values`: the p-values of fold k's discs calibrated on the other folds only (so no
  disc calibrates its own set); synthetic MC1 lesions join the MC1 calibration of their fold's complement.
- :func:`set_metrics`: coverage, singleton share and accuracy, MC1-in-set rate on real MC0/MC2 discs,
  with patient-bootstrap 95 % CIs.
- :func:`risk_coverage`: singleton share and accuracy across target coverages.

Grades are column indices 0, 1, 2 (MC0, MC1, MC2). Real MC1 discs (4 in the cohort) are counted but
not measured: their coverage is reported as "k of n".
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from modic_core.classification.conformal import ConformalCalibration, nonconformity, p_values, prediction_sets
from modic_core.evaluation.calibration import _bootstrap, _est
from modic_core.schema import Estimate, RiskCoveragePoint, SetMetrics

__all__ = ["CLASSES", "calibration_from", "nested_p_values", "set_metrics", "risk_coverage", "sets_from"]

CLASSES = ("MC0", "MC1", "MC2")


def calibration_from(probs: np.ndarray, y: Sequence[int], *, score: str, classes: Sequence[str] = CLASSES) -> ConformalCalibration:
    """Calibration from probabilities (N, C) and true grades ``y`` (N,): per grade, the scores of its discs."""
    p = np.asarray(probs, dtype=np.float64)
    yy = np.asarray(y, dtype=int)
    s = nonconformity(p, score)[np.arange(len(yy)), yy] if len(yy) else np.zeros(0)
    return ConformalCalibration(score=score, classes=tuple(classes),
                                calibration_scores={c: tuple(np.round(s[yy == j], 6).tolist()) for j, c in enumerate(classes)})


def nested_p_values(probs: np.ndarray, y: Sequence[int], folds: Sequence[int], *, score: str,
                    extra_probs: np.ndarray | None = None, extra_y: Sequence[int] | None = None,
                    extra_folds: Sequence[int] | None = None) -> np.ndarray:
    """p-values (N, C): the rows of fold k with a calibration fitted on the rows of every other fold (and the
    ``extra`` rows -- synthetic MC1 lesions -- of every other fold)."""
    p = np.asarray(probs, dtype=np.float64)
    yy = np.asarray(y, dtype=int)
    f = np.asarray(folds)
    out = np.full(p.shape, np.nan)
    ep = np.zeros((0, p.shape[1])) if extra_probs is None else np.asarray(extra_probs, dtype=np.float64)
    ey = np.zeros(0, int) if extra_y is None else np.asarray(extra_y, dtype=int)
    ef = np.zeros(0) if extra_folds is None else np.asarray(extra_folds)
    for k in sorted(set(f.tolist())):
        test, cal, ecal = f == k, f != k, ef != k
        c = calibration_from(np.concatenate([p[cal], ep[ecal]]), np.concatenate([yy[cal], ey[ecal]]), score=score)
        out[test] = p_values(p[test], c)
    return out


def sets_from(pvals: np.ndarray, coverage: float, probs: np.ndarray | None = None) -> list[tuple[str, ...]]:
    """The sets the app shows: grades with p-value > 1 - ``coverage``, plus each row's top grade of ``probs``."""
    return prediction_sets(pvals, CLASSES, coverage, top=None if probs is None else np.asarray(probs).argmax(1))


def _membership(sets: Sequence[Sequence[str]]) -> np.ndarray:
    return np.array([[c in s for c in CLASSES] for s in sets], dtype=bool).reshape(len(sets), len(CLASSES))


def set_metrics(sets: Sequence[Sequence[str]], y: Sequence[int], *, patient_ids: Sequence | None = None,
                n_boot: int = 500, seed: int = 0, synthetic_sets: Sequence[Sequence[str]] | None = None) -> SetMetrics:
    """How ``sets`` did for discs of true grade ``y``. Rates are over real MC0/MC2 discs; real MC1 discs are
    counted (``n_real_mc1``, ``real_mc1_covered``); ``synthetic_sets`` (sets of synthetic MC1 lesions) give
    ``synthetic_mc1_coverage``."""
    yy = np.asarray(y, dtype=int)
    member = _membership(sets)
    size = member.sum(axis=1)
    pid = np.asarray(patient_ids if patient_ids is not None else np.arange(len(yy)))
    sel = np.flatnonzero((yy == 0) | (yy == 2))
    covered = member[np.arange(len(yy)), yy] if len(yy) else np.zeros(0, bool)
    single = size == 1

    def _rate(values: np.ndarray):
        def stat(ix):
            return float(values[ix].mean()) if len(ix) else None
        return stat

    def _single_acc(ix):
        ix = ix[single[ix]]
        return float(covered[ix].mean()) if len(ix) else None

    def est(stat, ix) -> Estimate:
        """The statistic on the discs ``ix`` with a bootstrap of their patients (``b`` indexes into ``ix``); undefined
        (None) without discs."""
        if len(ix) == 0:
            return _est(None, (None, None), 0)
        ci = _bootstrap(lambda b: stat(ix[b]), pid[ix], n_boot, seed)
        return _est(stat(ix), ci, int(len(ix)))

    by_grade = {}
    for j in (0, 2):
        ix = np.flatnonzero(yy == j)
        by_grade[CLASSES[j]] = est(_rate(covered), ix)
    syn_cov = None
    if synthetic_sets is not None and len(synthetic_sets):
        syn_cov = round(float(np.mean([CLASSES[1] in s for s in synthetic_sets])), 4)
    mc1 = np.flatnonzero(yy == 1)
    return SetMetrics(
        n=int(len(sel)),
        coverage=est(_rate(covered), sel),
        singleton_share=est(_rate(single), sel),
        singleton_accuracy=est(_single_acc, sel),
        mc1_in_set=est(_rate(member[:, 1]), sel),
        mean_size=round(float(size[sel].mean()), 4) if len(sel) else 0.0,
        coverage_by_grade=by_grade,
        n_real_mc1=int(len(mc1)),
        real_mc1_covered=int(covered[mc1].sum()),
        synthetic_mc1_coverage=syn_cov,
    )


def risk_coverage(pvals: np.ndarray, y: Sequence[int], targets: Sequence[float], probs: np.ndarray | None = None) -> list[RiskCoveragePoint]:
    """For each target coverage: achieved coverage, share of single-grade sets and their accuracy (MC0/MC2 discs);
    sets as :func:`sets_from` makes them."""
    yy = np.asarray(y, dtype=int)
    sel = (yy == 0) | (yy == 2)
    out = []
    for t in targets:
        m = _membership(sets_from(pvals, t, probs))
        size = m.sum(axis=1)
        cov = m[np.arange(len(yy)), yy]
        single = sel & (size == 1)
        out.append(RiskCoveragePoint(
            target=float(t), coverage=round(float(cov[sel].mean()), 4), singleton_share=round(float(single.sum() / max(sel.sum(), 1)), 4),
            singleton_accuracy=round(float(cov[single].mean()), 4) if single.any() else None, mean_size=round(float(size[sel].mean()), 4)))
    return out
