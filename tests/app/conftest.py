"""Fixtures of the dashboard tests: the analysis double and a weights folder with a comparison."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.app import fakes
from tests.app.helpers import make_comparison, make_detector_card

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def own_data_dir(tmp_path, monkeypatch):
    """Each dashboard test its own empty label store (``MODIC_DATA_DIR``): reviews one test saves never show up
    in another's pages (the cohort page's agreement section, the queue)."""
    d = tmp_path / "modic_data"
    monkeypatch.setenv("MODIC_DATA_DIR", str(d))
    return d


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
    make_detector_card().save(d / "detector.json")
    monkeypatch.setenv("MODIC_WEIGHTS_DIR", str(d))
    return d


@pytest.fixture(scope="module")
def artifacts() -> Path:
    """Folder of the browser tests' screenshots (``MODIC_ARTIFACTS``, default ``artifacts/``; git ignores it)."""
    d = Path(os.environ.get("MODIC_ARTIFACTS", Path(__file__).resolve().parents[2] / "artifacts")) / "browser"
    d.mkdir(parents=True, exist_ok=True)
    return d
