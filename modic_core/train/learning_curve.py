"""Learning curve of the grading CV: nested training subsets and the scores of the curve.

Used by ``python -m modic_core.train.experiments --learning-curve 0.25,0.5,0.75`` (which trains the
models); this module holds the parts that need no training: which training patients each fraction
keeps (:func:`nested_subsets`) and the curve's scores (:func:`score_curve`).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from modic_core.schema import Estimate
from modic_core.train.variant_scores import score_variants
from modic_core.evaluation.metrics import bootstrap_ci, mc0_vs_mc2_balanced_accuracy, paired_bootstrap

__all__ = ["SUBSET_RULE", "nested_subsets", "parse_fractions", "score_curve", "draw_spread", "extrapolation_text"]

#: How :func:`nested_subsets` draws, written into the document.
SUBSET_RULE = ("per fold, the training patients are put in one random order (numpy default_rng([seed, fold])) interleaved "
               "proportionally across strata (scanner maker x any MC1/MC2 disc); fraction f keeps the first round(f x n) "
               "patients, so the subsets are nested (0.25 inside 0.5 inside 0.75 inside all) and each stratum's share is kept "
               "to within one patient; held-out patients, seeds and training config as the comparison")


def parse_fractions(text: str) -> list[float]:
    """``"0.25,0.5,0.75"`` -> ``[0.25, 0.5, 0.75, 1.0]`` (sorted, 1.0 always added: the reference)."""
    try:
        vals = {float(v) for v in text.split(",") if v.strip()}
    except ValueError:
        raise SystemExit(f"--learning-curve: fractions must be numbers like 0.25,0.5,0.75; got {text!r}") from None
    bad = [v for v in vals if not 0 < v <= 1]
    if bad or not vals:
        raise SystemExit(f"--learning-curve: each fraction must lie in (0, 1]; got {text!r}")
    return sorted(vals | {1.0})


def nested_subsets(ids: Sequence[str], strata: Sequence[object], *, fractions: Sequence[float],
                   seed: int | Sequence[int]) -> dict[float, list[str]]:
    """For each fraction in (0, 1], the sorted ids kept out of the patients ``ids`` (one stratum label each).

    One random order per call (``numpy.random.default_rng(seed)``): within each stratum the patients
    are shuffled and the i-th of a stratum of size m gets the key (i + 0.5) / m; patients are ranked by
    key (ties by the shuffle) and fraction f keeps the first ``max(1, round(f * n))``. Hence the subsets
    are nested, deterministic for a seed, exactly round(f * n) patients, and each stratum keeps
    ``f * m`` patients to within one.
    """
    ids = [str(i) for i in ids]
    if len(set(ids)) != len(ids):
        raise ValueError("nested_subsets draws patients: each id once")
    if len(strata) != len(ids):
        raise ValueError(f"{len(ids)} ids but {len(strata)} strata")
    if any(not 0 < f <= 1 for f in fractions):
        raise ValueError(f"fractions must lie in (0, 1]; got {list(fractions)}")
    n = len(ids)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    pos = np.empty(n, int)
    pos[order] = np.arange(n)
    keys = np.empty(n)
    labels = [str(s) for s in strata]
    for s in dict.fromkeys(labels):
        members = [i for i in order if labels[i] == s]
        for rank, i in enumerate(members):
            keys[i] = (rank + 0.5) / len(members)
    ranked = sorted(range(n), key=lambda i: (keys[i], pos[i]))
    return {float(f): sorted(ids[i] for i in ranked[:max(1, int(round(f * n)))]) for f in fractions}


def _slope(log_n: np.ndarray, ba: Sequence[float]) -> float:
    return float(np.polyfit(log_n, np.asarray(ba, float), 1)[0])


def score_curve(y: np.ndarray, patients: list[str], probs: dict[float, np.ndarray], train_discs: dict[float, float], *,
                n_boot: int = 1000) -> dict:
    """Scores of the curve on the pooled held-out discs (true labels ``y`` 0/1/2, probabilities (N, 3) per fraction).

    ``train_discs``: fraction -> mean training discs per fold. Returns ``{"rows": fraction -> score_variants row
    (BA with patient-bootstrap CI, paired difference to 1.0), "full_vs_half": paired 1.0 minus 0.5 (None without 0.5),
    "slope": least-squares slope of BA on log2(training discs) (BA per doubling) with a patient-bootstrap CI of the
    held-out discs (every fraction scored on the same resampled patients), "fit_at_full": the fitted BA at 1.0}``.
    """
    fr = sorted(probs)
    if 1.0 not in probs:
        raise ValueError("the curve needs the full training set (fraction 1.0) as its reference")
    named = {"single" if f == 1.0 else f"{f:g}": probs[f] for f in fr}
    rows_named = score_variants(y, patients, named, n_boot=n_boot)
    rows = {f: rows_named["single" if f == 1.0 else f"{f:g}"] for f in fr}
    half = None
    if 0.5 in probs:
        half = paired_bootstrap(y, probs[1.0].argmax(1), probs[0.5].argmax(1), patients, metric="mc0_vs_mc2_balanced_accuracy",
                                proba_a=probs[1.0], proba_b=probs[0.5], n_boot=n_boot, seed=0)
    log_n = np.log2([train_discs[f] for f in fr])
    slope = fit_full = None
    if len(fr) >= 2:
        def stat(idx):
            return _slope(log_n, [mc0_vs_mc2_balanced_accuracy(y[idx], proba=probs[f][idx]).value for f in fr])
        slope = bootstrap_ci(stat, len(y), patients, n_boot=n_boot, seed=0)
        b, a = np.polyfit(log_n, [rows[f].mc0_vs_mc2_balanced_accuracy for f in fr], 1)
        fit_full = float(a + b * log_n[-1])
    return {"rows": rows, "full_vs_half": half, "slope": slope, "fit_at_full": fit_full}


def draw_spread(y: np.ndarray, by_draw: list[dict[float, np.ndarray]], train_discs: list[dict[float, float]]) -> dict:
    """Point estimates of each subset draw (no bootstrap): ``{"ba": fraction -> [BA of draw 0, 1, ...], "slope":
    [slope per doubling of each draw], "full_vs_half": [BA(1.0) - BA(0.5) of each draw] (empty without 0.5)}``."""
    fr = sorted(by_draw[0])
    ba = {f: [mc0_vs_mc2_balanced_accuracy(y, proba=p[f]).value for p in by_draw] for f in fr}
    slope = [_slope(np.log2([n[f] for f in fr]), [ba[f][d] for f in fr]) for d, n in enumerate(train_discs)] if len(fr) > 1 else []
    half = [ba[1.0][d] - ba[0.5][d] for d in range(len(by_draw))] if 0.5 in ba and 1.0 in ba else []
    return {"ba": ba, "slope": slope, "full_vs_half": half}


def extrapolation_text(slope: Estimate | None, *, ba_full: float, fit_at_full: float | None, target: float = 0.80) -> str:
    """One honest sentence on what more data of the same kind would give, from the fitted slope per doubling."""
    if slope is None or slope.value is None or fit_at_full is None:
        return "No extrapolation: fewer than two fractions."
    b, lo, hi = slope.value, slope.ci_low, slope.ci_high
    ci = "" if lo is None else f" (95 % CI {lo:+.3f} to {hi:+.3f}; held-out patients resampled, the spread between subset draws is not in it)"
    head = (f"Measured: MC0-vs-MC2 balanced accuracy changes by {b:+.3f} per doubling of the training set{ci}; "
            f"at the full training set it is {ba_full:.3f} (log-linear fit {fit_at_full:.3f}). ")
    if lo is not None and lo <= 0:
        return head + ("The CI includes zero: within this cohort the curve is not shown to rise, so no gain from more "
                       "data of the same kind is claimed and no number of doublings to reach "
                       f"{target:.2f} is given.")
    pred = fit_at_full + b
    text = head + (f"Extrapolation, not a measurement: if the log-linear trend held, doubling the cohort would give about "
                   f"{pred:.3f}")
    if lo is not None:
        text += f" ({fit_at_full + lo:.3f}-{fit_at_full + hi:.3f} over the slope's CI)"
    if b > 0 and fit_at_full < target:
        d = (target - fit_at_full) / b
        text += f", and {target:.2f} would need about {d:.1f} doublings (about {2 ** d:.0f} times the discs)"
    return text + "."
