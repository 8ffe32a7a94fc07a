"""Patient-level cross-validation folds (scikit-learn StratifiedGroupKFold)."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from modic_core.train.common import patient_folds


def _discs(n_patients: int = 40, seed: int = 1):
    """One entry per disc: 3-7 discs per patient, a quarter of the patients with MC2 discs."""
    rng = np.random.default_rng(seed)
    ids, strata = [], []
    for p in range(n_patients):
        n = int(rng.integers(3, 8))
        sick = p % 4 == 0
        ids += [f"p{p}"] * n
        strata += [int(sick and k < 2) for k in range(n)]
    return ids, strata


def test_patients_are_never_split_and_every_patient_is_in_one_fold():
    ids, strata = _discs()
    folds = patient_folds(ids, n_folds=5, seed=0, strata=strata)
    assert len(folds) == 5
    seen = Counter(p for f in folds for p in f)
    assert set(seen) == set(ids) and set(seen.values()) == {1}
    assert all(f == sorted(f) for f in folds)


def test_strata_are_balanced_across_folds():
    ids, strata = _discs()
    folds = patient_folds(ids, n_folds=5, seed=0, strata=strata)
    sick = {p for p, s in zip(ids, strata) if s}
    per_fold = [len(sick & set(f)) for f in folds]
    assert sum(per_fold) == 10 and max(per_fold) - min(per_fold) <= 1, per_fold


def test_seed_reproducible_and_changes_the_split():
    ids, strata = _discs()
    a = patient_folds(ids, n_folds=5, seed=0, strata=strata)
    assert a == patient_folds(ids, n_folds=5, seed=0, strata=strata)
    assert a != patient_folds(ids, n_folds=5, seed=1, strata=strata)


def test_without_strata_and_bad_arguments():
    folds = patient_folds([str(i) for i in range(23)], n_folds=5, seed=0)
    assert sorted(len(f) for f in folds) == [4, 4, 5, 5, 5]
    with pytest.raises(ValueError, match="n_folds"):
        patient_folds(["a", "b"], n_folds=5)
    with pytest.raises(ValueError, match="strata"):
        patient_folds(["a", "b", "c"], n_folds=2, strata=[0, 1])
