"""The typed, versioned JSON records: round trips, clear errors on unknown versions, the shipped files."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modic_core.train.common import detector_arch

from modic_core.schema import (
    Benchmark,
    ClassifierCard,
    ClassifierTrainingConfig,
    CohortMetrics,
    DetectorCard,
    DetectorTrainingConfig,
    NormalizationComparison,
    NyulLandmarks,
    SchemaError,
    StudyReportRecord,
)

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = [
    (NormalizationComparison, "weights/normalization_comparison.json"),
    (DetectorCard, "weights/detector.json"),
    *[(ClassifierCard, str(p.relative_to(ROOT))) for p in sorted((ROOT / "weights").glob("classifier_*.json"))],
    (NyulLandmarks, "weights/nyul_landmarks.json"),
    (Benchmark, "benchmarks/latest.json"),
]


@pytest.mark.parametrize("cls,path", SHIPPED, ids=[p for _, p in SHIPPED])
def test_shipped_files_load_and_round_trip_unchanged(cls, path, tmp_path):
    raw = json.loads((ROOT / path).read_text())
    rec = cls.load(ROOT / path)
    assert raw["schema"] == cls.KIND and raw["schema_version"] == cls.VERSION
    assert rec.to_dict() == raw
    rec.save(tmp_path / "copy.json")
    assert json.loads((tmp_path / "copy.json").read_text()) == raw
    assert [p.name for p in tmp_path.iterdir()] == ["copy.json"]  # atomic write leaves no temporary file


def test_shipped_cards_hold_their_weights_hash_and_training_config():
    from modic_core.schema import sha256_file

    for p in sorted((ROOT / "weights").glob("classifier_*.json")):
        card = ClassifierCard.load(p)
        assert card.sha256 == sha256_file(p.with_suffix(".pt")) and card.normalization in p.stem
        assert card.config.epochs == 12 and card.config.synthetic_mc1 == 0.1 and card.config.model["depth_kernel"] == 1
    det = DetectorCard.load(ROOT / "weights" / "detector.json")
    assert det.sha256 == sha256_file(ROOT / "weights" / "detector.pt")
    assert f"--epochs {det.config.epochs}" in det.command and det.config.n_folds == len(det.folds) == 5


@pytest.mark.parametrize("change,needles", [
    ({"schema_version": 99}, ["detector.json", "'detector_card' version 99", "reads version 1"]),
    ({"schema": "classifier_card"}, ["detector.json", "expected a 'detector_card'", "found schema 'classifier_card' version 1"]),
    ({"schema": None, "schema_version": None}, ["detector.json", "no 'schema' key", "version 1"]),
])
def test_unknown_kind_or_version_is_a_clear_schema_error(tmp_path, change, needles):
    doc = json.loads((ROOT / "weights" / "detector.json").read_text())
    doc.update(change)
    doc = {k: v for k, v in doc.items() if v is not None}
    (tmp_path / "detector.json").write_text(json.dumps(doc))
    with pytest.raises(SchemaError) as err:
        DetectorCard.load(tmp_path / "detector.json")
    assert isinstance(err.value, ValueError)
    for n in needles:
        assert n in str(err.value)


def test_missing_or_mistyped_fields_are_named(tmp_path):
    doc = json.loads((ROOT / "weights" / "normalization_comparison.json").read_text())
    del doc["methods"]["zscore"]["metrics"]["per_class"]
    (tmp_path / "c.json").write_text(json.dumps(doc))
    with pytest.raises(SchemaError, match=r"c\.json \('normalization_comparison' version 1\): missing required field "
                                          r"'methods\.zscore\.metrics\.per_class'"):
        NormalizationComparison.load(tmp_path / "c.json")
    card = json.loads((ROOT / "weights" / "detector.json").read_text())
    card["size_bytes"] = "big"
    with pytest.raises(SchemaError, match="'size_bytes' should be int, found str"):
        DetectorCard.from_dict(card, source="detector.json")
    card["size_bytes"], card["surprise"] = 1, 2
    with pytest.raises(SchemaError, match="unexpected field"):
        DetectorCard.from_dict(card)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SchemaError, match=r"bad\.json: not readable JSON"):
        Benchmark.load(tmp_path / "bad.json")


def test_training_config_round_trip_and_cli_defaults():
    from modic_core.train.classifier import add_config_args, config_from_args, training_config

    cfg = training_config(epochs=3, seed=7)
    assert ClassifierTrainingConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert cfg.crop["height"] == 48 and cfg.model["depth_kernel"] == 1 and cfg.lr == 2e-3
    ap = argparse.ArgumentParser()
    add_config_args(ap)
    args = ap.parse_args(["--cohort", "x"])
    assert config_from_args(args) == training_config()
    assert (args.epochs, args.seed, args.synthetic_mc1) == (12, 0, 0.1)
    det = DetectorTrainingConfig(epochs=2, model={"fpn_channels": 8})
    assert DetectorTrainingConfig.from_dict(det.to_dict()) == det and detector_arch(det).fpn_channels == 8


def test_study_report_round_trip():
    from modic_core.analysis.report import LevelResult, StudyReport

    rep = StudyReport(levels=[LevelResult("L4-L5", (1.0, 2.0, 30.5, 12.25), 0.91, {"MC0": 0.2, "MC1": 0.1, "MC2": 0.7}, "MC2", (3, 5))],
                      normalization="zscore", threshold=0.5, weights={"detector": "detector.pt (ab12)"}, timings={"detection_s": 0.1})
    d = rep.to_dict()
    assert d["schema"] == "study_report" and d["schema_version"] == 2
    rec = StudyReportRecord.from_dict(json.loads(json.dumps(d)))
    assert rec.levels[0].box == [1.0, 2.0, 30.5, 12.25] and rec.levels[0].prediction == "MC2"
    assert rec.to_dict() == d
    with pytest.raises(SchemaError, match="'study_report' version 0 is not supported"):
        StudyReportRecord.from_dict({**d, "schema_version": 0})


def test_cohort_metrics_round_trip(tmp_path):
    from modic_core.evaluation.evaluate import evaluate_files

    rng = np.random.default_rng(0)
    n = 40
    labels = pd.DataFrame({"study_id": [f"s{i // 4}" for i in range(n)], "level": [f"L{i % 4}" for i in range(n)],
                           "modic": rng.integers(0, 3, n)})
    labels.to_csv(tmp_path / "l.csv", index=False)
    labels[["study_id", "level"]].assign(prediction=[f"MC{k}" for k in rng.integers(0, 3, n)]).to_csv(tmp_path / "p.csv", index=False)
    rec = CohortMetrics.body_from_dict(evaluate_files(tmp_path / "p.csv", tmp_path / "l.csv", n_boot=20))
    rec.save(tmp_path / "m.json")
    back = CohortMetrics.load(tmp_path / "m.json")
    assert back == rec and back.classification.n_discs == n and back.detection is None


def test_nyul_landmarks_written_by_training_are_read_by_the_runtime(tmp_path):
    from modic_core.normalization.methods import load_landmarks, save_landmarks

    lm = {"T1": np.linspace(0, 100, 13), "T2": np.linspace(0, 100, 13) ** 1.01 / 100 ** 0.01}
    save_landmarks(lm, tmp_path / "nyul_landmarks.json", extra={"fitted_on": "2 studies"})
    rec = NyulLandmarks.load(tmp_path / "nyul_landmarks.json")
    assert rec.info == {"fitted_on": "2 studies"}
    back = load_landmarks(tmp_path / "nyul_landmarks.json")
    assert np.allclose(back["T2"], lm["T2"])
