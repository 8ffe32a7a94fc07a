"""Cohen's kappa with a study-level bootstrap CI (modic_core.evaluation.agreement)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, confusion_matrix

from modic_core.errors import InputError
from modic_core.evaluation.agreement import cohen_kappa, kappa_from_confusion

# rows a, columns b: MC0 [2, 1, 0], MC1 [0, 2, 0], MC2 [1, 0, 2]; p_o = 6/8, p_e = 21/64 -> kappa = 27/43
A = ["MC0", "MC0", "MC1", "MC2", "MC2", "MC0", "MC1", "MC2"]
B = ["MC0", "MC1", "MC1", "MC2", "MC0", "MC0", "MC1", "MC2"]
STUDIES = ["s1", "s1", "s2", "s2", "s3", "s3", "s4", "s4"]


def _random_pairs(n_studies: int, seed: int = 0) -> tuple[list[str], list[str], list[str]]:
    """Two raters who agree on about 70 % of 3 levels per study."""
    rng = np.random.default_rng(seed)
    cats = np.array(["MC0", "MC1", "MC2"])
    a = rng.choice(cats, size=3 * n_studies, p=[0.6, 0.15, 0.25])
    b = np.where(rng.random(a.size) < 0.7, a, rng.choice(cats, size=a.size))
    return list(a), list(b), [f"s{i // 3}" for i in range(a.size)]


def test_known_value_matches_sklearn_and_the_hand_computation():
    out = cohen_kappa(A, B, study_ids=STUDIES, n_boot=200, seed=1)
    assert out.kappa == pytest.approx(27 / 43) and out.kappa == pytest.approx(cohen_kappa_score(A, B))
    assert (out.n_levels, out.n_studies, out.n_boot, out.categories, out.reason) == (8, 4, 200, ["MC0", "MC1", "MC2"], None)
    assert out.lo is not None and out.lo <= out.kappa <= out.hi <= 1.0
    json.dumps(out.to_dict(), allow_nan=False)
    assert cohen_kappa(A, B, study_ids=STUDIES, n_boot=200, seed=1) == out  # seeded: the same CI again


def test_the_bootstrap_formula_agrees_with_sklearn():
    a, b, _ = _random_pairs(20, seed=3)
    cm = confusion_matrix(a, b, labels=["MC0", "MC1", "MC2"])
    assert float(kappa_from_confusion(cm)) == pytest.approx(cohen_kappa_score(a, b))
    assert np.isnan(kappa_from_confusion(np.array([[5, 0], [0, 0]])))  # one category: undefined, NaN inside only


def test_perfect_agreement_is_one_with_ci_one_to_one():
    out = cohen_kappa(A, A, study_ids=STUDIES, n_boot=300)
    assert (out.kappa, out.lo, out.hi) == (1.0, 1.0, 1.0)


def test_ci_widens_with_fewer_studies():
    a, b, s = _random_pairs(60, seed=2)
    wide = cohen_kappa(a[:24], b[:24], study_ids=s[:24], n_boot=500)  # 8 studies
    narrow = cohen_kappa(a, b, study_ids=s, n_boot=500)  # 60 studies
    assert wide.n_studies == 8 and narrow.n_studies == 60
    assert (wide.hi - wide.lo) > 1.5 * (narrow.hi - narrow.lo)


def test_the_cluster_bootstrap_is_wider_than_a_level_bootstrap_when_studies_are_alike():
    a, b, s = _random_pairs(10, seed=4)
    a, b, s = a * 4, b * 4, s * 4  # every study's levels repeated: 40 levels but still 10 studies
    clustered = cohen_kappa(a, b, study_ids=s, n_boot=500)
    per_level = cohen_kappa(a, b, study_ids=[str(i) for i in range(len(a))], n_boot=500)
    assert (clustered.hi - clustered.lo) > 1.2 * (per_level.hi - per_level.lo)


@pytest.mark.parametrize("a, b, studies, why", [
    ([], [], [], "fewer than 2 levels"),
    (["MC1"], ["MC1"], ["s"], "fewer than 2 levels"),
    (["MC0"] * 5, ["MC0"] * 5, list("abcde"), "only MC0"),
])
def test_degenerate_input_gives_none_with_a_reason_never_nan(a, b, studies, why):
    out = cohen_kappa(a, b, study_ids=studies, n_boot=100)
    assert (out.kappa, out.lo, out.hi) == (None, None, None) and why in out.reason
    json.dumps(out.to_dict(), allow_nan=False)


def test_bad_input_is_one_sentence():
    with pytest.raises(InputError, match="differ in length"):
        cohen_kappa(["MC0"], ["MC0", "MC1"], study_ids=["s"])
    with pytest.raises(InputError, match="not among the categories"):
        cohen_kappa(A, B, study_ids=STUDIES, categories=["MC0", "MC1"])
