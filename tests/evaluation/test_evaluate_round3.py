"""`modic-evaluate`, third reliability round (issue 21): not-graded levels, duplicate labels, bounded arguments."""
from __future__ import annotations

import json

import pytest

from modic_core.evaluation.evaluate import evaluate_files, main

LABELS = """study_id,level,modic,x0,y0,x1,y1
1,L5-S1,0,0,0,10,10
1,L4-L5,2,0,20,10,30
1,L3-L4,0,0,40,10,50
2,L5-S1,2,0,0,10,10
2,L4-L5,0,0,20,10,30
3,L5-S1,1,0,0,10,10
"""

# as the batch wrote them before: a level the T2 does not cover has "nan" probabilities (older files)
# or empty cells (the batch now), and the prediction "not graded"
PREDICTIONS = """study_id,level,prediction,p_mc0,p_mc1,p_mc2,score,x0,y0,x1,y1
1,L5-S1,MC0,0.8,0.1,0.1,0.99,0,0,10,10
1,L4-L5,MC2,0.1,0.1,0.8,0.98,0,20,10,30
1,L3-L4,not graded,nan,nan,nan,0.97,0,40,10,50
2,L5-S1,MC2,0.3,0.1,0.6,0.95,0,0,10,10
2,L4-L5,not graded,,,,0.90,0,20,10,30
3,L5-S1,MC1,0.2,0.5,0.3,0.90,0,0,10,10
"""


@pytest.fixture()
def files(tmp_path):
    (tmp_path / "labels.csv").write_text(LABELS)
    (tmp_path / "predictions.csv").write_text(PREDICTIONS)
    return tmp_path


def test_not_graded_levels_with_nan_probabilities_are_counted_and_reported_not_refused(files, capsys):
    out = files / "report.json"
    rc = main([str(files / "predictions.csv"), str(files / "labels.csv"), "--n-boot", "50", "--json", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "2 levels not graded (T2 does not cover them), excluded from the metrics" in captured.out
    rep = json.loads(out.read_text())
    assert rep["n_not_graded"] == 2 and rep["not_graded_levels"] == ["1:L3-L4", "2:L4-L5"]
    assert rep["classification"]["n_discs"] == 4  # the two ungraded levels are not scored
    assert rep["detection"]["recall"]["0.5"]["value"] == 1.0  # their boxes still count as found


def test_nan_probabilities_on_a_graded_level_are_still_refused(files, capsys):
    (files / "bad.csv").write_text(PREDICTIONS.replace("1,L4-L5,MC2,0.1,", "1,L4-L5,MC2,nan,"))
    assert main([str(files / "bad.csv"), str(files / "labels.csv"), "--n-boot", "10"]) == 2
    err = capsys.readouterr().err
    assert "line 3: the column 'p_mc0' must hold a number" in err and "Traceback" not in err


def test_one_not_graded_level_reads_in_the_singular(files, capsys):
    text = PREDICTIONS.replace("2,L4-L5,not graded,,,,", "2,L4-L5,MC0,0.7,0.2,0.1,")
    (files / "one.csv").write_text(text)
    assert main([str(files / "one.csv"), str(files / "labels.csv"), "--n-boot", "10"]) == 0
    assert "1 level not graded (T2 does not cover it), excluded from the metrics" in capsys.readouterr().out


def test_conflicting_duplicate_labels_are_refused_naming_study_level_and_lines(files, capsys):
    (files / "dup.csv").write_text(LABELS + "1,L4-L5,0,0,20,10,30\n")
    assert main([str(files / "predictions.csv"), str(files / "dup.csv"), "--n-boot", "10"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: The labels file 'dup.csv' gives study 1, level L4-L5 more than once with different values")
    assert "(lines 3, 8)" in err and "Traceback" not in err


def test_identical_duplicate_labels_are_counted_once_with_a_note(files, capsys):
    (files / "dup.csv").write_text(LABELS + "1,L4-L5,2,0,20,10,30\n3,L5-S1,1,0,0,10,10\n")
    once = evaluate_files(files / "predictions.csv", files / "labels.csv", n_boot=10)
    twice = evaluate_files(files / "predictions.csv", files / "dup.csv", n_boot=10)
    assert twice["n_duplicate_labels"] == 2 and once["n_duplicate_labels"] == 0
    assert twice["classification"].n_discs == once["classification"].n_discs == 4
    assert twice["classification"].confusion_matrix == once["classification"].confusion_matrix
    assert twice["detection"].n_gt == once["detection"].n_gt
    assert main([str(files / "predictions.csv"), str(files / "dup.csv"), "--n-boot", "10"]) == 0
    assert "Note: 2 label rows repeated a disc with identical values and counted once." in capsys.readouterr().out


@pytest.mark.parametrize("args, name", [
    (["--n-boot", "1000000000"], "--n-boot"),
    (["--n-boot", "100001"], "--n-boot"),
    (["--seed", "-1"], "--seed"),
    (["--seed", str(2**40)], "--seed"),
])
def test_unbounded_numbers_are_refused_by_argparse(files, capsys, args, name):
    with pytest.raises(SystemExit) as ex:
        main([str(files / "predictions.csv"), str(files / "labels.csv"), *args])
    err = capsys.readouterr().err
    assert ex.value.code == 2 and f"argument {name}: " in err and "is outside" in err and "Traceback" not in err


def test_the_largest_n_boot_is_accepted(files):
    from modic_core import settings
    from modic_core.cli_args import n_boot

    assert n_boot(str(settings.MAX_N_BOOT)) == settings.MAX_N_BOOT == 100_000
