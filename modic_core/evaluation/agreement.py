"""Agreement between two raters' grades of the same levels: Cohen's kappa with a study-level bootstrap CI.

- kappa = (p_o - p_e) / (1 - p_e), unweighted (every disagreement counts the same), point estimate from
  :func:`sklearn.metrics.cohen_kappa_score`;
- CI: percentile bootstrap over *studies* (all levels of a resampled study go in together), with the
  conventions of :mod:`modic_core.evaluation.metrics`: :func:`~modic_core.evaluation.metrics.patient_bootstrap_weights`
  (``n_boot`` resamples, default 1000, ``numpy.random.default_rng(seed)``), resamples in which kappa is
  undefined (one category only) are dropped, and no CI (None) when fewer than max(10, 10 %) are left;
- undefined kappa (fewer than 2 levels, or both raters used one and the same category) is None with a
  ``reason``, never NaN.
"""
from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
from sklearn.metrics import cohen_kappa_score

from modic_core.errors import InputError
from modic_core.evaluation.metrics import patient_bootstrap_weights
from modic_core.schema import Agreement

__all__ = ["cohen_kappa", "kappa_from_confusion"]


def kappa_from_confusion(cm: np.ndarray) -> np.ndarray:
    """Unweighted kappa of confusion matrices ``cm`` (..., K, K) (counts or weights); NaN where undefined."""
    cm = np.asarray(cm, dtype=np.float64)
    n = cm.sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        po = np.trace(cm, axis1=-2, axis2=-1) / n
        pe = (cm.sum(axis=-1) * cm.sum(axis=-2)).sum(axis=-1) / n**2
        kappa = (po - pe) / (1.0 - pe)
    return np.where((n > 0) & (pe < 1.0 - 1e-12), kappa, np.nan)


def _percentile(boot: np.ndarray, level: float) -> tuple[float | None, float | None]:
    ok = boot[np.isfinite(boot)]
    if ok.size < max(10, 0.1 * boot.size):
        return None, None
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(ok, [a, 1.0 - a])
    return float(lo), float(hi)


def cohen_kappa(
    grades_a: Sequence[str],
    grades_b: Sequence[str],
    *,
    study_ids: Sequence[Hashable],
    categories: Sequence[str] | None = None,
    excluded: Mapping[str, int] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Agreement:
    """Unweighted Cohen's kappa of ``grades_a`` vs ``grades_b`` (paired: one entry per level, in the same order,
    with the level's study in ``study_ids``) and its ``level`` bootstrap CI over studies.

    ``categories``: the grades kappa is computed over (default: those either rater used); ``excluded``: counts
    of levels the caller left out, copied into the record. InputError when the three sequences differ in
    length or a grade is not in ``categories``. Returns an :class:`~modic_core.schema.Agreement`.
    """
    a = [str(g) for g in grades_a]
    b = [str(g) for g in grades_b]
    if not len(a) == len(b) == len(study_ids):
        raise InputError(f"The two raters' grades and the study IDs differ in length ({len(a)}, {len(b)}, "
                         f"{len(study_ids)}); give one grade of each rater and one study per level.")
    used = sorted(set(a) | set(b))
    cats = list(categories) if categories is not None else used
    unknown = [g for g in used if g not in cats]
    if unknown:
        raise InputError(f"The grades {', '.join(unknown)} are not among the categories {', '.join(cats)}; "
                         "give categories that include every grade.")
    common = dict(n_levels=len(a), n_studies=len({str(s) for s in study_ids}), n_boot=int(n_boot), seed=int(seed),
                  level=level, categories=cats, excluded=dict(excluded or {}))
    if len(a) < 2:
        return Agreement(kappa=None, reason=f"fewer than 2 levels graded by both ({len(a)}); kappa is undefined",
                         **common)
    if len(used) < 2:
        return Agreement(kappa=None, reason=f"both raters gave only {used[0]}; kappa is undefined with one category",
                         **common)
    kappa = float(cohen_kappa_score(a, b, labels=cats))
    lo = hi = None
    if n_boot > 0:
        index = {c: i for i, c in enumerate(cats)}
        ia, ib = np.array([index[g] for g in a]), np.array([index[g] for g in b])
        inverse, weights = patient_bootstrap_weights([str(s) for s in study_ids], len(a), n_boot=int(n_boot), seed=seed)
        per_study = np.zeros((weights.shape[1], len(cats), len(cats)))
        np.add.at(per_study, (inverse, ia, ib), 1)
        boot = kappa_from_confusion(np.einsum("bp,pij->bij", weights, per_study))
        lo, hi = _percentile(boot, level)
    return Agreement(kappa=kappa, lo=lo, hi=hi, **common)
