"""Learning curve: nested, deterministic, patient-level training subsets, and the curve's scores."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from modic_core.train.learning_curve import extrapolation_text, nested_subsets, parse_fractions, score_curve

FRACTIONS = [0.25, 0.5, 0.75, 1.0]


def _cohort(n: int = 117, seed: int = 3):
    """Patient ids and strata (maker x sick), unequal stratum sizes."""
    rng = np.random.default_rng(seed)
    ids = [f"sub-{i:03d}" for i in range(n)]
    strata = [f"{rng.choice(['Philips', 'Siemens'], p=[0.7, 0.3])}|{int(rng.random() < 0.4)}" for _ in ids]
    return ids, strata


def test_subsets_are_nested_and_sized_by_the_fraction():
    ids, strata = _cohort()
    sub = nested_subsets(ids, strata, fractions=FRACTIONS, seed=[0, 2])
    assert list(sub) == FRACTIONS
    for f in FRACTIONS:
        assert len(sub[f]) == round(f * len(ids))
        assert len(set(sub[f])) == len(sub[f]) and set(sub[f]) <= set(ids)  # whole patients, each once
    for a, b in zip(FRACTIONS, FRACTIONS[1:]):
        assert set(sub[a]) < set(sub[b])
    assert sub[1.0] == sorted(ids)


def test_subsets_keep_each_stratum_share():
    ids, strata = _cohort()
    size = Counter(strata)
    of = dict(zip(ids, strata))
    sub = nested_subsets(ids, strata, fractions=FRACTIONS, seed=0)
    for f in FRACTIONS:
        got = Counter(of[i] for i in sub[f])
        assert all(abs(got[s] - f * m) <= 1 for s, m in size.items()), (f, got, size)


def test_subsets_are_deterministic_and_change_with_the_seed():
    ids, strata = _cohort()
    a = nested_subsets(ids, strata, fractions=FRACTIONS, seed=[0, 1])
    assert a == nested_subsets(list(ids), list(strata), fractions=FRACTIONS, seed=[0, 1])
    assert a[0.5] != nested_subsets(ids, strata, fractions=FRACTIONS, seed=[0, 2])[0.5]
    # the draw of a fraction does not depend on which other fractions are asked for
    assert a[0.5] == nested_subsets(ids, strata, fractions=[0.5], seed=[0, 1])[0.5]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="each id once"):
        nested_subsets(["a", "a"], [0, 0], fractions=[0.5], seed=0)
    with pytest.raises(ValueError, match="strata"):
        nested_subsets(["a", "b"], [0], fractions=[0.5], seed=0)
    with pytest.raises(ValueError, match="fractions"):
        nested_subsets(["a", "b"], [0, 0], fractions=[1.5], seed=0)
    assert parse_fractions("0.75, 0.25,0.5") == FRACTIONS
    with pytest.raises(SystemExit, match="fraction"):
        parse_fractions("0,0.5")
    with pytest.raises(SystemExit, match="numbers"):
        parse_fractions("half")


def _curve(accuracy: dict[float, float], n: int = 600, seed: int = 0):
    """Probabilities whose MC0-vs-MC2 accuracy is ``accuracy[f]`` per fraction (same discs and patients)."""
    rng = np.random.default_rng(seed)
    y = rng.choice([0, 2], size=n, p=[0.6, 0.4])
    patients = [str(i // 5) for i in range(n)]
    u = rng.random(n)  # nested errors: a disc right at a low fraction stays right at a higher one
    probs = {f: np.eye(3)[np.where(u < a, y, 2 - y)] * 0.7 + 0.1 for f, a in accuracy.items()}
    return y, patients, probs


def test_score_curve_measures_a_rising_curve_and_says_what_doubling_would_give():
    acc = {0.25: 0.60, 0.5: 0.65, 0.75: 0.68, 1.0: 0.70}
    y, patients, probs = _curve(acc)
    discs = {f: 800 * f for f in acc}
    sc = score_curve(y, patients, probs, discs, n_boot=200)
    assert sc["rows"][1.0].mc0_vs_mc2_balanced_accuracy > sc["rows"][0.25].mc0_vs_mc2_balanced_accuracy
    assert sc["full_vs_half"].diff > 0 and sc["full_vs_half"].ci_low > 0
    assert 0.03 < sc["slope"].value < 0.07 and sc["slope"].ci_low > 0
    text = extrapolation_text(sc["slope"], ba_full=sc["rows"][1.0].mc0_vs_mc2_balanced_accuracy, fit_at_full=sc["fit_at_full"])
    assert "Extrapolation, not a measurement" in text and "doublings" in text


def test_a_flat_curve_gets_no_extrapolation_to_the_target():
    y, patients, probs = _curve({0.25: 0.70, 0.5: 0.70, 1.0: 0.70})
    sc = score_curve(y, patients, probs, {0.25: 200, 0.5: 400, 1.0: 800}, n_boot=200)
    assert sc["slope"].value == pytest.approx(0, abs=1e-9)
    text = extrapolation_text(sc["slope"], ba_full=0.70, fit_at_full=sc["fit_at_full"])
    assert "includes zero" in text and "Extrapolation" not in text
    with pytest.raises(ValueError, match="1.0"):
        score_curve(y, patients, {0.5: probs[0.5]}, {0.5: 400}, n_boot=10)


def test_run_learning_curve_trains_on_nested_training_patients_and_keeps_the_held_out_discs(tmp_path, monkeypatch):
    """The whole mode with the cohort, crops and trainer mocked: what each model is trained on, what is scored."""
    import torch

    import modic_core.train.experiments as ex
    from modic_core.schema import LearningCurve
    from modic_core.train.classifier import DiscRecord, StudyData

    rng = np.random.default_rng(0)
    studies = []
    for i in range(30):
        sd = StudyData(f"s{i:02d}", None, None, "Philips Medical Systems" if i % 3 else "SIEMENS", 1.5)
        sd.discs = [DiscRecord(sd.study_id, f"L{j}", int(rng.choice([0, 2])), (0, 0, 1, 1), 0, "ground truth") for j in range(5)]
        studies.append(sd)
    trained: list[tuple[int, set[str]]] = []
    scored: list[list[str]] = []

    def fake_tensors(items, spec, rng_, **kw):
        ids = [d.study_id for sd, _, _ in items for d in sd.discs]
        scored.append(ids)
        return torch.tensor([[int(i[1:])] for i in ids], dtype=torch.float32), torch.tensor([d.modic for sd, _, _ in items for d in sd.discs])

    def fake_train(items, *, cfg, seed, desc, method=None, landmarks=None):
        ids = {sd.study_id for sd, _, _ in items}
        trained.append((seed, ids))
        return lambda x: torch.randn(len(x), 3, generator=torch.Generator().manual_seed(len(ids)))

    monkeypatch.setattr(ex, "prepare_cohort", lambda cohort, cache_path=None: (studies, []))
    monkeypatch.setattr(ex, "build_crops", lambda sts, method, lm, spec, cache: [(s, None, None) for s in sts])
    monkeypatch.setattr(ex, "_tensors", fake_tensors)
    monkeypatch.setattr(ex, "train_model", fake_train)
    monkeypatch.setattr(ex, "set_threads", lambda: None)
    out = tmp_path / "learning_curve.json"
    assert ex.main(["--cohort", "x", "--runs", str(tmp_path), "--learning-curve", "0.5,0.25", "--n-boot", "20",
                    "--draws", "2", "--json", str(out)]) == 0
    doc = LearningCurve.load(out)
    assert [p.fraction for p in doc.points] == [0.25, 0.5, 1.0]
    assert doc.n_discs == 150 and doc.n_patients == 30 and "--learning-curve 0.5,0.25" in doc.command
    assert len(trained) == 5 * (3 + 2)  # per fold: draw 0 at 0.25, 0.5, 1.0; draw 1 at 0.25, 0.5 (1.0 is shared)
    for k in range(5):
        (s1, a), (s2, b), (s3, c), (s4, a2), (s5, b2) = trained[5 * k: 5 * k + 5]
        assert s1 == s2 == s3 == s4 == s5 == doc.seed + k  # the comparison's seed for fold k
        assert a < b < c and len(a) == round(0.25 * len(c)) and len(b) == round(0.5 * len(c))
        assert a2 < b2 < c and (a2, b2) != (a, b) and len(b2) == len(b)  # another draw, same sizes
        assert all(ids == scored[5 * k] for ids in scored[5 * k: 5 * k + 5])  # held-out discs the same everywhere
        assert not set(scored[5 * k]) & c  # and never trained on
    assert sorted(i for k in range(5) for i in scored[5 * k]) == sorted(d.study_id for s in studies for d in s.discs)
    assert doc.draws == 2 and len(doc.slope_by_draw) == 2 and len(doc.full_vs_half_by_draw) == 2
    assert doc.points[0].ba_by_draw[0] == doc.points[0].mc0_vs_mc2.value and len(doc.points[-1].ba_by_draw) == 2
    assert doc.points[-1].diff_to_full is None and doc.points[0].diff_to_full is not None
    assert doc.full_vs_half is not None and doc.slope_per_doubling is not None
    assert sum(doc.points[-1].n_train_discs) == 4 * 150 and "not found" in doc.reference
