"""End-to-end test of `python -m modic_core.evaluation` on tiny CSVs."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from modic_core.evaluation.evaluate import main
from modic_core.schema import CohortMetrics

LABELS = """study_id,level,ivd_label,modic,up_endplate,low_endplate,pfirrmann,disc_narrowing,x0,y0,x1,y1
1,L5-S1,1,0,0,0,3,1,0,0,10,10
1,L4-L5,2,2,1,1,4,1,0,20,10,30
1,L3-L4,3,3,1,1,4,1,0,40,10,50
2,L5-S1,1,0,0,0,2,0,,,,
2,L4-L5,2,2,1,0,3,0,,,,
3,L5-S1,1,1,1,0,3,0,,,,
3,L4-L5,2,0,0,0,2,0,,,,
"""

# study 3 L4-L5 has no prediction; study 9 is unlabelled; study 2 L5-S1 is duplicated (lower score loses)
PREDICTIONS = """study_id,level,prediction,p_mc0,p_mc1,p_mc2,score,x0,y0,x1,y1
1,L5-S1,MC0,0.8,0.1,0.1,0.99,0,1,10,11
1,L4-L5,MC2,0.1,0.1,0.8,0.98,0,20,10,30
1,L3-L4,MC2,0.2,0.1,0.7,0.97,50,50,60,60
2,L5-S1,MC2,0.3,0.1,0.6,0.40,,,,
2,L5-S1,MC0,0.7,0.1,0.2,0.95,,,,
2,L4-L5,0,0.6,0.1,0.3,0.90,,,,
3,L5-S1,MC1,0.2,0.5,0.3,0.90,,,,
9,L5-S1,MC0,0.9,0.05,0.05,0.90,,,,
"""

STUDIES = """study_id,t1,t2,subset,manufacturer,field_strength_t
1,a,b,training,SIEMENS,1.5
2,a,b,training,Philips Healthcare,3.0
3,a,b,training,SIEMENS,1.5
"""


@pytest.fixture()
def csvs(tmp_path: Path) -> dict[str, Path]:
    paths = {}
    for name, text in (("labels", LABELS), ("predictions", PREDICTIONS), ("studies", STUDIES)):
        paths[name] = tmp_path / f"{name}.csv"
        paths[name].write_text(text)
    return paths


def test_evaluate_end_to_end(csvs, tmp_path, capsys):
    out = tmp_path / "report.json"
    rc = main([str(csvs["predictions"]), str(csvs["labels"]), "--studies", str(csvs["studies"]), "--json", str(out), "--n-boot", "200"])
    assert rc == 0
    text = capsys.readouterr().out
    for phrase in ("balanced accuracy", "MC0-vs-MC2", "too few cases (n=1)", "recall @ IoU 0.5", "FP per image", "95% CI"):
        assert phrase in text, phrase
    rep = json.loads(out.read_text())
    assert rep["n_mc3_excluded"] == 1
    assert rep["n_missing_predictions"] == 1 and rep["missing_predictions"] == ["3:L4-L5"]
    assert rep["n_unlabelled_predictions"] == 1 and rep["n_duplicate_predictions"] == 1
    c = rep["classification"]
    # scored: 1/L5-S1 0->0, 1/L4-L5 2->2, 2/L5-S1 0->0 (high-score row), 2/L4-L5 2->0, 3/L5-S1 1->1
    assert c["n_discs"] == 5 and c["n_patients"] == 3
    assert c["confusion_matrix"] == [[2, 0, 0], [0, 1, 0], [1, 0, 1]]
    assert c["balanced_accuracy"]["value"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert c["mc0_vs_mc2"]["value"] == pytest.approx((1 + 0.5) / 2)
    assert c["per_class"]["MC1"]["sensitivity"]["display"] == "too few cases (n=1)"
    assert set(rep["by_group"]) == {"manufacturer", "field_strength_t"}
    assert set(rep["by_group"]["manufacturer"]) == {"SIEMENS", "Philips Healthcare"}
    assert rep["by_group"]["field_strength_t"]["1.5"]["n_discs"] == 3
    d = rep["detection"]
    # GT boxes: study 1 (3 discs, MC3 included); predicted boxes on study 1: 2 hits + 1 FP
    assert d["n_images"] == 1 and d["n_gt"] == 3 and d["n_pred"] == 3
    assert d["recall"]["0.5"]["value"] == pytest.approx(2 / 3)
    assert d["fp_per_image"]["value"] == pytest.approx(1.0)
    assert d["level_accuracy"]["value"] == pytest.approx(1.0)
    json.dumps(rep, allow_nan=False)


def test_evaluate_without_boxes_probabilities_or_studies(tmp_path, capsys):
    (tmp_path / "l.csv").write_text("study_id,level,modic\nA,L1-L2,0\nA,L2-L3,2\nB,L1-L2,0\n")
    (tmp_path / "p.csv").write_text("study_id,level,prediction\nA,L1-L2,0\nA,L2-L3,MC2\nB,L1-L2,MC2\n")
    assert main([str(tmp_path / "p.csv"), str(tmp_path / "l.csv"), "--n-boot", "50", "--json", str(tmp_path / "o.json")]) == 0
    rep = json.loads((tmp_path / "o.json").read_text())
    assert rep["detection"] is None and rep["by_group"] == {}
    assert rep["classification"]["mc0_vs_mc2"]["source"] == "labels"
    assert "no boxes" in capsys.readouterr().out


def test_evaluate_rejects_bad_input(tmp_path, capsys):
    (tmp_path / "l.csv").write_text("study_id,level,modic\nA,L1-L2,0\n")
    (tmp_path / "p.csv").write_text("study_id,level,guess\nA,L1-L2,0\n")
    assert main([str(tmp_path / "p.csv"), str(tmp_path / "l.csv")]) == 2
    assert "prediction" in capsys.readouterr().err
    (tmp_path / "p2.csv").write_text("study_id,level,prediction\nA,L1-L2,MC7\n")
    assert main([str(tmp_path / "p2.csv"), str(tmp_path / "l.csv")]) == 2
    capsys.readouterr()
    (tmp_path / "p3.csv").write_text("study_id,level,prediction\nA,L1-L2,MC0\n")
    (tmp_path / "l2.csv").write_text("study_id,level,modic\nA,L1-L2,x\n")
    assert main([str(tmp_path / "p3.csv"), str(tmp_path / "l2.csv")]) == 2
    assert "modic" in capsys.readouterr().err


def test_module_runs_as_a_script(csvs, tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [sys.executable, "-m", "modic_core.evaluation", str(csvs["predictions"]), str(csvs["labels"]), "--json", str(out), "--n-boot", "100"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Modic change classification" in proc.stdout
    assert json.loads(out.read_text())["classification"]["n_discs"] == 5


@pytest.mark.parametrize(
    "column, value, match",
    [("p_mc0", "abc", "column 'p_mc0' must hold a number"), ("score", "inf", "column 'score' must hold a number"),
     ("x0", "left", "column 'x0' must hold a number")],
)
def test_non_numbers_in_numeric_columns_are_input_errors(csvs, tmp_path, capsys, column, value, match):
    import pandas as pd

    df = pd.read_csv(csvs["predictions"], dtype=str, keep_default_na=False)
    df.loc[3, column] = value
    bad = tmp_path / "bad.csv"
    df.to_csv(bad, index=False)
    assert main([str(bad), str(csvs["labels"]), "--n-boot", "10"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and match in err and "line 5" in err and "Traceback" not in err


def test_unreadable_files_and_bad_arguments(csvs, tmp_path, capsys):
    (tmp_path / "bin.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    (tmp_path / "empty.csv").write_text("")
    for path, match in ((tmp_path / "bin.csv", "not a text CSV"), (tmp_path / "empty.csv", "is empty"),
                        (tmp_path, "is a folder"), (tmp_path / "nowhere.csv", "not found")):
        assert main([str(path), str(csvs["labels"])]) == 2
        assert match in capsys.readouterr().err
    with pytest.raises(SystemExit) as ex:
        main([str(csvs["predictions"]), str(csvs["labels"]), "--n-boot", "0"])
    assert ex.value.code == 2 and "argument --n-boot" in capsys.readouterr().err


def test_study_ids_like_na_and_null_and_escaped_ids_are_matched(tmp_path):
    from modic_core.evaluation.evaluate import evaluate_files

    (tmp_path / "l.csv").write_text("study_id,level,modic\nNA,L5-S1,0\nnull,L5-S1,2\nNone,L4-L5,2\n=1+1,L4-L5,0\n")
    # predictions as the batch writes them: a formula-like ID escaped with an apostrophe
    (tmp_path / "p.csv").write_text("study_id,level,prediction\nNA,L5-S1,MC0\nnull,L5-S1,MC2\nNone,L4-L5,MC2\n'=1+1,L4-L5,MC0\n")
    rep = evaluate_files(tmp_path / "p.csv", tmp_path / "l.csv", n_boot=0)
    assert rep["n_missing_predictions"] == 0 and rep["n_unlabelled_predictions"] == 0
    assert rep["classification"].n_discs == 4 and rep["classification"].n_patients == 4


def test_not_graded_levels_count_as_missing_grades_but_keep_their_boxes(tmp_path):
    import pandas as pd

    from modic_core.evaluation.evaluate import evaluate, read_labels, read_predictions

    labels = pd.DataFrame({"study_id": ["a", "a", "b"], "level": ["L4-L5", "L5-S1", "L5-S1"], "modic": [0, 2, 0],
                           "x0": [0, 0, 0], "y0": [0, 20, 20], "x1": [10, 10, 10], "y1": [10, 30, 30]})
    pred = pd.DataFrame({"study_id": ["a", "a", "b"], "level": ["L4-L5", "L5-S1", "L5-S1"],
                         "prediction": ["MC0", "not graded", "MC0"], "score": [0.9, 0.9, 0.9],
                         "x0": [0, 0, 0], "y0": [0, 20, 20], "x1": [10, 10, 10], "y1": [10, 30, 30]})
    labels.to_csv(tmp_path / "l.csv", index=False)
    pred.to_csv(tmp_path / "p.csv", index=False)
    rep = evaluate(read_predictions(tmp_path / "p.csv"), read_labels(tmp_path / "l.csv"), n_boot=20)
    assert rep["n_not_graded"] == 1 and rep["n_missing_predictions"] == 1
    assert rep["classification"].n_discs == 2
    assert rep["detection"].recall["0.5"].value == 1.0  # the ungraded level's box still counts as found


def test_prediction_sets_are_scored_against_the_labels(tmp_path, capsys):
    """A batch CSV with conformal sets: modic-evaluate reports their coverage and single-grade accuracy."""
    (tmp_path / "l.csv").write_text("study_id,level,modic\n" + "".join(
        f"{s},{lv},{m}\n" for s, lv, m in [("1", "L4-L5", 0), ("1", "L5-S1", 2), ("2", "L4-L5", 2), ("2", "L5-S1", 0), ("3", "L4-L5", 1)]))
    (tmp_path / "p.csv").write_text("study_id,level,prediction,prediction_set,set_coverage\n"
                                    "1,L4-L5,MC0,MC0,0.9\n1,L5-S1,MC0,MC0|MC2,0.9\n2,L4-L5,MC0,MC0,0.9\n"
                                    "2,L5-S1,MC2,MC0|MC2,0.9\n3,L4-L5,MC1,MC1,0.9\n")
    out = tmp_path / "r.json"
    assert main([str(tmp_path / "p.csv"), str(tmp_path / "l.csv"), "--json", str(out), "--n-boot", "20"]) == 0
    ps = json.loads(out.read_text())["prediction_sets"]
    assert ps["target_coverage"] == [0.9] and ps["n"] == 4
    assert ps["coverage"]["value"] == pytest.approx(3 / 4)
    assert ps["singleton_share"]["value"] == pytest.approx(2 / 4) and ps["singleton_accuracy"]["value"] == pytest.approx(1 / 2)
    assert (ps["n_real_mc1"], ps["real_mc1_covered"]) == (1, 1)
    assert "Prediction sets (MC0/MC2 discs; sets made at 90 %)" in capsys.readouterr().out
    typed = CohortMetrics.body_from_dict(json.loads(out.read_text())).prediction_sets  # a typed part of the document
    assert typed.target_coverage == [0.9] and typed.coverage.value == pytest.approx(3 / 4) and typed.n_levels_with_sets == 5
