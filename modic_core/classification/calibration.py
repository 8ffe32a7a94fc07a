"""Applying a fitted calibration at inference: temperature scaling and the "uncertain" flag.

Temperature scaling divides the logits by ``T`` before the softmax. Since
``softmax(z / T) = softmax(log softmax(z) / T)``, it can be applied to probabilities as well as to
logits. ``T > 1`` softens over-confident outputs; ``T = 1`` changes nothing. The temperature and
the threshold are fitted on out-of-fold cross-validation predictions by ``modic_core.train.compare``
(:mod:`modic_core.evaluation.calibration`) and stored in the classifier card and weights.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Calibration", "apply_temperature", "is_uncertain"]

_EPS = 1e-12


@dataclass(frozen=True)
class Calibration:
    """What inference needs: ``temperature`` (> 0) and ``uncertain_below`` (a calibrated top
    probability below it flags the level as uncertain; None: no threshold fitted, never flagged)."""

    temperature: float = 1.0
    uncertain_below: float | None = None

    def __post_init__(self) -> None:
        if not np.isfinite(self.temperature) or self.temperature <= 0:
            raise ValueError(f"temperature must be a positive number, got {self.temperature!r}")
        if self.uncertain_below is not None and not 0.0 <= self.uncertain_below <= 1.0:
            raise ValueError(f"uncertain_below must lie in [0, 1], got {self.uncertain_below!r}")


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities (N, C) rescaled by ``temperature``: ``softmax(log(p) / T)`` row-wise, float32."""
    p = np.asarray(probs, dtype=np.float64)
    if temperature == 1.0 or p.size == 0:
        return p.astype(np.float32)
    z = np.log(np.clip(p, _EPS, 1.0)) / float(temperature)
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def is_uncertain(
    top_probability: float,
    uncertain_below: float | None,
    *,
    agreement: float | None = None,
    min_agreement: float | None = None,
) -> bool:
    """True when the calibrated top probability is below ``uncertain_below``, or -- for an ensemble --
    when the share of members voting for the ensemble's class (``agreement``, 0-1) is below
    ``min_agreement``. A single model passes ``agreement=None`` (the ensemble hook stays unused)."""
    if not np.isfinite(top_probability):
        return False  # not graded: no grade to doubt
    low = uncertain_below is not None and float(top_probability) < float(uncertain_below)
    split = agreement is not None and min_agreement is not None and float(agreement) < float(min_agreement)
    return bool(low or split)
