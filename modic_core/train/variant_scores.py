"""Scores of the grading variants' cross-validated probabilities against the labels (no training).

Shared by the variants comparison (:mod:`modic_core.train.experiments`) and the learning curve
(:mod:`modic_core.train.learning_curve`), which scores its fractions as variants.
"""
from __future__ import annotations

import numpy as np

from modic_core.evaluation.calibration import reliability
from modic_core.evaluation.metrics import bootstrap_ci, mc0_vs_mc2_balanced_accuracy, paired_bootstrap
from modic_core.schema import VariantScore

__all__ = ["score_variants"]


def score_variants(y: np.ndarray, patients: list[str], probs: dict[str, np.ndarray], *, n_boot: int = 1000) -> dict[str, VariantScore]:
    """Metrics of each variant's probabilities (N, 3) against the true labels ``y`` (0/1/2).

    ``patients``: one patient id per disc (the bootstrap resamples patients). ``probs`` must hold the
    reference variant ``"single"``. Returns variant -> :class:`~modic_core.schema.VariantScore`:
    ``mc0_vs_mc2_balanced_accuracy``, ``ci_low``, ``ci_high`` (patient bootstrap, ``n_boot`` draws, seed 0;
    None when ``n_boot`` is 0), ``mc0_mc2_called_mc1`` (share of MC0/MC2 discs predicted MC1),
    ``ece_uncalibrated`` and, except for ``"single"``, the paired difference to it (``diff_to_single``,
    ``diff_ci_low``, ``diff_ci_high``; None for ``"single"``).
    """
    out = {}
    keep = (y == 0) | (y == 2)
    for name, p in probs.items():
        pred = p.argmax(1)
        ba = mc0_vs_mc2_balanced_accuracy(y, proba=p).value
        ci = bootstrap_ci(lambda idx, p=p: mc0_vs_mc2_balanced_accuracy(y[idx], proba=p[idx]).value, len(y), patients,
                          n_boot=n_boot, seed=0) if n_boot else None
        ece, _ = reliability(p, y)
        diff = {}
        if name != "single":
            d = paired_bootstrap(y, pred, probs["single"].argmax(1), patients, metric="mc0_vs_mc2_balanced_accuracy",
                                 proba_a=p, proba_b=probs["single"], n_boot=n_boot, seed=0)
            diff = {"diff_to_single": d.diff, "diff_ci_low": d.ci_low, "diff_ci_high": d.ci_high}
        out[name] = VariantScore(mc0_vs_mc2_balanced_accuracy=ba, ci_low=ci and ci.ci_low, ci_high=ci and ci.ci_high,
                                 mc0_mc2_called_mc1=float(np.mean(pred[keep] == 1)), ece_uncalibrated=ece, **diff)
    return out
