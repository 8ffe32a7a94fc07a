"""What a call means: how often cross-validation levels called the same grade with a similar confidence had it.

A clinician reads "MC2, P = 0.78" but not how often such a call is right. :func:`call_table` answers from the
model's own out-of-fold (OOF) predictions: the real cross-validation levels (role ``cv`` of
``weights/conformal_oof_<method>.csv``: raw logits, true grade, fold) are temperature-scaled with the shipped
card's temperature (what inference shows), each is put in the :data:`CONFIDENCE_EDGES` bin of its top probability,
and per (called grade, bin) the levels and those whose true grade was the call are counted.
:meth:`CallTable.meaning` looks a call up; :attr:`CallMeaning.sentence` says it in one plain sentence, or says that
fewer than :data:`MIN_LEVELS` levels fell there. The bins and the minimum were fixed before looking at the data.
The temperature was fitted on these same OOF predictions (one scalar for all bins), so the figures are those of
the probabilities the app shows, not a nested estimate.

A method without a shipped OOF file has no table (:func:`load_call_table` returns None; :func:`no_data_sentence`
says so): another method's numbers are never borrowed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from modic_core.classification.calibration import softmax
from modic_core.schema import ClassifierCard
from modic_core.settings import weights_dir

__all__ = ["CONFIDENCE_EDGES", "MIN_LEVELS", "NO_DATA_SHORT", "OOF_FILE", "CallMeaning", "CallTable", "call_table", "load_call_table",
           "no_data_sentence"]

#: Bin edges of the call's top probability (calibrated, in [0, 1]); a bin holds ``lower <= p < upper`` (the last
#: includes 1.0). Fixed in advance: below 0.5, then steps of 0.1.
CONFIDENCE_EDGES: tuple[float, ...] = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
#: Fewest cross-validation levels in a (grade, bin) cell for a figure to be given; fewer: "too few levels to say".
MIN_LEVELS = 20
#: The shipped OOF file of a method (``weights/`` folder), written by ``python -m modic_core.train.conformal``.
OOF_FILE = "conformal_oof_{method}.csv"
_CLASSES = ("MC0", "MC1", "MC2")
#: The table cell (:attr:`CallMeaning.short`) of a method that ships no cross-validated predictions.
NO_DATA_SHORT = "No CV figures for this method"


@dataclass(frozen=True)
class CallMeaning:
    """Cross-validation levels called ``grade`` with a top probability in [``lower``, ``upper``): ``n`` of them,
    ``n_right`` of which truly had ``grade``; ``min_levels``: the fewest for which a figure is given."""

    grade: str
    lower: float
    upper: float
    n: int
    n_right: int
    min_levels: int = MIN_LEVELS

    @property
    def enough(self) -> bool:
        return self.n >= self.min_levels

    @property
    def in_ten(self) -> int | None:
        """How many in 10 were right (rounded half up); None below ``min_levels`` levels."""
        return int(np.floor(10 * self.n_right / self.n + 0.5)) if self.enough else None

    @property
    def confidence_label(self) -> str:
        return f"below {self.upper:.2f}" if self.lower <= 0.0 else f"{self.lower:.2f}-{self.upper:.2f}"

    @property
    def short(self) -> str:
        """The sentence as a table cell: "About 5 in 10 right (CV)", or "Too few in CV (n = 12)"."""
        return f"About {self.in_ten} in 10 right (CV)" if self.enough else f"Too few in CV (n = {self.n})"

    @property
    def sentence(self) -> str:
        """One plain sentence for a clinician (no number typed in: all from the counts)."""
        levels = f"n = {self.n} level{'' if self.n == 1 else 's'}"
        if not self.enough:
            return (f"Too few levels called {self.grade} at this confidence ({self.confidence_label}) in cross-validation "
                    f"to say how often such a call is right ({levels}).")
        return (f"Of levels called {self.grade} with this confidence ({self.confidence_label}), about {self.in_ten} in 10 "
                f"were {self.grade} (cross-validation, {levels}).")


@dataclass(frozen=True)
class CallTable:
    """The counts of every (grade, confidence bin) for one normalization ``method``."""

    method: str
    edges: tuple[float, ...]
    cells: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)  # (grade, bin) -> (n, n_right)
    min_levels: int = MIN_LEVELS

    def bin_of(self, confidence: float) -> int:
        """Index of the bin holding ``confidence`` (clipped into [0, 1])."""
        return int(np.clip(np.searchsorted(self.edges, float(confidence), side="right") - 1, 0, len(self.edges) - 2))

    def meaning(self, *, grade: str, confidence: float) -> CallMeaning:
        """What a call of ``grade`` with top probability ``confidence`` meant on cross-validation."""
        b = self.bin_of(confidence)
        n, right = self.cells.get((grade, b), (0, 0))
        return CallMeaning(grade=grade, lower=self.edges[b], upper=self.edges[b + 1], n=n, n_right=right,
                           min_levels=self.min_levels)


def call_table(*, probs: np.ndarray, y: Sequence[int], method: str, classes: Sequence[str] = _CLASSES,
               edges: Sequence[float] = CONFIDENCE_EDGES, min_levels: int = MIN_LEVELS) -> CallTable:
    """Counts per (called grade, top-probability bin) of calibrated OOF probabilities ``probs`` (N, C) against the
    true class indices ``y`` (N,)."""
    p = np.asarray(probs, dtype=np.float64)
    yy = np.asarray(y, dtype=int)
    if p.ndim != 2 or p.shape[1] != len(classes) or len(p) != len(yy):
        raise ValueError(f"probs must be (N, {len(classes)}) with N = len(y); got {p.shape} and {len(yy)}")
    table = CallTable(method=method, edges=tuple(float(e) for e in edges), min_levels=min_levels)
    call = p.argmax(axis=1) if len(p) else np.zeros(0, int)
    bins = np.array([table.bin_of(c) for c in p.max(axis=1)], dtype=int) if len(p) else np.zeros(0, int)
    for k, grade in enumerate(classes):
        for b in range(len(edges) - 1):
            sel = (call == k) & (bins == b)
            table.cells[(grade, b)] = (int(sel.sum()), int((yy[sel] == k).sum()))
    return table


def load_call_table(*, method: str, folder: str | Path | None = None) -> CallTable | None:
    """The table of ``method`` from its shipped OOF file and card temperature; None when either is not shipped."""
    import pandas as pd  # lazy: only this reader needs pandas

    folder = Path(folder) if folder else weights_dir()
    oof_path, card_path = folder / OOF_FILE.format(method=method), folder / f"classifier_{method}.json"
    if not oof_path.is_file() or not card_path.is_file():
        return None
    card = ClassifierCard.load(card_path)
    temperature = float(card.calibration.temperature) if card.calibration and card.calibration.temperature else 1.0
    oof = pd.read_csv(oof_path)
    real = oof[oof["role"] == "cv"] if "role" in oof.columns else oof
    logits = real[[f"logit_{c.lower()}" for c in _CLASSES]].to_numpy(dtype=np.float64)
    return call_table(probs=softmax(logits / temperature), y=real["modic"].to_numpy(dtype=int), method=method)


def no_data_sentence(method_label: str) -> str:
    """Said instead of a figure when a method ships no cross-validated predictions."""
    return (f"No cross-validated predictions are shipped for {method_label}, so how often its calls are right "
            "cannot be said here.")
