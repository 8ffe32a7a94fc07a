"""``modic-train finetune``: label rules, the locked part, the weights folder, the decision rule, kill and resume.

The store holds the three demo studies (train part) and two copies of demo studies with one T1 pixel changed,
chosen so that the store's fixed rule puts them in the locked part (13 MC0/MC2 levels). Seeded, 1-2 epochs.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from modic_core import settings
from modic_core.classification.infer import load_classifier
from modic_core.datasets.cohort import iter_cohort
from modic_core.labels.split import split_of
from modic_core.labels.store import LabelStore
from modic_core.labels.files import study_key
from modic_core.schema import FinetuneRecord, VersionMetrics
from modic_core.train import finetune
from modic_core.volume import Study

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "demo" / "cohort"


def _record(cs) -> dict:
    levels = [{"level": lv.level, "box": list(lv.box), "score": 0.9, "probabilities": {}, "prediction": f"MC{lv.modic}",
               "z_range": [], "graded": True} for lv in cs.levels]
    return {"normalization": "zscore", "threshold": 0.5, "levels": levels}


def _locked_copy(study: Study) -> Study:
    """The study with one corner T1 pixel raised by the smallest k that puts its key in the locked part."""
    for k in range(1, 200):
        arr = study.t1.array.copy()
        arr[0, 0, 0] += k
        copy = Study(t1=study.t1.with_array(arr), t2=study.t2)
        if split_of(study_key(copy)) == "locked":
            return copy
    raise AssertionError("no locked copy found")


def _add(store: LabelStore, study: Study, cs, reviewer: str = "a") -> str:
    st, an = store.add_study(study=study, analysis=_record(cs), model_version="test")
    for lv in cs.levels:
        store.add_review(study_id=st.id, level=lv.level, reviewer=reviewer, grade=f"MC{lv.modic}", analysis_id=an.id)
    return st.id


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("finetune_store")
    with LabelStore.open(f"sqlite:///{root / 'db.sqlite3'}", data_dir=root / "data") as store:
        demo = list(iter_cohort(DEMO))
        for cs in demo:
            _add(store, cs.load(), cs)
        for cs in demo[:2]:
            _add(store, _locked_copy(cs.load()), cs)
        assert sum(s.split == "locked" for s in store.list_studies()) == 2
    return root


@pytest.fixture
def site(template, tmp_path, monkeypatch) -> Path:
    """A fresh copy of the template store; MODIC_DATA_DIR points at its images."""
    root = tmp_path / "site"
    shutil.copytree(template, root)
    monkeypatch.setenv("MODIC_DATA_DIR", str(root / "data"))
    return root


def _url(root: Path) -> str:
    return f"sqlite:///{root / 'db.sqlite3'}"


def _args(root: Path, out: Path, *extra: str) -> list[str]:
    return ["--db", _url(root), "--out", str(out), "--epochs", "1", "--seed", "0", *extra]


# ---------------------------------------------------------------- label rules
def test_label_rules_agreement_mc3_not_gradable_box_and_name(tmp_path):
    cs = next(iter(iter_cohort(DEMO)))
    with LabelStore.open(f"sqlite:///{tmp_path / 'db.sqlite3'}", data_dir=tmp_path / "data") as store:
        st, an = store.add_study(study=cs.load(), analysis=_record(cs), model_version="test")
        lv = [x.level for x in cs.levels]  # 7 levels, each with an analysis box
        store.add_review(study_id=st.id, level=lv[0], reviewer="a", grade="MC2")
        store.add_review(study_id=st.id, level=lv[0], reviewer="b", grade="MC2", box=(1, 2, 30, 40), corrected_level="L4-L5")
        store.add_review(study_id=st.id, level=lv[1], reviewer="a", grade="MC0")
        store.add_review(study_id=st.id, level=lv[1], reviewer="b", grade="MC2")  # disagreement
        store.add_review(study_id=st.id, level=lv[2], reviewer="a", grade="MC3")
        store.add_review(study_id=st.id, level=lv[3], reviewer="a", grade="not_gradable")
        store.add_review(study_id=st.id, level=lv[4], reviewer="a", grade="MC2")
        store.add_review(study_id=st.id, level=lv[4], reviewer="a", grade="MC0")  # the latest counts
        store.add_review(study_id=st.id, level="L9-L10", reviewer="a", grade="MC0")  # no box anywhere
        discs, counts = finetune.level_labels(store, st.id, detect=lambda: {})
    assert counts == {"used": 2, "disagreement": 1, "mc3": 1, "not_gradable": 1, "no_region": 1}
    by = {d.level: d for d in discs}
    assert by["L4-L5"].modic == 2 and by["L4-L5"].box == (1, 2, 30, 40) and by["L4-L5"].box_source == "reviewer"
    assert by[lv[4]].modic == 0 and by[lv[4]].box == tuple(float(v) for v in cs.levels[4].box)
    assert by[lv[4]].box_source == "analysis"


def test_decision_rule_and_locked_minimum():
    rng = np.random.default_rng(0)
    y = np.array([0, 2] * 6)
    ids = [f"s{i % 3}" for i in range(len(y))]
    good = np.eye(3)[y] * 0.8 + 0.1
    bad = np.eye(3)[2 - y] * 0.8 + 0.1
    ev = finetune.evaluate(good, bad, y, ids)
    assert ev.enough and finetune.decide(ev) == "rejected"
    assert finetune.decide(finetune.evaluate(bad, good, y, ids)) == "candidate"
    small = finetune.evaluate(good, good, y[:8], ids[:8])  # 8 levels < 10
    assert not small.enough and "not enough locked levels" in small.reason and small.new == {}
    assert finetune.decide(small) == "rejected"
    one_class = finetune.evaluate(good[y == 0], good[y == 0], y[y == 0], [f"s{i}" for i in range(6)])
    assert not one_class.enough
    del rng


# ---------------------------------------------------------------- runs in process
def test_locked_never_trained_on_dir_complete_and_registered(site, tmp_path, monkeypatch):
    seen = {}
    real = finetune.finetune_model

    def spy(model, items, **kw):
        seen["ids"] = {d.study_id for sd, _, _ in items for d in sd.discs}
        return real(model, items, **kw)

    monkeypatch.setattr(finetune, "finetune_model", spy)
    out = tmp_path / "v1"
    assert finetune.main(_args(site, out, "--name", "v1")) == 0
    with LabelStore.open(_url(site)) as store:
        locked = {s.id for s in store.list_studies() if s.split == "locked"}
        train = {s.id for s in store.list_studies() if s.split == "train"}
        models = store.list_models()
    assert seen["ids"] == train and not seen["ids"] & locked
    assert not (tmp_path / "v1.partial").exists()
    for f in settings.weights_dir().iterdir():  # the base folder's files are all there
        if f.is_file():
            assert (out / f.name).is_file(), f.name
    assert not (out / finetune.CHECKPOINT).exists()
    assert json.loads((out / finetune.PROGRESS).read_text()) == {"stage": "done", "fraction": 1.0, "message": f"finished: {models[0].status}"}
    clf = load_classifier("zscore", weights_dir=str(out))
    card = json.loads((out / "classifier_zscore.json").read_text())
    assert clf.sha256 == card["sha256"] != json.loads((settings.weights_dir() / "classifier_zscore.json").read_text())["sha256"]
    assert card["command"].startswith("python -m modic_core.train finetune ")
    (m,) = models
    assert m.name == "v1" and m.weights_dir == str(out.resolve()) and m.status in ("candidate", "rejected")
    loc = m.metrics["locked"]
    assert loc["enough"] and loc["n_studies"] == 2 and loc["n_levels"] == 13
    assert {"value", "ci_low", "ci_high"} <= set(loc["new"]["mc0_vs_mc2"]) and "paired_new_minus_current" in loc
    assert m.card["finetune"]["base"]["name"] == "shipped" and m.metrics["data"]["train"]["used"] == 19
    record = FinetuneRecord.load(out / finetune.RECORD)  # a typed finetune_record document
    assert record.status == m.status and VersionMetrics.from_dict(m.metrics).locked == record.metrics.locked
    assert "schema" not in m.card["finetune"] and "run_key" not in m.card["finetune"]


def _forced(kind: str):
    def fake(model, items, **kw):
        if kind == "bad":  # always MC1: MC0-vs-MC2 ties -> MC0, balanced accuracy 0.5
            with torch.no_grad():
                model.head[-1].weight.zero_()
                model.head[-1].bias.copy_(torch.tensor([0.0, 5.0, 0.0]))
        return model.eval()
    return fake


def test_rejected_when_worse_and_active_unchanged(site, tmp_path, monkeypatch):
    monkeypatch.setattr(finetune, "finetune_model", _forced("bad"))
    assert finetune.main(_args(site, tmp_path / "bad", "--activate")) == 0
    with LabelStore.open(_url(site)) as store:
        (m,) = store.list_models()
        assert store.active_model() is None
    loc = m.metrics["locked"]
    assert m.status == "rejected" and loc["new"]["mc0_vs_mc2"]["value"] < loc["current"]["mc0_vs_mc2"]["value"]


def test_candidate_activated_only_with_activate(site, tmp_path, monkeypatch):
    monkeypatch.setattr(finetune, "finetune_model", _forced("same"))  # new == current: not below, so candidate
    assert finetune.main(_args(site, tmp_path / "same")) == 0
    assert finetune.main(_args(site, tmp_path / "same2", "--activate")) == 0
    with LabelStore.open(_url(site)) as store:
        status = {m.name: m.status for m in store.list_models()}
    assert status == {"same": "candidate", "same2": "active"}


def test_bad_input_exits_2(site, tmp_path, capsys):
    assert finetune.main(_args(site, tmp_path / "x", "--method", "nope")) == 2
    (tmp_path / "exists").mkdir()
    assert finetune.main(_args(site, tmp_path / "exists")) == 2
    (tmp_path / "y.partial").mkdir()
    assert finetune.main(_args(site, tmp_path / "y")) == 2
    assert finetune.main(_args(site, tmp_path / "c", "--cohort", str(tmp_path / "missing"))) == 2
    empty = tmp_path / "empty"
    assert finetune.main(["--db", f"sqlite:///{empty / 'db.sqlite3'}", "--out", str(tmp_path / "z")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 5 and all(line.startswith("modic-train finetune: ") and "Traceback" not in line for line in err)
    assert "no reviewed" in err[-1] and not (tmp_path / "z.partial").exists()


# ---------------------------------------------------------------- killed and resumed
def test_killed_run_leaves_active_unchanged_and_rerun_resumes(site, tmp_path):
    with LabelStore.open(_url(site)) as store:
        store.register_model(name="base", card={}, metrics={}, status="active", weights_dir=str(settings.weights_dir()))
    out = tmp_path / "v2"
    part = tmp_path / "v2.partial"
    cmd = [sys.executable, "-m", "modic_core.train", "finetune", *_args(site, out)]
    cmd[cmd.index("--epochs") + 1] = "40"
    env = {**os.environ, "MODIC_THREADS": "1"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    try:
        while time.time() < deadline:
            prog = part / finetune.PROGRESS
            if (part / finetune.CHECKPOINT).is_file() and prog.is_file() and json.loads(prog.read_text())["stage"] == "training":
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    epoch = torch.load(part / finetune.CHECKPOINT, weights_only=True)["epoch"]
    assert 1 <= epoch < 40
    with LabelStore.open(_url(site)) as store:
        assert [m.name for m in store.list_models()] == ["base"] and store.active_model().name == "base"
    assert not out.exists()
    rerun = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"resuming from the checkpoint after epoch {epoch}" in rerun.stderr
    assert f"epoch {epoch + 1}/40" in rerun.stderr and "epoch 1/40" not in rerun.stderr
    with LabelStore.open(_url(site)) as store:
        assert [m.name for m in store.list_models()] == ["base", "v2"] and store.active_model().name == "base"
    assert out.is_dir() and not part.exists()
