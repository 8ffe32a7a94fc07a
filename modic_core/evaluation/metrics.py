"""Classification and detection metrics with patient-level bootstrap CIs.

Classes are fixed: label 0/1/2 = MC0/MC1/MC2 (Modic type 3 is scored elsewhere).
Every public report function returns a typed record of :mod:`modic_core.schema`
(:class:`~modic_core.schema.Estimate`, :class:`~modic_core.schema.ClassificationReport`,
:class:`~modic_core.schema.PairedDiff`, :class:`~modic_core.schema.DetectionReport`), the same
records the cards and reports store (``.to_dict()`` gives plain JSON); undefined values are None,
never NaN.

Definitions (per class c, from the confusion matrix C, rows = true, columns = predicted):

- sensitivity_c = TP / (TP + FN)             (recall; None if no true c)
- specificity_c = TN / (TN + FP)             (None if every disc is c)
- precision_c   = TP / (TP + FP)             (None if c is never predicted)
- F1_c          = 2 TP / (2 TP + FP + FN)
- balanced accuracy = mean of sensitivity_c over classes present in y_true (scikit-learn)
- macro-F1 = mean of F1_c over classes present in y_true or y_pred (scikit-learn default)
- weighted-F1 = sum_c F1_c * n_c / n, n_c = true count (scikit-learn)
- Cohen's kappa = (p_o - p_e) / (1 - p_e), unweighted
- MC0-vs-MC2 balanced accuracy (the project's target metric): discs whose true
  class is 0 or 2 only, predicted 0 if p_mc0 >= p_mc2 else 2 (from hard labels
  when no probabilities are given: then an MC1 prediction counts as wrong);
  mean of the two sensitivities.

A sensitivity whose class has fewer than ``min_cases`` (10) true discs carries
``too_few=True`` and ``display="too few cases (n=4)"``, which the app and
reports show instead of the number.

Confidence intervals: percentile bootstrap over *patients* (all discs of a
resampled patient go in together; patient = study id unless told otherwise),
``n_boot`` resamples (default 1000) from ``numpy.random.default_rng(seed)``.
Resamples in which a metric is undefined are dropped for that metric
(``n_boot_valid`` says how many were used when fewer than ``n_boot``).
Point estimates use scikit-learn; the bootstrap recomputes the same formulas
from resampled confusion matrices (vectorised; tests check the two agree).
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Callable, Hashable, Mapping, Sequence, TypeVar

import numpy as np

from modic_core.boxes import box_iou as iou_matrix  # the one IoU (modic_core.boxes); the name stays for callers
from modic_core.schema import (
    BootstrapSettings,
    ClassificationReport,
    ClassStats,
    DetectionReport,
    Estimate,
    GtMatch,
    Mc0VsMc2Estimate,
    PairedDiff,
)

__all__ = [
    "CLASS_NAMES",
    "LABELS",
    "MIN_CASES",
    "bootstrap_ci",
    "by_group",
    "classification_by_group",
    "classification_report",
    "detection_report",
    "iou_matrix",
    "match_boxes",
    "mc0_vs_mc2_balanced_accuracy",
    "paired_bootstrap",
    "parse_class",
    "patient_bootstrap_weights",
    "sensitivity_entry",
]

LABELS: tuple[int, ...] = (0, 1, 2)
CLASS_NAMES: tuple[str, ...] = ("MC0", "MC1", "MC2")
MIN_CASES = 10
SCALAR_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "cohen_kappa", "mc0_vs_mc2_balanced_accuracy")


# --------------------------------------------------------------------------- small helpers


def parse_class(value: Any) -> int:
    """0/1/2, "0".."2", 2.0 or "MC0".."MC2" (any case) -> int label; ValueError otherwise."""
    if isinstance(value, str):
        text = value.strip().upper()
        if text.startswith("MC"):
            text = text[2:]
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"not a Modic class: {value!r} (use 0, 1, 2 or MC0, MC1, MC2)") from None
    f = float(value)
    if not math.isfinite(f) or f != int(f) or int(f) not in LABELS:
        raise ValueError(f"not a Modic class: {value!r} (use 0, 1, 2 or MC0, MC1, MC2)")
    return int(f)


def _f(x: Any) -> float | None:
    """Plain float, or None for None/NaN/inf."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    out = np.full(np.broadcast(a, b).shape, np.nan)
    np.divide(a, b, out=out, where=b > 0)
    return out


def _nanmean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(x, axis=axis)


def _labels_array(y: Sequence[Any], name: str) -> np.ndarray:
    arr = np.asarray([parse_class(v) for v in y], dtype=np.int64) if len(y) else np.zeros(0, np.int64)
    return arr


def _check_lengths(**arrays: Any) -> int:
    lengths = {k: len(v) for k, v in arrays.items() if v is not None}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"inputs differ in length: {lengths}")
    n = next(iter(lengths.values()))
    if n == 0:
        raise ValueError("no discs to score")
    return n


def _fmt(v: float | None, lo: float | None = None, hi: float | None = None, level: float = 0.95) -> str:
    if v is None:
        return "undefined"
    if lo is None or hi is None:
        return f"{v:.3f}"
    return f"{v:.3f} ({100 * level:g}% CI {lo:.3f}-{hi:.3f})"


# --------------------------------------------------------------------------- scores from confusion matrices


def _cm_scores(cm: np.ndarray) -> dict[str, np.ndarray]:
    """All scores from confusion matrices cm (..., K, K) (rows true, cols predicted)."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    support = cm.sum(-1)
    predicted = cm.sum(-2)
    n = support.sum(-1)
    fn, fp = support - tp, predicted - tp
    tn = n[..., None] - tp - fn - fp
    f1 = _div(2 * tp, 2 * tp + fp + fn)
    accuracy = _div(tp.sum(-1), n)
    pe = _div((support * predicted).sum(-1), n**2)
    kappa = _div(accuracy - pe, 1 - pe)
    kappa = np.where(np.isclose(pe, 1.0), np.nan, kappa)
    return {
        "sensitivity": _div(tp, support),
        "specificity": _div(tn, tn + fp),
        "precision": _div(tp, predicted),
        "f1": f1,
        "accuracy": accuracy,
        "balanced_accuracy": _nanmean(_div(tp, support)),
        "macro_f1": _nanmean(f1),
        "weighted_f1": _div(np.nansum(f1 * support, axis=-1), n),
        "cohen_kappa": kappa,
    }


def _mc02_pred(y_pred: np.ndarray, proba: np.ndarray | None) -> np.ndarray:
    if proba is None:
        return y_pred
    return np.where(proba[:, 0] >= proba[:, 2], 0, 2)


def _mc02_from_cm(cm: np.ndarray) -> np.ndarray:
    """Balanced accuracy over true classes 0 and 2 of (..., 3, 3) matrices restricted to true 0/2."""
    rec0 = _div(cm[..., 0, 0], cm[..., 0, :].sum(-1))
    rec2 = _div(cm[..., 2, 2], cm[..., 2, :].sum(-1))
    return _nanmean(np.stack([rec0, rec2], axis=-1))


# --------------------------------------------------------------------------- bootstrap machinery


def patient_bootstrap_weights(
    patient_ids: Sequence[Hashable] | None, n: int, *, n_boot: int = 1000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Resample patients with replacement.

    Returns (patient index of each disc (n,), weights (n_boot, P)) where
    weights[b, p] = how many times patient p is drawn in resample b
    (multinomial(P, 1/P), equivalent to drawing P patients with replacement).
    With ``patient_ids`` None every disc is its own patient.
    """
    if patient_ids is None:
        inverse = np.arange(n)
    else:
        _, inverse = np.unique(np.asarray([str(p) for p in patient_ids]), return_inverse=True)
    p = int(inverse.max()) + 1 if n else 0
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(p, np.full(p, 1.0 / p), size=int(n_boot)) if p else np.zeros((n_boot, 0))
    return inverse.reshape(-1), weights.astype(np.float64)


def _per_patient_cm(inverse: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, select: np.ndarray | None = None) -> np.ndarray:
    k = len(LABELS)
    pcm = np.zeros((int(inverse.max()) + 1, k, k))
    sel = slice(None) if select is None else select
    np.add.at(pcm, (inverse[sel], y_true[sel], y_pred[sel]), 1)
    return pcm


def _ci(boot: np.ndarray, level: float) -> tuple[float | None, float | None, int]:
    boot = np.asarray(boot, dtype=np.float64)
    ok = boot[np.isfinite(boot)]
    if ok.size < max(10, 0.1 * boot.size):
        return None, None, int(ok.size)
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(ok, [a, 1.0 - a])
    return float(lo), float(hi), int(ok.size)


def _estimate(value: Any, boot: np.ndarray | None, *, level: float, **fields: Any) -> Estimate:
    """The point ``value`` with its percentile CI from ``boot``; ``fields``: more fields (and the record type as ``cls``)."""
    cls = fields.pop("cls", Estimate)
    v = _f(value)
    lo = hi = n_valid = None
    if boot is not None and v is not None:
        lo, hi, n_ok = _ci(boot, level)
        if n_ok < len(boot):
            n_valid = n_ok
    return cls(value=v, ci_low=lo, ci_high=hi, display=_fmt(v, lo, hi, level), n_boot_valid=n_valid, **fields)


def sensitivity_entry(
    value: Any, n: int, *, boot: np.ndarray | None = None, level: float = 0.95, min_cases: int = MIN_CASES
) -> Estimate:
    """Sensitivity with its case count and the "too few cases" flag.

    ``Estimate(value=0.5, n=4, too_few=True, display="too few cases (n=4)", ci_low=.., ci_high=..)``
    """
    out = _estimate(value, boot, level=level, n=int(n), too_few=bool(n < min_cases))
    if out.too_few:
        out.display = f"too few cases (n={int(n)})"
    return out


def bootstrap_ci(
    statistic: Callable[[np.ndarray], float],
    n: int,
    patient_ids: Sequence[Hashable] | None = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Estimate:
    """Generic patient bootstrap: ``statistic(indices)`` over disc indices 0..n-1.

    Each resample passes the indices of all discs of the drawn patients (with
    repetition). Returns an :class:`Estimate` (value, ci_low, ci_high, display[, n_boot_valid]).
    Slower than the vectorised paths used by the reports (one call per resample).
    """
    inverse, weights = patient_bootstrap_weights(patient_ids, n, n_boot=n_boot, seed=seed)
    members = [np.flatnonzero(inverse == p) for p in range(weights.shape[1])]
    boot = np.empty(len(weights))
    for b, row in enumerate(weights):
        idx = np.concatenate([np.tile(members[p], int(c)) for p, c in enumerate(row) if c] or [np.zeros(0, np.int64)])
        try:
            boot[b] = float(statistic(idx))
        except (ValueError, ZeroDivisionError):
            boot[b] = np.nan
    return _estimate(statistic(np.arange(n)), boot, level=level)


# --------------------------------------------------------------------------- classification


def _sk_point_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    from sklearn import metrics as skm  # lazy: scikit-learn is heavy; only this computation needs it

    labels = list(LABELS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cm = skm.confusion_matrix(y_true, y_pred, labels=labels)
        return {
            "confusion_matrix": cm,
            "sensitivity": skm.recall_score(y_true, y_pred, labels=labels, average=None, zero_division=np.nan),
            "precision": skm.precision_score(y_true, y_pred, labels=labels, average=None, zero_division=np.nan),
            "f1": skm.f1_score(y_true, y_pred, labels=labels, average=None, zero_division=np.nan),
            "accuracy": skm.accuracy_score(y_true, y_pred),
            "balanced_accuracy": skm.balanced_accuracy_score(y_true, y_pred),
            "macro_f1": skm.f1_score(y_true, y_pred, average="macro", zero_division=0.0),
            "weighted_f1": skm.f1_score(y_true, y_pred, average="weighted", zero_division=0.0),
            "cohen_kappa": skm.cohen_kappa_score(y_true, y_pred, labels=labels),
        }


def mc0_vs_mc2_balanced_accuracy(
    y_true: Sequence[Any], y_pred: Sequence[Any] | None = None, proba: np.ndarray | None = None
) -> Mc0VsMc2Estimate:
    """MC0-vs-MC2 balanced accuracy (no CI): discs with true class 0 or 2, predicted
    argmax over (p_mc0, p_mc2) (ties -> MC0), or the hard label if ``proba`` is None.
    Returns a :class:`Mc0VsMc2Estimate` with ``value``, ``n_mc0``, ``n_mc2``, ``source`` (no CI)."""
    from sklearn.metrics import balanced_accuracy_score  # lazy: scikit-learn is heavy; only this computation needs it

    yt = _labels_array(y_true, "y_true")
    pr = None if proba is None else np.asarray(proba, dtype=np.float64).reshape(len(yt), -1)
    if pr is None and y_pred is None:
        raise ValueError("give y_pred or proba")
    yp = _labels_array(y_pred, "y_pred") if y_pred is not None else np.argmax(pr, axis=1)
    keep = (yt == 0) | (yt == 2)
    pred02 = _mc02_pred(yp, pr)
    value = None
    if keep.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = _f(balanced_accuracy_score(yt[keep], pred02[keep]))
    return Mc0VsMc2Estimate(value=value, n_mc0=int((yt == 0).sum()), n_mc2=int((yt == 2).sum()),
                            source="probabilities" if pr is not None else "labels")


def classification_report(
    y_true: Sequence[Any],
    y_pred: Sequence[Any],
    *,
    proba: np.ndarray | Sequence[Sequence[float]] | None = None,
    patient_ids: Sequence[Hashable] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    min_cases: int = MIN_CASES,
) -> ClassificationReport:
    """Three-class (MC0/MC1/MC2) report with patient-bootstrap CIs.

    Args:
        y_true, y_pred: labels 0/1/2 (or "MC0".."MC2"), one per disc.
        proba: optional (n, 3) class probabilities (p_mc0, p_mc1, p_mc2), used for MC0-vs-MC2.
        patient_ids: one per disc; bootstrap resamples these (None: each disc alone).
        n_boot: bootstrap resamples (0 disables CIs); seed: RNG seed; level: CI level.
        min_cases: classes with fewer true discs get the "too few cases" flag.

    Returns a :class:`ClassificationReport`: n_discs, n_patients, labels, confusion_matrix
    (rows true, columns predicted, fixed MC0/MC1/MC2 order), per_class {MC0: ClassStats(n_true,
    n_pred, sensitivity (flagged), specificity, precision, f1)}, accuracy, balanced_accuracy,
    macro_f1, weighted_f1, cohen_kappa, mc0_vs_mc2 and bootstrap settings. Each score is an
    :class:`Estimate` (value, ci_low, ci_high, display).
    """
    n = _check_lengths(y_true=y_true, y_pred=y_pred, patient_ids=patient_ids, proba=proba)
    yt = _labels_array(y_true, "y_true")
    yp = _labels_array(y_pred, "y_pred")
    pr = None if proba is None else np.asarray(proba, dtype=np.float64).reshape(n, len(LABELS))
    point = _sk_point_scores(yt, yp)
    cm = point["confusion_matrix"]
    inverse, weights = patient_bootstrap_weights(patient_ids, n, n_boot=max(n_boot, 0), seed=seed)
    boot: dict[str, np.ndarray] | None = None
    mc02_boot = None
    pred02 = _mc02_pred(yp, pr)
    keep02 = (yt == 0) | (yt == 2)
    if n_boot > 0:
        boot = _cm_scores(np.tensordot(weights, _per_patient_cm(inverse, yt, yp), axes=1))
        if keep02.any():
            mc02_boot = _mc02_from_cm(np.tensordot(weights, _per_patient_cm(inverse, yt, pred02, keep02), axes=1))

    def bget(key: str, c: int | None = None) -> np.ndarray | None:
        if boot is None:
            return None
        return boot[key] if c is None else boot[key][:, c]

    support = cm.sum(1)
    specificity = _cm_scores(cm)["specificity"]
    per_class = {}
    for c, name in enumerate(CLASS_NAMES):
        per_class[name] = ClassStats(
            n_true=int(support[c]),
            n_pred=int(cm[:, c].sum()),
            sensitivity=sensitivity_entry(
                point["sensitivity"][c], int(support[c]), boot=bget("sensitivity", c), level=level, min_cases=min_cases
            ),
            specificity=_estimate(specificity[c], bget("specificity", c), level=level),
            precision=_estimate(point["precision"][c], bget("precision", c), level=level),
            f1=_estimate(point["f1"][c], bget("f1", c), level=level),
        )
    counts = mc0_vs_mc2_balanced_accuracy(yt, yp, pr)
    n_mc0, n_mc2 = counts.n_mc0 or 0, counts.n_mc2 or 0
    mc02 = _estimate(counts.value, mc02_boot, level=level, cls=Mc0VsMc2Estimate, n_mc0=n_mc0, n_mc2=n_mc2,
                     source=counts.source, n=n_mc0 + n_mc2, too_few=bool(min(n_mc0, n_mc2) < min_cases))
    if mc02.too_few:  # e.g. a scanner group with a handful of MC2 discs
        mc02.display = f"too few cases (MC0 n={n_mc0}, MC2 n={n_mc2})"
    notes = [
        f"{name} has {per_class[name].n_true} true discs (< {min_cases}): too few cases to estimate its sensitivity."
        for name in CLASS_NAMES
        if per_class[name].sensitivity.too_few
    ]
    few = [name for name in CLASS_NAMES if 0 < per_class[name].n_true < min_cases]
    if few:
        notes.append(
            f"Balanced accuracy and macro-F1 average over classes including {', '.join(few)} with too few "
            "cases, so they are unstable; the MC0-vs-MC2 balanced accuracy does not depend on them."
        )
    return ClassificationReport(
        n_discs=int(n),
        n_patients=int(inverse.max()) + 1,
        labels=list(CLASS_NAMES),
        confusion_matrix=cm.astype(int).tolist(),
        confusion_matrix_axes="rows = true class, columns = predicted class",
        per_class=per_class,
        **{key: _estimate(point[key], bget(key), level=level)
           for key in ("accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "cohen_kappa")},
        mc0_vs_mc2=mc02,
        bootstrap=BootstrapSettings(unit="patient", n_boot=int(n_boot), seed=int(seed), level=level),
        notes=notes,
    )


def paired_bootstrap(
    y_true: Sequence[Any],
    pred_a: Sequence[Any],
    pred_b: Sequence[Any],
    patient_ids: Sequence[Hashable] | None = None,
    *,
    metric: str = "balanced_accuracy",
    proba_a: np.ndarray | None = None,
    proba_b: np.ndarray | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> PairedDiff:
    """Paired patient bootstrap of metric(A) - metric(B) on the same discs.

    Both methods are scored on the same resampled patients. ``metric`` is one of
    accuracy, balanced_accuracy, macro_f1, weighted_f1, cohen_kappa,
    mc0_vs_mc2_balanced_accuracy (uses ``proba_a``/``proba_b`` if given).

    Returns a :class:`PairedDiff`: metric, value_a, value_b, diff (point, A - B), mean_diff
    (bootstrap mean), ci_low, ci_high, frac_diff_le_0 (share of resamples with A <= B: a
    one-sided p-like value for "A better"), p_two_sided (2 * min(share <= 0, share >= 0),
    capped at 1), n_boot, n_boot_valid, seed.
    """
    if metric not in SCALAR_METRICS:
        raise ValueError(f"metric must be one of {SCALAR_METRICS}")
    n = _check_lengths(y_true=y_true, pred_a=pred_a, pred_b=pred_b, patient_ids=patient_ids)
    yt = _labels_array(y_true, "y_true")
    preds = [_labels_array(pred_a, "pred_a"), _labels_array(pred_b, "pred_b")]
    probas = [None if p is None else np.asarray(p, dtype=np.float64).reshape(n, len(LABELS)) for p in (proba_a, proba_b)]
    inverse, weights = patient_bootstrap_weights(patient_ids, n, n_boot=n_boot, seed=seed)

    def scores(yp: np.ndarray, pr: np.ndarray | None, w: np.ndarray) -> np.ndarray:
        if metric == "mc0_vs_mc2_balanced_accuracy":
            keep = (yt == 0) | (yt == 2)
            return _mc02_from_cm(np.tensordot(w, _per_patient_cm(inverse, yt, _mc02_pred(yp, pr), keep), axes=1))
        return _cm_scores(np.tensordot(w, _per_patient_cm(inverse, yt, yp), axes=1))[metric]

    ones = np.ones((1, weights.shape[1]))
    point = [float(scores(p, q, ones)[0]) for p, q in zip(preds, probas)]
    diffs = scores(preds[0], probas[0], weights) - scores(preds[1], probas[1], weights)
    ok = diffs[np.isfinite(diffs)]
    lo, hi, n_ok = _ci(diffs, level)
    le0 = float(np.mean(ok <= 0)) if ok.size else None
    ge0 = float(np.mean(ok >= 0)) if ok.size else None
    return PairedDiff(
        metric=metric,
        value_a=_f(point[0]),
        value_b=_f(point[1]),
        diff=_f(point[0] - point[1]),
        mean_diff=_f(ok.mean()) if ok.size else None,
        ci_low=lo,
        ci_high=hi,
        frac_diff_le_0=le0,
        p_two_sided=None if le0 is None else min(1.0, 2.0 * min(le0, ge0)),
        n_boot=int(n_boot),
        n_boot_valid=n_ok,
        seed=int(seed),
        unit="patient",
    )


T = TypeVar("T")


def by_group(groups: Sequence[Any], fn: Callable[[np.ndarray], T], *, min_size: int = 1) -> dict[str, T]:
    """Apply ``fn(indices)`` to the discs of each group value (e.g. manufacturer).

    Missing values (None, NaN, "") form the group "unknown". Keys are str(value),
    sorted; a result that is a dict gets ``"n_discs"`` if ``fn`` did not set it (a
    record such as :class:`ClassificationReport` carries its own). Groups smaller
    than ``min_size`` are skipped.
    """
    keys = []
    for g in groups:
        missing = g is None or (isinstance(g, float) and math.isnan(g)) or (isinstance(g, str) and not g.strip())
        keys.append("unknown" if missing else str(g).strip())
    keys_arr = np.asarray(keys, dtype=object)
    out: dict[str, T] = {}
    for key in sorted(set(keys)):
        idx = np.flatnonzero(keys_arr == key)
        if idx.size < min_size:
            continue
        res = fn(idx)
        if isinstance(res, Mapping):
            res = {**res, "n_discs": res.get("n_discs", int(idx.size))}  # type: ignore[assignment]
        out[key] = res
    return out


def classification_by_group(
    y_true: Sequence[Any],
    y_pred: Sequence[Any],
    groups: Sequence[Any],
    *,
    proba: np.ndarray | None = None,
    patient_ids: Sequence[Hashable] | None = None,
    **kwargs: Any,
) -> dict[str, ClassificationReport]:
    """:func:`classification_report` per group (e.g. manufacturer, field strength)."""
    yt, yp = list(y_true), list(y_pred)
    pr = None if proba is None else np.asarray(proba, dtype=np.float64)
    pid = None if patient_ids is None else list(patient_ids)

    def one(idx: np.ndarray) -> ClassificationReport:
        return classification_report(
            [yt[i] for i in idx],
            [yp[i] for i in idx],
            proba=None if pr is None else pr[idx],
            patient_ids=None if pid is None else [pid[i] for i in idx],
            **kwargs,
        )

    return by_group(groups, one)


# --------------------------------------------------------------------------- detection


def match_boxes(gt: np.ndarray, pred: np.ndarray) -> list[tuple[int, int, float]]:
    """One-to-one matching maximising the summed IoU (Hungarian, scipy).

    Returns (gt index, pred index, IoU) for pairs with IoU > 0.
    """
    from scipy.optimize import linear_sum_assignment  # lazy: scipy is heavy; only this computation needs it

    m = np.nan_to_num(iou_matrix(gt, pred))
    if m.size == 0:
        return []
    rows, cols = linear_sum_assignment(m, maximize=True)
    return [(int(r), int(c), float(m[r, c])) for r, c in zip(rows, cols) if m[r, c] > 0]


def _records(items: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    out: dict[str, list[Mapping[str, Any]]] = {}
    for it in items:
        out.setdefault(str(it["image_id"]), []).append(it)
    return out


def detection_report(
    gt: Sequence[Mapping[str, Any]],
    pred: Sequence[Mapping[str, Any]],
    *,
    iou_thresholds: Sequence[float] = (0.5, 0.7),
    fp_iou: float = 0.5,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> DetectionReport:
    """Disc detection scores (a :class:`DetectionReport`; ``per_gt``: one :class:`GtMatch` per ground-truth box).

    Args:
        gt: records ``{"image_id", "box": (x0, y0, x1, y1), "level": "L4-L5"}``.
        pred: records ``{"image_id", "box", "level"[, "score"]}`` (the final detections).

    Definitions: per image, ground-truth and predicted boxes are matched one-to-one
    maximising the summed IoU (Hungarian). Only images with at least one GT box
    are scored; predictions on other images are counted in ``n_pred_ignored``.

    - iou of a GT box = IoU with its matched prediction, 0 if unmatched;
      ``mean_iou`` averages it over all GT boxes;
    - ``recall[t]`` = share of GT boxes whose matched IoU >= t (t = 0.5, 0.7);
      ``share_gt_iou_ge_0.7`` is recall at 0.7;
    - a false positive is a prediction not matched to a GT box with IoU >= ``fp_iou``
      (0.5); ``fp_per_image`` = false positives / scored images;
    - ``level_accuracy`` = among GT boxes matched at IoU >= 0.5, the share whose
      prediction names the same level (e.g. "L4-L5").

    CIs: bootstrap over images (one image per patient here).
    """
    gts, preds = _records(gt), _records(pred)
    images = sorted(k for k, v in gts.items() if v)
    thresholds = [float(t) for t in iou_thresholds]
    rows = []  # per image: n_gt, sum_iou, hits per threshold..., n_fp, n_match50, n_level_ok, n_pred
    per_gt = []
    for img in images:
        g, p = gts[img], preds.get(img, [])
        gb = np.asarray([r["box"] for r in g], dtype=np.float64).reshape(-1, 4)
        pb = np.asarray([r["box"] for r in p], dtype=np.float64).reshape(-1, 4)
        matched = {gi: (pi, iou) for gi, pi, iou in match_boxes(gb, pb)}
        ious = np.asarray([matched.get(i, (None, 0.0))[1] for i in range(len(g))])
        good_pred = {pi for gi, (pi, iou) in matched.items() if iou >= fp_iou}
        level_ok = sum(
            1 for gi, (pi, iou) in matched.items() if iou >= 0.5 and str(p[pi].get("level", "")) == str(g[gi].get("level", ""))
        )
        n_match50 = sum(1 for _, iou in matched.values() if iou >= 0.5)
        rows.append([len(g), ious.sum(), *[(ious >= t).sum() for t in thresholds], len(p) - len(good_pred), n_match50, level_ok, len(p)])
        for gi, r in enumerate(g):
            pi = matched.get(gi, (None, 0.0))[0]
            per_gt.append(
                GtMatch(image_id=img, level=str(r.get("level", "")), iou=float(ious[gi]),
                        matched_level=None if pi is None else str(p[pi].get("level", "")))
            )
    table = np.asarray(rows, dtype=np.float64).reshape(len(images), 6 + len(thresholds))
    k = len(thresholds)

    def summarise(w: np.ndarray) -> dict[str, np.ndarray]:
        """Scores from image weights w (..., n_images): 1 each for the point estimate."""
        t = w @ table
        out = {"mean_iou": _div(t[..., 1], t[..., 0])}
        for j, thr in enumerate(thresholds):
            out[f"recall_{thr:g}"] = _div(t[..., 2 + j], t[..., 0])
        out["fp_per_image"] = _div(t[..., 2 + k], w.sum(-1))
        out["level_accuracy"] = _div(t[..., 4 + k], t[..., 3 + k])
        return out

    ones = np.ones((1, len(images)))
    point = {key: val[0] for key, val in summarise(ones).items()} if images else {}
    boot = None
    if images and n_boot > 0:
        rng = np.random.default_rng(seed)
        weights = rng.multinomial(len(images), np.full(len(images), 1.0 / len(images)), size=int(n_boot)).astype(float)
        boot = summarise(weights)
    n_pred_ignored = sum(len(v) for k_, v in preds.items() if k_ not in set(images))

    def est(key: str) -> Estimate:
        return _estimate(point.get(key), None if boot is None else boot[key], level=level)

    all_ious = np.asarray([r.iou for r in per_gt])
    return DetectionReport(
        n_images=len(images),
        n_gt=int(table[:, 0].sum()) if images else 0,
        n_pred=int(table[:, -1].sum()) if images else 0,
        n_pred_ignored=int(n_pred_ignored),
        matching="Hungarian, maximising summed IoU per image; IoU of [x0,x1]x[y0,y1] pixel boxes",
        mean_iou=est("mean_iou"),
        median_iou=_f(np.median(all_ious)) if all_ious.size else None,
        recall={f"{t:g}": est(f"recall_{t:g}") for t in thresholds},
        share_gt_iou_ge_07=est("recall_0.7") if 0.7 in thresholds else None,
        fp_per_image=est("fp_per_image"),
        fp_iou=float(fp_iou),
        level_accuracy=est("level_accuracy"),
        bootstrap=BootstrapSettings(unit="image", n_boot=int(n_boot), seed=int(seed), level=level),
        per_gt=per_gt,
    )
