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


# --------------------------------------------------------------------------- N4 on a shrunk copy (issue 26 item 6)


def _phantom():
    from modic_core.datasets.demo import load_demo

    return load_demo("phantom-dicom")


def test_n4_fits_its_field_on_a_copy_at_most_32_px_in_plane(monkeypatch):
    """The fit's cost follows the shrunk voxel count: a 512 px series is fitted on <= 32 px (was 64)."""
    import SimpleITK as sitk

    from modic_core.normalization.methods import normalize
    from modic_core.volume import Volume

    sizes = []
    real = sitk.Shrink

    def shrink(img, factors):
        out = real(img, factors)
        sizes.append(out.GetSize())
        return out

    monkeypatch.setattr(sitk, "Shrink", shrink)
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:512, :512]
    body = ((yy - 256) ** 2 + (xx - 256) ** 2 < 200 ** 2).astype(np.float32)
    arr = (body * (300 + 0.4 * xx) + rng.normal(0, 5, (3, 512, 512))).astype(np.float32)
    normalize(Volume(arr, spacing=(4.0, 0.6, 0.6)), "n4_zscore")
    assert sizes and all(max(s[:2]) <= 32 for s in sizes), sizes


def test_n4_on_the_smaller_copy_matches_the_64_px_fit_on_the_phantom(monkeypatch):
    """Equivalence: on the 15-slice phantom the 32 px fit correlates r > 0.99 with the former 64 px fit
    over the foreground, for T1 and for T2."""
    import modic_core.normalization.methods as methods

    study = _phantom()
    for vol in (study.t1, study.t2):
        mask = methods.foreground_mask(vol)
        new = methods.normalize(vol, "n4_zscore").array
        monkeypatch.setattr(methods, "N4_SHRINK_INPLANE", 64)
        old = methods.normalize(vol, "n4_zscore").array
        monkeypatch.setattr(methods, "N4_SHRINK_INPLANE", 32)
        assert np.corrcoef(new[mask], old[mask])[0, 1] > 0.99


def test_n4_grades_on_the_phantom_are_those_of_the_64_px_fit(monkeypatch):
    """The shipped n4_zscore classifier grades the phantom's levels as it did with the 64 px fit."""
    from modic_core.analysis.analyze import StudyAnalysis, models_available
    import modic_core.normalization.methods as methods

    if not (models_available()["detector"] and models_available().get("n4_zscore")):
        pytest.skip("shipped weights missing")
    study = _phantom()

    def grades() -> list:
        rep = StudyAnalysis(study).report("n4_zscore", 0.5, gradcam=False)
        return [(lv.level, lv.prediction) for lv in rep.levels]

    new = grades()
    monkeypatch.setattr(methods, "N4_SHRINK_INPLANE", 64)
    assert grades() == new and len(new) >= 5
