"""Which two series of a study are its T1 and its T2: the scoring rule shared by uploads and the PACS.

Each candidate is scored for its sequence (T1 / T2 from the description and TR/TE), its orientation
(sagittal), fat suppression or contrast (penalised) and slice count; the best distinct pair wins.
Series of two patients are never proposed together; a pair from one study is preferred.
Callers turn their own series records into :class:`PairCandidate` (no pixels, no identifiers).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["PairCandidate", "best_pair", "is_confident", "pair_score", "same_group"]

# Fat-suppressed, inversion-recovery or contrast-enhanced series: less suitable for Modic grading
# with a model trained on plain T1/T2 TSE, so they are chosen only when nothing else fits.
_SPECIAL = re.compile(r"STIR|TIRM|SPAIR|SPIR|DIXON|FAT ?SAT|\bFS\b|_FS\b|\bGD\b|\+C\b|POST|CONTRAST|\bC\+", re.I)


@dataclass(frozen=True)
class PairCandidate:
    """What the pairing rule reads of one series.

    ``sequence``: 'T1', 'T2' or 'unknown'; ``orientation``: 'sagittal', 'coronal', 'axial' or
    'unknown'; ``patient_hash`` / ``study_hash``: opaque keys (None when unknown).
    """

    sequence: str
    orientation: str
    description: str = ""
    n_slices: int = 0
    patient_hash: str | None = None
    study_hash: str | None = None


def _differ(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and a != b


def pair_score(c: PairCandidate, want: str) -> float:
    """Score of ``c`` as the ``want`` ('T1' or 'T2') series of a pair (higher is better)."""
    s = 0.0
    if c.sequence == want:
        s += 10
    elif c.sequence == "unknown":
        s += 2
    else:
        s -= 10
    if c.orientation == "sagittal":
        s += 5
    elif c.orientation != "unknown":
        s -= 20
    if _SPECIAL.search(c.description or ""):
        s -= 3
    s += min(c.n_slices, 60) / 100.0  # prefer the fuller series, a little
    return s


def best_pair(candidates: Sequence[PairCandidate]) -> tuple[int, int]:
    """Indexes (T1, T2) of the best-scoring distinct pair; ValueError with fewer than two candidates."""
    if len(candidates) < 2:
        raise ValueError("best_pair needs at least two candidates")
    best: tuple[float, int, int] | None = None
    for i, a in enumerate(candidates):
        for j, b in enumerate(candidates):
            if i == j:
                continue
            score = pair_score(a, "T1") + pair_score(b, "T2")
            if _differ(a.patient_hash, b.patient_hash):
                score -= 30  # never propose two patients
            elif _differ(a.study_hash, b.study_hash):
                score -= 4  # prefer a pair from one study
            if best is None or score > best[0]:
                best = (score, i, j)
    assert best is not None
    return best[1], best[2]


def same_group(a: PairCandidate, b: PairCandidate) -> bool:
    """False when the two series are known to come from different patients or studies."""
    return not (_differ(a.patient_hash, b.patient_hash) or _differ(a.study_hash, b.study_hash))


def is_confident(a: PairCandidate, b: PairCandidate) -> bool:
    """True when ``a`` is a sagittal T1, ``b`` a sagittal T2, of one patient and study."""
    return (a.sequence == "T1" and b.sequence == "T2" and a.orientation == "sagittal" and b.orientation == "sagittal"
            and same_group(a, b))
