"""Applying a fitted calibration at inference: temperature scaling.

Temperature scaling divides the logits by ``T`` before the softmax. Since
``softmax(z / T) = softmax(log softmax(z) / T)``, it can be applied to probabilities as well as to
logits. ``T > 1`` softens over-confident outputs; ``T = 1`` changes nothing. The temperature and
the threshold are fitted on out-of-fold cross-validation predictions by ``modic_core.train.compare``
(:mod:`modic_core.evaluation.calibration`) and stored in the classifier card and weights.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

__all__ = ["Calibration", "apply_temperature", "softmax"]

_EPS = 1e-12


@dataclass(frozen=True)
class Calibration:
    """What inference needs: ``temperature`` (> 0). ``uncertain_below`` is the old in-sample threshold the cards
    still record (a top probability below it was flagged "uncertain"); inference no longer uses it: a level is
    uncertain when its conformal prediction set holds more than one grade (:mod:`~modic_core.classification.conformal`)."""

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
    return softmax(np.log(np.clip(p, _EPS, 1.0)) / float(temperature)).astype(np.float32)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities over the last axis (the classes) of ``logits``, float64: the project's one
    softmax, ``scipy.special.softmax`` (shifted by each row's maximum, so large logits do not
    overflow). Tensors use ``torch.softmax``."""
    return special.softmax(np.asarray(logits, dtype=np.float64), axis=-1)
