"""Agreement in the label store (modic_core.labels.agreement) and ``modic-labels agreement``, on SQLite."""
from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from modic_core.errors import InputError
from modic_core.labels import LabelStore
from modic_core.labels.agreement import agreement, agreement_with_model, model_grade
from modic_core.labels.cli import main
from modic_core.volume import Study, Volume

LEVELS = ("L3-L4", "L4-L5", "L5-S1")
PROBS = {"MC0": {"MC0": 0.7, "MC1": 0.1, "MC2": 0.2}, "MC1": {"MC0": 0.2, "MC1": 0.5, "MC2": 0.3},
         "MC2": {"MC0": 0.1, "MC1": 0.2, "MC2": 0.7}}
# per study: the model's top grade, dr a's and dr b's grades of L3-L4, L4-L5, L5-S1
MODEL = [("MC0", "MC0", "MC2"), ("MC0", "MC1", "MC2"), ("MC0", "MC0", "MC0"), ("MC2", "MC2", "MC1")]
DR_A = [("MC0", "MC0", "MC2"), ("MC0", "MC2", "MC2"), ("MC0", "MC0", "MC3"), ("MC2", "not_gradable", "MC1")]
DR_B = [("MC0", "MC1", "MC2"), ("MC0", "MC2", "MC2"), ("MC0", "MC0", "MC3"), ("MC0", "MC2", "MC1")]


def _study(seed: int) -> Study:
    rng = np.random.default_rng(seed)
    t1 = Volume(rng.random((2, 8, 6), dtype=np.float32) * 100, (4.0, 0.8, 0.8))
    return Study(t1=t1, t2=t1.with_array(rng.random((2, 8, 6), dtype=np.float32)))


def _report(grades) -> dict:
    return {"normalization": "zscore", "threshold": 0.5, "weights": {"classifier": "cls.pt (abc)"},
            "levels": [{"level": name, "box": [1.0, 1.0, 5.0, 5.0], "score": 0.9, "prediction": g,
                        "probabilities": PROBS[g], "z_range": [0, 1]} for name, g in zip(LEVELS, grades)]}


@pytest.fixture
def url(tmp_path, monkeypatch):
    monkeypatch.setenv("MODIC_DATA_DIR", str(tmp_path / "data"))
    db = f"sqlite:///{tmp_path / 'labels.sqlite3'}"
    with LabelStore.open(db) as store:
        for i, (model, a, b) in enumerate(zip(MODEL, DR_A, DR_B)):
            stored, an = store.add_study(study=_study(i), analysis=_report(model))
            for level, ga, gb in zip(LEVELS, a, b):
                if i == 0:  # an earlier review that dr a's later one supersedes
                    store.add_review(study_id=stored.id, level=level, reviewer="dr a", grade="MC1", analysis_id=an.id)
                store.add_review(study_id=stored.id, level=level, reviewer="dr a", grade=ga, analysis_id=an.id)
                store.add_review(study_id=stored.id, level=level, reviewer="dr b", grade=gb, analysis_id=an.id)
        store.add_review(study_id=stored.id, level="L2-L3", reviewer="dr b", grade="MC0")  # only dr b: not paired
    return db


def _pairs(x, y, *, drop):
    kept = [(p, q) for sx, sy in zip(x, y) for p, q in zip(sx, sy) if not drop(p, q)]
    return [p for p, _ in kept], [q for _, q in kept]


def test_reviewer_vs_reviewer_uses_latest_grades_and_leaves_not_gradable_out(url):
    with LabelStore.open(url) as store:
        out = agreement(store, a="dr a", b="dr b", n_boot=200)
    a, b = _pairs(DR_A, DR_B, drop=lambda p, q: "not_gradable" in (p, q))
    assert out.kappa == pytest.approx(cohen_kappa_score(a, b, labels=["MC0", "MC1", "MC2", "MC3"]))
    assert (out.n_levels, out.n_studies, out.excluded) == (11, 4, {"not_gradable": 1})
    assert out.categories == ["MC0", "MC1", "MC2", "MC3"] and out.lo is not None


def test_reviewer_vs_model_uses_the_argmax_and_leaves_mc3_and_not_gradable_out(url):
    with LabelStore.open(url) as store:
        out = agreement_with_model(store, reviewer="dr a", n_boot=200)
    a, m = _pairs(DR_A, MODEL, drop=lambda p, q: p in ("MC3", "not_gradable"))
    assert out.kappa == pytest.approx(cohen_kappa_score(a, m))
    assert (out.n_levels, out.n_studies, out.excluded) == (10, 4, {"MC3": 1, "not_gradable": 1})
    assert out.categories == ["MC0", "MC1", "MC2"]


def test_model_grade_is_the_top_probability_or_none():
    assert model_grade({"probabilities": {"MC0": 0.2, "MC1": 0.3, "MC2": 0.5}}) == "MC2"
    assert model_grade({"probabilities": {}, "prediction": "MC1"}) is None  # an imported cohort: no model grade
    assert model_grade({"probabilities": PROBS["MC0"], "graded": False}) is None


def test_levels_without_model_probabilities_are_counted_not_graded(tmp_path):
    with LabelStore.open(f"sqlite:///{tmp_path / 'l.sqlite3'}", data_dir=tmp_path / "data") as store:
        for i in range(3):
            rep = _report(("MC0", "MC2", "MC0"))
            rep["levels"][0]["probabilities"] = {}
            stored, _ = store.add_study(study=_study(10 + i), analysis=rep)
            for level, g in zip(LEVELS, ("MC0", "MC2", "MC2")):
                store.add_review(study_id=stored.id, level=level, reviewer="dr c", grade=g)  # no analysis_id: latest
        out = agreement_with_model(store, reviewer="dr c", n_boot=100)
    assert out.excluded == {"no_model_grade": 3} and out.n_levels == 6
    assert out.kappa == pytest.approx(cohen_kappa_score(["MC2", "MC2"] * 3, ["MC2", "MC0"] * 3))


def test_a_reviewer_without_reviews_is_one_sentence(url):
    with LabelStore.open(url) as store, pytest.raises(InputError, match="has no reviews"):
        agreement(store, a="dr a", b="dr nobody")


def test_cli_text_json_and_errors(url, capsys):
    assert main(["agreement", "--db", url, "--a", "dr a", "--b", "dr b"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Cohen's kappa dr a vs dr b: ") and "11 levels in 4 studies; left out: 1 not_gradable" in text
    assert main(["agreement", "--db", url, "--reviewer", "dr b", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["a"] == "dr b" and data["b"] == "model" and data["excluded"] == {"MC3": 1, "no_model_grade": 1}  # L2-L3: not in the analysis
    assert data["n_levels"] == 11 and data["kappa"] is not None
    assert main(["agreement", "--db", url, "--reviewer", "dr nobody"]) == 2
    err = capsys.readouterr().err
    assert "'dr nobody' has no reviews" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(["agreement", "--db", url, "--a", "dr a"]) == 2
    assert "Give either two reviewers" in capsys.readouterr().err


def test_model_pairs_are_the_levels_the_kappa_with_the_model_is_computed_on(url):
    from modic_core.labels.agreement import model_pairs

    with LabelStore.open(url) as store:
        pairs, excluded = model_pairs(store, reviewer="dr a")
        studies = [s.id for s in store.list_studies()]
    a, m = _pairs(DR_A, MODEL, drop=lambda p, q: p in ("MC3", "not_gradable"))
    assert excluded == {"MC3": 1, "not_gradable": 1} and len(pairs) == 10
    assert sorted((p[2], p[3]) for p in pairs) == sorted(zip(a, m)) and {p[0] for p in pairs} == set(studies)
