"""Fitting and measuring calibration on out-of-fold (OOF) cross-validation predictions.

- :func:`fit_temperature`: the temperature ``T`` minimising the negative log-likelihood of
  ``softmax(logits / T)`` (1-D bounded search over log T).
- :func:`reliability`: top-label reliability diagram and expected calibration error (ECE):
  ``sum_b n_b / N * |accuracy_b - confidence_b|`` over ``n_bins`` equal-width confidence bins.
- :func:`nested_calibrated`: each fold's predictions scaled with a temperature fitted on the
  other folds only, so that an ECE measured on them is not fitted on itself.
- :func:`uncertainty_threshold`: the "uncertain" threshold by :data:`THRESHOLD_RULE`.
- :func:`calibration_record`: all of it for one method (a :class:`modic_core.schema.CalibrationRecord`).

Inputs: ``logits`` (N, C) (log-probabilities serve as well: a softmax ignores a per-row constant),
``y`` (N,) true class indices, ``folds`` (N,) fold index of each row.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.special import log_softmax

from modic_core.classification.calibration import softmax
from modic_core.schema import CalibrationRecord, Estimate, ReliabilityBin, UncertaintySummary

__all__ = [
    "N_BINS", "TARGET_ACCURACY", "MAX_FLAGGED", "THRESHOLD_RULE", "calibration_record", "fit_temperature",
    "nested_calibrated", "reliability", "softmax", "uncertainty_summary", "uncertainty_threshold",
]

N_BINS = 15
TARGET_ACCURACY = 0.90
MAX_FLAGGED = 0.50
_GRID = np.round(np.arange(0.34, 1.0, 0.01), 2)
THRESHOLD_RULE = (
    f"Fixed in advance: the lowest threshold t on a 0.01 grid from 0.34 to 0.99 at which the top-label accuracy of the "
    f"levels with calibrated top probability >= t reaches {TARGET_ACCURACY:.2f}, provided at most "
    f"{MAX_FLAGGED:.0%} of levels fall below t; if no such t exists, the t that flags {MAX_FLAGGED:.0%} of levels "
    "(the median top probability) and the target is reported as not reached."
)
_T_BOUNDS = (0.05, 20.0)


def _nll(logits: np.ndarray, y: np.ndarray, t: float) -> float:
    """Mean negative log-likelihood of the labels ``y`` under ``softmax(logits / t)``."""
    return float(-np.mean(log_softmax(logits / t, axis=1)[np.arange(len(y)), y]))


def fit_temperature(logits: np.ndarray, y: Sequence[int]) -> float:
    """The temperature (in [0.05, 20]) minimising the mean NLL of ``softmax(logits / T)`` against ``y``."""
    from scipy.optimize import minimize_scalar  # lazy: scipy is heavy; only this computation needs it

    z = np.asarray(logits, dtype=np.float64)
    yy = np.asarray(y, dtype=int)
    if z.ndim != 2 or len(z) != len(yy):
        raise ValueError(f"logits must be (N, C) with N = len(y); got {z.shape} and {len(yy)}")
    if len(yy) == 0:
        raise ValueError("no predictions to fit a temperature on")
    lo, hi = np.log(_T_BOUNDS[0]), np.log(_T_BOUNDS[1])
    res = minimize_scalar(lambda lt: _nll(z, yy, float(np.exp(lt))), bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-4})
    return float(np.exp(res.x))


def reliability(probs: np.ndarray, y: Sequence[int], *, n_bins: int = N_BINS) -> tuple[float | None, list[ReliabilityBin]]:
    """(ECE, bins) of the top-label confidence in ``n_bins`` equal-width bins over [0, 1]
    (the last bin includes 1.0). ECE is None without predictions."""
    p = np.asarray(probs, dtype=np.float64)
    yy = np.asarray(y, dtype=int)
    conf = p.max(axis=1) if len(p) else np.zeros(0)
    correct = (p.argmax(axis=1) == yy) if len(p) else np.zeros(0, bool)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=False), 0, n_bins - 1)
    bins, ece = [], 0.0
    for b in range(n_bins):
        sel = idx == b
        n = int(sel.sum())
        c = float(conf[sel].mean()) if n else None
        a = float(correct[sel].mean()) if n else None
        if n:
            ece += n / len(p) * abs(a - c)
        bins.append(ReliabilityBin(lower=round(float(edges[b]), 6), upper=round(float(edges[b + 1]), 6), n=n,
                                   confidence=c, accuracy=a))
    return (float(ece) if len(p) else None), bins


def nested_calibrated(logits: np.ndarray, y: Sequence[int], folds: Sequence[int]) -> tuple[np.ndarray, list[float]]:
    """Probabilities (N, C) where the rows of fold k are scaled by a temperature fitted on the other
    folds' rows; and the per-fold temperatures (fold order). One fold only: fitted on itself (said by the caller)."""
    z = np.asarray(logits, dtype=np.float64)
    yy = np.asarray(y, dtype=int)
    f = np.asarray(folds)
    out = np.zeros_like(z)
    temps = []
    for k in sorted(set(f.tolist())):
        test = f == k
        train = ~test if (~test).any() else test
        t = fit_temperature(z[train], yy[train])
        temps.append(t)
        out[test] = softmax(z[test] / t)
    return out, temps


def _flagged_share(top: np.ndarray, t: float) -> float:
    return float(np.mean(top < t)) if len(top) else 0.0


def uncertainty_threshold(probs: np.ndarray, y: Sequence[int]) -> tuple[float, bool]:
    """(threshold, target reached) by :data:`THRESHOLD_RULE` on calibrated probabilities."""
    p = np.asarray(probs, dtype=np.float64)
    yy = np.asarray(y, dtype=int)
    top, correct = p.max(axis=1), p.argmax(axis=1) == yy
    for t in _GRID:
        keep = top >= t
        if _flagged_share(top, t) > MAX_FLAGGED or not keep.any():
            break
        if correct[keep].mean() >= TARGET_ACCURACY:
            return float(t), True
    return float(np.round(np.median(top), 4)) if len(top) else 1.0, False


def _bootstrap(stat, groups: np.ndarray, n_boot: int, seed: int) -> tuple[float | None, float | None]:
    """Percentile 95 % CI of ``stat(index array)`` over a patient bootstrap (None when undefined)."""
    if n_boot <= 0:
        return None, None
    rng = np.random.default_rng(seed)
    uniq, inv = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inv == g) for g in range(len(uniq))]
    vals = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(uniq), len(uniq))
        v = stat(np.concatenate([members[g] for g in pick]))
        if v is not None and np.isfinite(v):
            vals.append(v)
    if not vals:
        return None, None
    return float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))


def _est(value: float | None, ci: tuple[float | None, float | None], n: int) -> Estimate:
    lo, hi = ci
    disp = "undefined" if value is None else (f"{value:.3f}" if lo is None else f"{value:.3f} (95% CI {lo:.3f}-{hi:.3f})")
    return Estimate(value=value, ci_low=lo, ci_high=hi, display=disp, n=n)


def uncertainty_summary(probs: np.ndarray, y: Sequence[int], flagged: np.ndarray, threshold: float | None, *,
                        patient_ids: Sequence | None = None, n_boot: int = 500, seed: int = 0) -> UncertaintySummary:
    """Share of ``flagged`` levels and the top-label accuracy / MC0-vs-MC2 balanced accuracy of the rest,
    with patient-bootstrap 95 % CIs."""
    p = np.asarray(probs, dtype=np.float64)
    yy = np.asarray(y, dtype=int)
    fl = np.asarray(flagged, dtype=bool)
    pid = np.asarray(patient_ids if patient_ids is not None else np.arange(len(yy)))
    correct = p.argmax(axis=1) == yy

    def rate(ix):
        return float(fl[ix].mean()) if len(ix) else None

    def acc(ix):
        ix = ix[~fl[ix]]
        return float(correct[ix].mean()) if len(ix) else None

    def mc02(ix):
        ix = ix[~fl[ix]]
        t, q = yy[ix], p[ix]
        pred = np.where(q[:, 0] >= q[:, 2], 0, 2)
        recs = [float((pred[t == c] == c).mean()) for c in (0, 2) if (t == c).any()]
        return float(np.mean(recs)) if len(recs) == 2 else None

    allix = np.arange(len(yy))
    return UncertaintySummary(
        threshold=threshold,
        rate=_est(rate(allix), _bootstrap(rate, pid, n_boot, seed), len(yy)),
        accuracy_rest=_est(acc(allix), _bootstrap(acc, pid, n_boot, seed), int((~fl).sum())),
        mc0_vs_mc2_rest=_est(mc02(allix), _bootstrap(mc02, pid, n_boot, seed), int((~fl & ((yy == 0) | (yy == 2))).sum())),
        n_levels=int(len(yy)), n_flagged=int(fl.sum()),
    )


def calibration_record(logits: np.ndarray, y: Sequence[int], folds: Sequence[int], *, patient_ids: Sequence | None = None,
                       n_boot: int = 500, fitted_on: str = "") -> CalibrationRecord:
    """Temperature, uncertainty threshold, ECE before/after and reliability bins for one method's OOF predictions.

    Honest by construction: ``ece_after``, ``reliability_after`` and the uncertainty summary use, for
    each fold, a temperature and a threshold chosen on the other folds only. The shipped
    ``temperature`` and ``uncertain_below`` are then fitted on all folds."""
    z = np.asarray(logits, dtype=np.float64)
    yy = np.asarray(y, dtype=int)
    f = np.asarray(folds)
    raw = softmax(z)
    ece_before, rel_before = reliability(raw, yy)
    nested, temps = nested_calibrated(z, yy, f)
    ece_after, rel_after = reliability(nested, yy)
    flagged = np.zeros(len(yy), bool)
    for k, t_k in zip(sorted(set(f.tolist())), temps):  # fold k: temperature and threshold from the other folds only
        test = f == k
        train = ~test if (~test).any() else test
        thr_k, _ = uncertainty_threshold(softmax(z[train] / t_k), yy[train])
        flagged[test] = nested[test].max(axis=1) < thr_k
    temperature = fit_temperature(z, yy)
    final = softmax(z / temperature)
    threshold, reached = uncertainty_threshold(final, yy)
    summary = uncertainty_summary(nested, yy, flagged, threshold, patient_ids=patient_ids, n_boot=n_boot)
    return CalibrationRecord(
        temperature=round(temperature, 6), uncertain_below=threshold, threshold_rule=THRESHOLD_RULE,
        fitted_on=fitted_on or f"{len(yy)} out-of-fold predictions in {len(set(f.tolist()))} folds",
        n_bins=N_BINS, ece_before=ece_before, ece_after=ece_after, reliability_before=rel_before,
        reliability_after=rel_after, fold_temperatures=[round(t, 6) for t in temps], uncertainty=summary,
        ensemble_agreement=None,
        extra={"target_accuracy": TARGET_ACCURACY, "max_flagged": MAX_FLAGGED, "target_reached": reached,
               "ece_after_note": "nested: each fold scaled with the temperature fitted on the other folds",
               "uncertainty_note": "nested: each fold flagged with the threshold chosen on the other folds"},
    )
