"""The Nyul landmarks file: one writer (save_landmarks) and one reader (load_landmarks)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from modic_core.normalization.methods import LandmarksError, load_landmarks, save_landmarks
from modic_core.schema import NyulLandmarks

SHIPPED = Path(__file__).resolve().parents[2] / "weights" / "nyul_landmarks.json"
LANDMARKS = {"T1": np.linspace(0, 100, 13), "T2": np.linspace(0, 100, 13) ** 1.01 / 100**0.01}


def test_written_file_is_the_shipped_document(tmp_path):
    path = save_landmarks(LANDMARKS, tmp_path / "nyul_landmarks.json", extra={"fitted_on": "2 studies"})
    doc = json.loads(path.read_text())
    assert sorted(doc) == sorted(json.loads(SHIPPED.read_text()))  # same keys as the file training shipped
    assert NyulLandmarks.load(path).info == {"fitted_on": "2 studies"}
    back = load_landmarks(path)
    np.testing.assert_allclose(back["T2"], LANDMARKS["T2"])
    assert set(load_landmarks(SHIPPED)) == {"T1", "T2"}


@pytest.mark.parametrize("key", ["schema", "schema_version", "format", "method", "percentiles", "standard_range", "landmarks"])
def test_a_file_missing_a_key_is_refused_with_a_sentence(tmp_path, key):
    doc = json.loads(SHIPPED.read_text())
    del doc[key]
    path = tmp_path / "nyul_landmarks.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(LandmarksError) as info:
        load_landmarks(path)
    msg = str(info.value)
    assert "nyul_landmarks.json" in msg and msg[:1].isupper() and msg.endswith(".") and "Traceback" not in msg
    assert "cannot be used" in msg and ". " not in msg  # one sentence
    if not key.startswith("schema"):
        assert f"missing required field '{key}'" in msg


@pytest.mark.parametrize(("key", "value", "phrase"), [
    ("format", "other/1", "not a Nyul landmarks file"),
    ("method", "zscore", "not a Nyul landmarks file"),
    ("percentiles", [1.0, 99.0], "other landmark percentiles"),
    ("standard_range", [0.0, 4095.0], "another standard intensity range"),
    ("landmarks", {"T1": [3.0, 2.0, 1.0]}, "13 finite non-decreasing"),
])
def test_values_other_than_this_programs_are_refused(tmp_path, key, value, phrase):
    doc = json.loads(SHIPPED.read_text())
    doc[key] = value
    path = tmp_path / "nyul_landmarks.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(LandmarksError, match=phrase):
        load_landmarks(path)


def test_missing_or_unreadable_file(tmp_path):
    with pytest.raises(LandmarksError, match="could not be read"):
        load_landmarks(tmp_path / "absent.json")
    shutil.copy(SHIPPED, tmp_path / "ok.json")
    (tmp_path / "ok.json").write_text("{not json")
    with pytest.raises(LandmarksError, match="cannot be used"):
        load_landmarks(tmp_path / "ok.json")
