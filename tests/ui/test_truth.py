"""Truth beside prediction: demo cases' grades matched to detected levels, the teaching table and its sentence."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from modic_core.datasets.demo import demo_levels, demo_truth, match_truth
from modic_core.ui.teaching import mc1_note, truth_summary, truth_table

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Det:
    level: str
    box: tuple
    prediction: str = "MC0"
    probabilities: dict | None = None
    graded: bool = True

    def __post_init__(self):
        self.probabilities = self.probabilities or {self.prediction: 0.9}


def test_demo_truth_reads_the_radiologist_grades():
    csv = pd.read_csv(ROOT / "demo" / "cohort" / "levels.csv", dtype={"study_id": str})
    rows = csv[csv.study_id == "104"]
    assert demo_truth("spider-104") == {r.level: f"MC{r.modic}" for r in rows.itertuples()}
    assert demo_truth("phantom-dicom")["L5-S1"] == "MC1" and demo_truth("phantom-dicom")["L2-L3"] == "MC3"


def test_demo_truth_matches_detections_by_box_not_name():
    labels = demo_levels("phantom-dicom")
    l45 = next(lb for lb in labels if lb.level == "L4-L5")
    x0, y0, x1, y1 = l45.box
    # the detector named it L3-L4 (one off) and its box is shifted by 3 px: the truth follows the box
    dets = [Det("L3-L4", (x0 + 3, y0 + 2, x1 + 3, y1 + 2)), Det("S1-S2", (0, 0, 5, 5))]
    assert demo_truth("phantom-dicom", dets) == {"L3-L4": "MC2"}
    # one-to-one: two detections on one disc, only the better one gets its truth
    both = [Det("a", tuple(l45.box)), Det("b", (x0 + 6, y0 + 5, x1 + 6, y1 + 5))]
    assert list(match_truth(both, labels)) == ["a"]


def test_truth_table_and_sentence():
    from modic_core.ui.teaching import teaching_phantom

    ph = teaching_phantom("L4-L5", 1, "both")
    dets = [Det(t.level, tuple(t.box), "MC1" if t.level in ("L4-L5", "L1-L2") else "MC0") for t in ph.levels]
    dets[0] = Det(dets[0].level, dets[0].box, "not graded", {}, graded=False)
    table = truth_table(ph.levels, dets)
    assert list(table["level"]) == [t.level for t in ph.levels]
    row = table.set_index("level")
    assert row.loc["L4-L5", "truth"] == "MC1" and row.loc["L4-L5", "agrees"] == "yes"
    assert row.loc["L1-L2", "agrees"] == "no" and row.loc[ph.levels[0].level, "agrees"] == "—"
    sentence = truth_summary(table)
    assert sentence.startswith(f"On this phantom the model agrees with the truth at {len(ph.levels) - 2} of {len(ph.levels) - 1}")
    assert f"it calls 1 of {len(ph.levels) - 2} normal (MC0) levels a Modic change" in sentence
    assert "predicts MC1 at 1 level(s) whose truth is not MC1 (L1-L2)" in sentence
    assert "only 4 real MC1 discs" in mc1_note(4) and "rarely" not in mc1_note(4)
