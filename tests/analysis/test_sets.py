"""Prediction sets of a report (modic_core/analysis/sets.py) and their wiring into analyze()."""
from __future__ import annotations

import copy
import importlib
import json

import numpy as np
import pytest

from modic_core.analysis.report import LevelResult, StudyReport
from modic_core.analysis.sets import NO_SETS_NOTE, is_set_note, level_p_values, level_set, uncertain_note, with_coverage
from modic_core.classification.conformal import ConformalCalibration, p_values
from modic_core.errors import InputError
from modic_core.schema import StudyReportRecord
from tests.conformal_sets import SINGLE, TWO_ALWAYS, TWO_AT_90, hand_calibration, with_p_values
from tests.shipped import models_ready


def _level(name: str, graded: bool = True) -> LevelResult:
    probs = {"MC0": 0.6, "MC1": 0.1, "MC2": 0.3} if graded else {c: float("nan") for c in ("MC0", "MC1", "MC2")}
    return LevelResult(name, (10.0, 10.0, 40.0, 20.0), 0.9, probs, "MC0" if graded else "not graded", (0, 0), graded=graded)


def _report() -> StudyReport:
    levels = [_level("L3-L4"), _level("L4-L5"), _level("L5-S1"), _level("S1-S2", graded=False)]
    rep = StudyReport(levels=levels, normalization="zscore", threshold=0.5, notes=["An unrelated note."])
    return with_p_values(rep, [SINGLE, TWO_AT_90, TWO_ALWAYS, {}], coverage=0.9)


class TestWithCoverage:
    def test_sets_and_uncertain_follow_the_coverage_without_a_model(self):
        rep = _report()
        assert [lv.prediction_set for lv in rep.levels] == [("MC0",), ("MC0", "MC2"), ("MC0", "MC2"), ()]
        assert [lv.uncertain for lv in rep.levels] == [False, True, True, False]
        assert rep.coverage == 0.9 and rep.notes == ["An unrelated note.", uncertain_note(2, 0.9)]
        low = with_coverage(rep, 0.8)
        assert [lv.prediction_set for lv in low.levels] == [("MC0",), ("MC0",), ("MC0", "MC2"), ()]
        assert [lv.uncertain for lv in low.levels] == [False, False, True, False]
        assert low.coverage == 0.8
        assert low.notes == ["An unrelated note.", "1 level has more than one grade in its 80 % prediction set: read it yourself."]
        high = with_coverage(low, 0.95)
        assert high.levels[0].prediction_set == ("MC0",) and high.levels[1].prediction_set == ("MC0", "MC2")
        assert high.notes[-1] == "2 levels have more than one grade in their 95 % prediction set: read them yourself."
        # the input is not changed, the p-values travel unchanged
        assert rep.levels[1].prediction_set == ("MC0", "MC2") and rep.coverage == 0.9
        assert [lv.p_values for lv in high.levels] == [lv.p_values for lv in rep.levels]

    def test_no_uncertain_level_no_note(self):
        rep = with_coverage(_report(), 0.5)
        assert not any(lv.uncertain for lv in rep.levels) and rep.notes == ["An unrelated note."]

    def test_report_without_calibration_is_returned_as_it_is(self):
        rep = StudyReport(levels=[_level("L4-L5")], normalization="zscore", threshold=0.5, notes=[NO_SETS_NOTE])
        assert with_coverage(rep, 0.8) is rep and rep.levels[0].prediction_set == ()

    @pytest.mark.parametrize("bad", [0.3, 1.0, 90, float("nan"), "lots"])
    def test_coverage_outside_the_range_is_one_sentence(self, bad):
        with pytest.raises(InputError, match=r"must be a share between 0.5 and 0.99"):
            with_coverage(_report(), bad)

    def test_set_notes_are_recognised(self):
        assert is_set_note(NO_SETS_NOTE) and is_set_note(uncertain_note(1, 0.85)) and is_set_note(uncertain_note(3, 0.9))
        assert not is_set_note("Level naming uncertain (a gap): check the names.")


class TestPValues:
    def test_columns_follow_the_grade_names_whatever_the_calibration_order(self):
        cal = hand_calibration(seed=1)
        probs = np.random.default_rng(2).dirichlet((1.0, 1.0, 1.0), size=5)
        probs[2] = np.nan  # a level that is not graded
        pv = level_p_values(probs, cal)
        assert pv.shape == (5, 3) and np.isnan(pv[2]).all() and np.isfinite(np.delete(pv, 2, 0)).all()
        assert np.allclose(np.delete(pv, 2, 0), np.delete(p_values(probs, cal), 2, 0))
        swapped = ConformalCalibration(cal.score, ("MC2", "MC0", "MC1"), cal.calibration_scores)
        assert np.allclose(level_p_values(probs, swapped), pv, equal_nan=True)
        assert level_p_values(probs, None) is None

    def test_level_set_is_in_grade_order_and_empty_without_p_values(self):
        assert level_set({"MC2": 0.3, "MC0": 0.4, "MC1": 0.0}, 0.9) == ("MC0", "MC2")
        assert level_set({}, 0.9) == ()
        assert level_set({"MC0": 0.01, "MC1": 0.02, "MC2": 0.05}, 0.9) == ("MC2",)  # never empty for a graded level


def test_report_json_keeps_sets_p_values_and_coverage_and_old_reports_load():
    d = json.loads(json.dumps(_report().to_dict()))
    assert d["coverage"] == 0.9 and d["levels"][1]["prediction_set"] == ["MC0", "MC2"]
    assert d["levels"][1]["p_values"] == TWO_AT_90 and d["levels"][3]["prediction_set"] == []
    rec = StudyReportRecord.from_dict(d)
    assert rec.coverage == 0.9 and rec.levels[1].prediction_set == ["MC0", "MC2"] and rec.levels[1].p_values["MC2"] == 0.15
    old = copy.deepcopy(d)
    del old["coverage"]
    for lv in old["levels"]:
        del lv["prediction_set"], lv["p_values"]
    rec = StudyReportRecord.from_dict(old)
    assert rec.coverage is None and rec.levels[1].prediction_set == [] and rec.levels[1].p_values == {}


# --------------------------------------------------------------------------- analyze() with the shipped models


needs_models = pytest.mark.skipif(not models_ready(), reason="shipped weights missing")


@pytest.fixture(scope="module")
def phantom():
    from modic_core.datasets.synthetic import make_phantom

    return make_phantom(seed=4, shape=(15, 128, 128), spacing=(4.0, 2.0, 2.0)).to_study()


@needs_models
def test_analyze_computes_p_values_and_sets_from_the_classifiers_calibration(phantom, monkeypatch):
    analyze_module = importlib.import_module("modic_core.analysis.analyze")  # the package re-exports a function of that name
    import modic_core.classification as classification
    from modic_core.analysis.analyze import StudyAnalysis
    from modic_core.classification.infer import Classifier

    shipped = classification.load_classifier("zscore")
    calibrated = copy.copy(shipped)
    calibrated.conformal = hand_calibration(seed=0)
    assert calibrated.key != shipped.key  # the analysis cache cannot serve one for the other
    monkeypatch.setattr(analyze_module, "load_classifier", lambda method, **_: calibrated)  # where the analysis looks it up
    runs = {"cls": 0}
    orig = Classifier.predict
    monkeypatch.setattr(Classifier, "predict", lambda self, *a, **k: runs.__setitem__("cls", runs["cls"] + 1) or orig(self, *a, **k))

    sa = StudyAnalysis(phantom)
    rep = sa.report("zscore", 0.3, gradcam=False, coverage=0.9)
    graded = [lv for lv in rep.levels if lv.graded]
    assert graded and rep.coverage == 0.9
    probs = np.array([[lv.probabilities[c] for c in ("MC0", "MC1", "MC2")] for lv in graded])
    expected = p_values(probs, calibrated.conformal)  # from the calibrated probabilities the report shows
    got = np.array([[lv.p_values[c] for c in ("MC0", "MC1", "MC2")] for lv in graded])
    assert np.allclose(got, expected, atol=1e-6)
    for lv in graded:
        assert lv.prediction_set == level_set(lv.p_values, 0.9) and lv.prediction_set
        assert lv.uncertain == (len(lv.prediction_set) > 1)
    assert not any("below" in n and "uncertain" in n for n in rep.notes)  # the old threshold note is gone
    n_unc = sum(lv.uncertain for lv in rep.levels)
    assert (uncertain_note(n_unc, 0.9) in rep.notes) == bool(n_unc) and NO_SETS_NOTE not in rep.notes
    # another coverage: the same p-values, no network run, the same sets as with_coverage gives
    for cov in (0.5, 0.99):
        again = sa.report("zscore", 0.3, gradcam=False, coverage=cov)
        assert [lv.p_values for lv in again.levels] == [lv.p_values for lv in rep.levels]
        assert [lv.prediction_set for lv in again.levels] == [lv.prediction_set for lv in with_coverage(rep, cov).levels]
    assert runs["cls"] == 1
    sizes = [len(lv.prediction_set) for lv in sa.report("zscore", 0.3, gradcam=False, coverage=0.99).levels if lv.graded]
    assert max(sizes) > 1  # at 99 % some level keeps more than one grade
    with pytest.raises(InputError):
        sa.report("zscore", 0.3, gradcam=False, coverage=0.999)


@needs_models
def test_analyze_without_calibration_has_no_sets_and_says_so(phantom, monkeypatch):
    analyze_module = importlib.import_module("modic_core.analysis.analyze")  # the package re-exports a function of that name
    import modic_core.classification as classification
    from modic_core.analysis.analyze import StudyAnalysis

    bare = copy.copy(classification.load_classifier("zscore"))
    bare.conformal = None
    monkeypatch.setattr(analyze_module, "load_classifier", lambda method, **_: bare)  # where the analysis looks it up
    rep = StudyAnalysis(phantom).report("zscore", 0.3, gradcam=False)
    assert rep.levels and rep.coverage is None
    assert all(lv.prediction_set == () and lv.p_values == {} and not lv.uncertain for lv in rep.levels)
    assert rep.notes.count(NO_SETS_NOTE) == 1
    assert with_coverage(rep, 0.8) is rep


def test_cli_refuses_a_coverage_outside_the_range(capsys):
    from modic_core.analysis.analyze import main

    with pytest.raises(SystemExit) as exc:
        main(["t1.mha", "t2.mha", "--coverage", "90"])
    assert exc.value.code == 2
    assert "--coverage: '90' must be a share between 0.5 and 0.99, e.g. 0.9 for 90 %." in capsys.readouterr().err


@needs_models
def test_cli_coverage_reaches_the_report(phantom, monkeypatch, tmp_path, capsys):
    analyze_module = importlib.import_module("modic_core.analysis.analyze")  # the package re-exports a function of that name
    import modic_core.classification as classification
    from modic_core.analysis.analyze import main

    calibrated = copy.copy(classification.load_classifier("zscore"))
    calibrated.conformal = hand_calibration(seed=0)
    monkeypatch.setattr(analyze_module, "load_classifier", lambda method, **_: calibrated)  # where the analysis looks them up
    monkeypatch.setattr(analyze_module, "load_study", lambda t1, t2: phantom)
    out = tmp_path / "r.json"
    rc = main(["t1.mha", "t2.mha", "--normalization", "zscore", "--threshold", "0.3", "--no-gradcam",
               "--coverage", "0.99", "--json", str(out)])
    assert rc == 0
    d = json.loads(out.read_text())
    assert d["coverage"] == 0.99 and all(lv["p_values"] for lv in d["levels"] if lv["graded"])
    stdout = capsys.readouterr().out
    assert "grade set" in stdout and "coverage=0.99" in stdout
    n = sum(lv["uncertain"] for lv in d["levels"])
    assert n and uncertain_note(n, 0.99) in stdout


def test_scope_note_names_a_scanner_outside_the_calibration():
    from modic_core.analysis.sets import scope_note
    from modic_core.classification.conformal import ConformalCalibration
    from modic_core.volume import VolumeMeta

    cal = ConformalCalibration(score="lac", classes=("MC0", "MC1", "MC2"),
                               calibration_scores={"MC0": (0.1,), "MC1": (0.1,), "MC2": (0.1,)},
                               makers=("Philips", "Siemens"), field_strengths=("1.5 T", "3 T"))
    assert scope_note(cal, VolumeMeta(manufacturer="SIEMENS", field_strength_t=1.5)) == ""
    assert scope_note(cal, VolumeMeta()) == ""  # the header does not say: nothing to compare
    ge = scope_note(cal, VolumeMeta(manufacturer="GE MEDICAL SYSTEMS", field_strength_t=3.0))
    assert "scanner maker GE (calibrated on Philips, Siemens)" in ge and "field strength" not in ge
    low = scope_note(cal, VolumeMeta(manufacturer="Philips Healthcare", field_strength_t=1.0))
    assert "field strength 1 T (calibrated on 1.5 T, 3 T)" in low
    assert scope_note(None, VolumeMeta(manufacturer="GE")) == ""
    # a calibration that does not record its scanners (site calibration) never warns
    site = ConformalCalibration(score="lac", classes=cal.classes, calibration_scores=cal.calibration_scores)
    assert scope_note(site, VolumeMeta(manufacturer="GE")) == ""
