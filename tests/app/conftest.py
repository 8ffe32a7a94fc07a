"""Fixtures of the dashboard tests: the analysis double and a weights folder with a comparison."""
from __future__ import annotations

import json
import os

import pytest

from tests.app import fakes
from tests.app.helpers import make_comparison

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def fake_backend():
    fakes.uninstall()
    fakes.install()
    yield fakes.FakeStudyAnalysis
    fakes.uninstall()


@pytest.fixture
def weights_with_comparison(tmp_path, monkeypatch):
    d = tmp_path / "weights"
    d.mkdir()
    (d / "normalization_comparison.json").write_text(json.dumps(make_comparison()))
    (d / "detector.json").write_text(json.dumps({
        "command": "python -m modic_core.train.detector --folds 5", "data": "spider2d (128 studies)", "seed": 0,
        "sha256": "ab" * 32,
        "metrics": {"mean_iou": {"value": 0.8, "ci_low": 0.7, "ci_high": 0.85, "display": "0.800 (95% CI 0.700-0.850)"},
                    "recall": {"0.5": {"value": 0.9, "display": "0.900"}}},
    }))
    monkeypatch.setenv("MODIC_WEIGHTS_DIR", str(d))
    return d
