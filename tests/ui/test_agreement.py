"""The cohort page's agreement helpers (modic_core.ui.agreement): kappa text rules, paired grades, differences,
the confusion matrix."""
from __future__ import annotations

import numpy as np

from modic_core.schema import Agreement
from modic_core.ui.agreement import MIN_LEVELS, confusion_figure, differing_levels, kappa_text, paired_grades


def _rec(**kw) -> Agreement:
    base = dict(kappa=0.6234, lo=0.41, hi=0.8, n_levels=MIN_LEVELS, n_studies=4, n_boot=100)
    return Agreement(**{**base, **kw})


def test_kappa_is_a_number_only_when_defined_and_on_enough_levels():
    assert kappa_text(_rec()) == "0.62 (95 % CI 0.41 to 0.80)"
    assert kappa_text(_rec(lo=None, hi=None)) == "0.62 (no CI: too few studies to resample)"
    assert kappa_text(_rec(n_levels=MIN_LEVELS - 1)) == f"too few levels (n={MIN_LEVELS - 1}; at least {MIN_LEVELS} needed)"
    undefined = _rec(kappa=None, lo=None, hi=None, reason="both raters gave only MC0; kappa is undefined with one category")
    assert kappa_text(undefined) == "no kappa: both raters gave only MC0; kappa is undefined with one category"


GRADES = {("s1", "L4-L5"): {"dr a": "MC0", "dr b": "MC0"}, ("s1", "L5-S1"): {"dr a": "MC2", "dr b": "not_gradable"},
          ("s2", "L4-L5"): {"dr a": "MC1"}, ("s0", "L3-L4"): {"dr a": "MC1", "dr b": "MC2", "dr c": "MC1"}}


def test_paired_grades_differences_and_confusion_counts():
    pairs = paired_grades(GRADES, "dr a", "dr b")
    assert pairs == [("s0", "L3-L4", "MC1", "MC2"), ("s1", "L4-L5", "MC0", "MC0"), ("s1", "L5-S1", "MC2", "not_gradable")]
    diff = differing_levels(pairs, a="dr a", b="dr b")
    assert list(diff.columns) == ["study", "level", "grade by dr a", "grade by dr b"]
    assert list(zip(diff["study"], diff["level"])) == [("s0", "L3-L4"), ("s1", "L5-S1")]
    z = np.asarray(confusion_figure(pairs, a="dr a", b="dr b").data[0].z)
    assert z.shape == (5, 5) and z.sum() == 3 and np.trace(z) == 1
    assert z[1, 2] == 1 and z[2, 4] == 1  # MC1 -> MC2, MC2 -> not gradable
