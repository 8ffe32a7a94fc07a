"""User corrections of level names: shift, rename, refusals, JSON record, and no network rerun."""
from __future__ import annotations

import json

import numpy as np
import pytest

from modic_core.analysis.naming_correction import NameCorrection, Rename, Shift, apply_correction, corrected_names
from modic_core.analysis.report import LevelResult, LocalHeatmap, StudyReport
from modic_core.errors import InputError
from modic_core.schema import StudyReportRecord

NAMES = ["L2-L3", "L3-L4", "L4-L5", "L5-S1"]  # top to bottom


def make_report(names=NAMES) -> StudyReport:
    levels = []
    for i, name in enumerate(names):
        heat = np.zeros((3, 40, 40), np.float32)
        heat[1, 5 * i : 5 * i + 4, 10:20] = 0.5 + 0.1 * i
        p = {"MC0": 0.1 * (i + 1), "MC1": 0.05, "MC2": 0.95 - 0.1 * (i + 1)}
        levels.append(LevelResult(name, (10.0, 5.0 * i, 20.0, 5.0 * i + 4), 0.9 - 0.05 * i, p, max(p, key=p.get), (0, 2),
                                  LocalHeatmap.from_dense(heat)))
    return StudyReport(levels=levels, normalization="zscore", threshold=0.5, naming_uncertain=True,
                       warnings=["Level naming uncertain (a gap): check the names."])


class TestShift:
    def test_up_and_down(self):
        assert corrected_names(NAMES, NameCorrection((Shift(1),))) == ["L1-L2", "L2-L3", "L3-L4", "L4-L5"]
        assert corrected_names(["L1-L2", "L2-L3"], NameCorrection((Shift(-2),))) == ["L3-L4", "L4-L5"]

    def test_shifts_merge_and_cancel(self):
        c = NameCorrection().then(Shift(-1)).then(Shift(-1))
        assert c.steps == (Shift(-2),) and c.describe() == "all names shifted down by two levels"
        assert not NameCorrection().then(Shift(1)).then(Shift(-1))  # up then down: no correction

    def test_below_l5_s1_or_above_the_table_is_refused(self):
        with pytest.raises(InputError, match="L5-S1 would move below L5-S1"):
            corrected_names(NAMES, NameCorrection((Shift(-1),)))
        with pytest.raises(InputError, match="above C2-C3"):
            corrected_names(["C2-C3"], NameCorrection((Shift(1),)))
        with pytest.raises(InputError, match="IVD30 is not a disc level"):
            corrected_names(["IVD30"], NameCorrection((Shift(1),)))

    def test_not_a_whole_number(self):
        with pytest.raises(InputError, match="whole number"):
            Shift(0.5)


class TestRename:
    def test_one_level(self):
        c = NameCorrection().then(Rename("l2-l3", "L1-L2"))  # case-insensitive
        assert corrected_names(NAMES, c) == ["L1-L2", "L3-L4", "L4-L5", "L5-S1"]
        assert c.describe() == "L2-L3 renamed to L1-L2"

    def test_several_after_a_shift(self):
        c = NameCorrection().then(Shift(1)).then(Rename("L1-L2", "T12-L1"))
        assert corrected_names(NAMES, c) == ["T12-L1", "L2-L3", "L3-L4", "L4-L5"]
        assert c.describe() == "all names shifted up by one level; then L1-L2 renamed to T12-L1"

    def test_duplicate_is_refused(self):
        with pytest.raises(InputError, match="another level already has that name"):
            corrected_names(NAMES, NameCorrection((Rename("L4-L5", "L3-L4"),)))

    def test_outside_the_table_is_refused(self):
        with pytest.raises(InputError, match="L6-S1 is not a disc level name"):
            corrected_names(NAMES, NameCorrection((Rename("L5-S1", "L6-S1"),)))

    def test_unknown_old_name_is_refused(self):
        with pytest.raises(InputError, match="No level is named T9-T10"):
            corrected_names(NAMES, NameCorrection((Rename("T9-T10", "T8-T9"),)))

    def test_out_of_order_is_refused(self):
        with pytest.raises(InputError, match="head to foot"):
            corrected_names(NAMES, NameCorrection((Rename("L3-L4", "T12-L1"),)))

    def test_same_name_adds_nothing(self):
        assert not NameCorrection().then(Rename("L3-L4", "L3-L4"))


def test_apply_keeps_grades_boxes_and_heatmaps_and_records_the_correction():
    rep = make_report()
    out = apply_correction(rep, NameCorrection((Shift(1),)))
    assert [lv.level for lv in out.levels] == ["L1-L2", "L2-L3", "L3-L4", "L4-L5"]
    assert [lv.detected_level for lv in out.levels] == NAMES
    for a, b in zip(rep.levels, out.levels):
        assert (a.box, a.score, a.probabilities, a.prediction, a.z_range) == (b.box, b.score, b.probabilities, b.prediction, b.z_range)
        assert b.gradcam is a.gradcam  # the same Grad-CAM object: nothing was recomputed
    assert out.names_corrected_by_user and out.naming_correction == "all names shifted up by one level"
    assert out.naming_note == "Level names corrected by the user: all names shifted up by one level."
    assert out.naming_uncertain and out.warnings == rep.warnings  # the detector's flag stays
    assert [lv.level for lv in rep.levels] == NAMES and not rep.names_corrected_by_user  # the input is untouched
    assert apply_correction(rep, NameCorrection()) is rep


def test_apply_runs_no_network(monkeypatch):
    """A correction of the analysis double's report runs neither its detector nor its classifier."""
    from tests.app.fakes import FakeStudyAnalysis

    from modic_core.datasets.demo import list_demo_cases, load_demo

    study = load_demo(list_demo_cases()[0].name)
    sa = FakeStudyAnalysis(study)
    rep = sa.report("zscore", 0.5)
    runs = (sa.detect_runs, dict(sa.classify_runs))
    out = apply_correction(rep, NameCorrection().then(Shift(1)))
    assert (sa.detect_runs, dict(sa.classify_runs)) == runs == (1, {"zscore": 1})
    assert [lv.probabilities for lv in out.levels] == [lv.probabilities for lv in rep.levels]


def test_json_records_the_correction_and_old_reports_still_load():
    d = apply_correction(make_report(), NameCorrection((Rename("L2-L3", "L1-L2"),))).to_dict()
    assert d["names_corrected_by_user"] is True and d["naming_correction"] == "L2-L3 renamed to L1-L2"
    assert d["levels"][0]["level"] == "L1-L2" and d["levels"][0]["detected_level"] == "L2-L3"
    rec = StudyReportRecord.from_dict(json.loads(json.dumps(d)))
    assert rec.names_corrected_by_user and rec.levels[0].detected_level == "L2-L3"
    assert rec.to_dict() == d
    old = {k: v for k, v in make_report().to_dict().items() if k not in ("names_corrected_by_user", "naming_correction")}
    for lv in old["levels"]:
        del lv["detected_level"]
    rec = StudyReportRecord.from_dict(old)  # a report written before these fields existed
    assert rec.names_corrected_by_user is False and rec.naming_correction == "" and rec.levels[0].detected_level == ""
