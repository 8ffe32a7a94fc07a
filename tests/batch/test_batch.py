"""Batch mode (issue 7): run_cohort, resumable CLI, metrics report; the shipped models when installed."""
from __future__ import annotations

import io
import json
import re
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from modic_core.batch import local as batch
from modic_core.batch.local import PRED_COLUMNS, main, run_cohort, status_path
from tests.app.fakes import FakeStudyAnalysis
from tests.shipped import models_ready

ROOT = Path(__file__).resolve().parents[2]
COHORT = ROOT / "demo" / "cohort"


@pytest.fixture
def fake_factory(monkeypatch):
    monkeypatch.setattr(batch, "_default_factory", lambda: FakeStudyAnalysis)
    return FakeStudyAnalysis


def test_run_cohort_rows_progress_and_report(fake_factory):
    calls = []
    run = run_cohort(COHORT, normalization="zscore", threshold=0.5, progress=lambda i, n, s: calls.append((i, n, s)))
    assert [c[:2] for c in calls] == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert [s["status"] for s in run.status] == ["ok"] * 3
    preds = run.predictions()
    assert list(preds.columns) == PRED_COLUMNS
    assert sorted(set(preds["study_id"])) == ["104", "121", "4"] and len(preds) == 15
    assert preds["prediction"].isin(["MC0", "MC1", "MC2"]).all()
    rep = run.report(n_boot=50)
    c = rep["classification"]
    assert c.n_discs > 0 and rep["detection"] is not None
    assert set(rep["by_group"]) == {"manufacturer", "field_strength_t"}


def test_run_cohort_skips_and_records_bad_studies(fake_factory, tmp_path):
    cohort = tmp_path / "cohort"
    shutil.copytree(COHORT, cohort)
    (cohort / "studies" / "4" / "t1.mha").write_bytes(b"not an image")
    run = run_cohort(cohort, skip_ids={"104"})
    assert run.skipped == ["104"]
    st = {s["study_id"]: s for s in run.status}
    assert set(st) == {"4", "121"}
    assert st["4"]["status"] == "error" and st["4"]["message"] and st["121"]["status"] == "ok"


def test_run_cohort_from_zip_and_bad_sources(fake_factory, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for f in COHORT.rglob("*"):
            if f.is_file():
                zf.write(f, "my_cohort/" + f.relative_to(COHORT).as_posix())
    z = tmp_path / "c.zip"
    z.write_bytes(buf.getvalue())
    run = run_cohort(z)
    assert len(run.status) == 3 and all(s["status"] == "ok" for s in run.status)
    from modic_core import InputError

    with pytest.raises(InputError, match="not found"):
        run_cohort(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="studies.csv"):
        run_cohort(tmp_path / "empty")


def test_cli_writes_results_status_metrics_and_resumes(fake_factory, tmp_path, capsys):
    out = tmp_path / "res" / "results.csv"
    assert main([str(COHORT), "--out", str(out), "--n-boot", "50"]) == 0
    rows = pd.read_csv(out, dtype={"study_id": str})
    assert list(rows.columns) == PRED_COLUMNS and len(rows) == 15
    status = pd.read_csv(status_path(out), dtype={"study_id": str})
    assert sorted(status["study_id"]) == ["104", "121", "4"]
    metrics = json.loads((out.parent / "results.metrics.json").read_text())
    assert metrics["classification"]["n_discs"] > 0 and metrics["inputs"]["normalization"] == "zscore"
    text = capsys.readouterr().out
    assert "analysed 3 studies" in text and "Modic change classification" in text

    n_before = len(FakeStudyAnalysis.instances)
    assert main([str(COHORT), "--out", str(out), "--n-boot", "50"]) == 0
    assert len(FakeStudyAnalysis.instances) == n_before  # nothing re-analysed
    assert "skipped 3 already done" in capsys.readouterr().out
    assert len(pd.read_csv(out)) == 15

    # an interrupted run: drop one study from both files, resume analyses only that one
    pd.read_csv(out, dtype={"study_id": str}).query("study_id != '4'").to_csv(out, index=False)
    status.query("study_id != '4'").to_csv(status_path(out), index=False)
    assert main([str(COHORT), "--out", str(out), "--n-boot", "50", "--report", str(tmp_path / "m.json")]) == 0
    assert len(FakeStudyAnalysis.instances) == n_before + 1
    assert len(pd.read_csv(out)) == 15 and (tmp_path / "m.json").is_file()

    assert main([str(COHORT), "--out", str(out), "--no-resume", "--normalization", "minmax", "--n-boot", "20"]) == 0
    again = pd.read_csv(out)
    assert len(again) == 15 and (again["normalization"] == "minmax").all()


def test_cli_errors(fake_factory, tmp_path, capsys):
    assert main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "r.csv")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main([str(COHORT), "--out", str(tmp_path / "r.csv"), "--normalization", "magic"]) == 2



@pytest.mark.skipif(not models_ready(), reason="trained detector and z-score classifier not installed in weights/")
def test_cli_with_shipped_models(tmp_path):
    out = tmp_path / "results.csv"
    assert main([str(COHORT), "--out", str(out), "--n-boot", "50"]) == 0
    status = pd.read_csv(status_path(out), dtype={"study_id": str})
    assert (status["status"] == "ok").all()
    assert (status["alignment"] == "ok").all()  # the demo pairs line up on their headers
    rows = pd.read_csv(out, dtype={"study_id": str})
    assert len(rows) > 0 and rows[["p_mc0", "p_mc1", "p_mc2"]].sum(axis=1).round(3).eq(1).all()


def test_cross_study_batching_gives_the_same_results_as_one_at_a_time():
    """The GPU path (several studies per network pass) run on the CPU: same rows as batch_size 1."""
    from modic_core.analysis.analyze import models_available
    from modic_core.batch.local import run_cohort
    from modic_core.datasets.demo import demo_dir

    if not models_available().get("zscore"):
        pytest.skip("shipped weights missing")
    folder = demo_dir() / "cohort"
    one = run_cohort(folder, normalization="zscore", threshold=0.5, batch_size=1)
    many = run_cohort(folder, normalization="zscore", threshold=0.5, batch_size=3)
    assert [s["status"] for s in many.status] == ["ok"] * 3
    assert len(one.rows) == len(many.rows) > 0
    for a, b in zip(one.rows, many.rows):
        # padding images to a common batch shape moves boxes by up to ~1 pixel, so
        # probabilities agree closely rather than bit for bit
        assert a["level"] == b["level"]
        # the detector batches only same-size slices, so batching changes nothing beyond rounding
        for k in ("p_mc0", "p_mc1", "p_mc2"):
            assert abs(float(a[k]) - float(b[k])) < 1e-3, (a, b)
        for k in ("x0", "y0", "x1", "y1"):
            assert abs(float(a[k]) - float(b[k])) < 1.0, (a, b)


# --------------------------------------------------------------------------- batch size, bad input, retry, privacy


def _real_studies():
    """Seven real SPIDER studies of five different image sizes: the demo cohort and the test fixtures."""
    from modic_core.datasets.cohort import load_cohort
    from modic_core.pairing.study import load_study

    fx = ROOT / "tests" / "fixtures"
    studies = [s.load() for s in load_cohort(COHORT)]
    studies += [load_study(fx / "spider2d_mini" / i / "t1.mha", fx / "spider2d_mini" / i / "t2.mha") for i in ("85", "137", "160")]
    studies.append(load_study(fx / "spider_pair" / "t1.mha", fx / "spider_pair" / "t2.mha"))
    return studies


@pytest.mark.skipif(not models_ready(), reason="trained detector not installed in weights/")
def test_batch_size_does_not_change_detections():
    """Batch sizes 1 (each study alone), 4 and 8 give the same level names and boxes (within 1 px).

    Before the fix, torchvision padded a batch's images to a common size, which moved boxes
    and changed level names for most of these studies at batch size 4.
    """
    from modic_core.detection import load_detector

    volumes = [s.t1 for s in _real_studies()]
    assert len({v.shape for v in volumes}) >= 4
    det = load_detector()
    alone = [det.detect(v).filter(0.5) for v in volumes]
    assert all(alone)
    for size in (4, 8):
        batched = []
        for start in range(0, len(volumes), size):
            batched += [d.filter(0.5) for d in det.detect_batch(volumes[start:start + size])]
        for i, (a, b) in enumerate(zip(alone, batched)):
            assert [d.level for d in a] == [d.level for d in b], (size, i)
            for da, db in zip(a, b):
                assert max(abs(x - y) for x, y in zip(da.box, db.box)) < 1.0, (size, i, da, db)


def _cohort_copy(tmp_path) -> Path:
    cohort = tmp_path / "cohort"
    shutil.copytree(COHORT, cohort)
    return cohort


@pytest.mark.parametrize(
    "table, content, match",
    [
        ("levels.csv", "study_id,level,modic\n104,L4-L5,abc\n", "the column 'modic' must hold"),
        ("levels.csv", "study_id,level,grade\n104,L4-L5,1\n", "lacks the column 'modic'"),
        ("studies.csv", "", "studies.csv is empty"),
        ("studies.csv", b"\x89PNG\r\n\x1a\n\x00\xff\xfe\x81", "not a text CSV"),
        ("studies.csv", "study_id,t1,t2\n1,../../x.mha,y.mha\n", "outside the cohort folder"),
    ],
)
def test_cli_bad_tables_exit_2_with_a_sentence(fake_factory, tmp_path, capsys, table, content, match):
    cohort = _cohort_copy(tmp_path)
    (cohort / table).write_bytes(content if isinstance(content, bytes) else content.encode())
    assert main([str(cohort), "--out", str(tmp_path / "r.csv"), "--n-boot", "10"]) == 2
    err = capsys.readouterr().err
    assert re.search(r"^error: ", err, re.M) and match in err and "Traceback" not in err


def test_cli_out_folder_and_bad_numbers(fake_factory, tmp_path, capsys):
    (tmp_path / "outdir").mkdir()
    assert main([str(COHORT), "--out", str(tmp_path / "outdir")]) == 2
    err = capsys.readouterr().err
    assert "is a folder" in err and "Traceback" not in err
    for bad in (["--threshold", "nan"], ["--threshold", "inf"], ["--threshold", "1.5"], ["--threshold", "abc"],
                ["--batch-size", "0"], ["--n-boot", "-1"]):
        with pytest.raises(SystemExit) as ex:
            main([str(COHORT), "--out", str(tmp_path / "r.csv"), *bad])
        assert ex.value.code == 2
        err = capsys.readouterr().err
        assert f"argument {bad[0]}: " in err and "Traceback" not in err


def test_cli_retry_failed(fake_factory, tmp_path, capsys):
    cohort = _cohort_copy(tmp_path)
    good = (cohort / "studies" / "4" / "t1.mha").read_bytes()
    (cohort / "studies" / "4" / "t1.mha").write_bytes(b"not an image")
    out = tmp_path / "r.csv"
    assert main([str(cohort), "--out", str(out), "--n-boot", "10"]) == 0
    status = pd.read_csv(status_path(out), dtype=str, keep_default_na=False)
    assert dict(zip(status["study_id"], status["status"])) == {"104": "ok", "4": "error", "121": "ok"}
    (cohort / "studies" / "4" / "t1.mha").write_bytes(good)
    n = len(FakeStudyAnalysis.instances)
    assert main([str(cohort), "--out", str(out), "--n-boot", "10"]) == 0  # plain resume: the failure stays
    assert len(FakeStudyAnalysis.instances) == n
    assert main([str(cohort), "--out", str(out), "--n-boot", "10", "--retry-failed"]) == 0
    assert len(FakeStudyAnalysis.instances) == n + 1  # only study 4 again
    status = pd.read_csv(status_path(out), dtype=str, keep_default_na=False)
    assert sorted(status["study_id"]) == ["104", "121", "4"] and (status["status"] == "ok").all()
    rows = pd.read_csv(out, dtype=str)
    assert sorted(set(rows["study_id"])) == ["104", "121", "4"] and len(rows) == 15


FORMULA_ID = "=cmd|' /C calc'!A0"


def test_formula_like_study_ids_are_escaped_in_every_csv_and_resume_still_works(fake_factory, tmp_path, capsys):
    cohort = _cohort_copy(tmp_path)
    for name in ("studies.csv", "levels.csv"):
        text = (cohort / name).read_text()
        (cohort / name).write_text(text.replace("\n104,", '\n"' + FORMULA_ID + '",').replace("\n4,", "\n@SUM(A1),"))
    out = tmp_path / "r.csv"
    assert main([str(cohort), "--out", str(out), "--n-boot", "10"]) == 0
    for path in (out, status_path(out)):
        cells = pd.read_csv(path, dtype=str, keep_default_na=False)["study_id"]
        assert not cells.str.match(r"[=+\-@]").any(), path
        assert {"'" + FORMULA_ID, "'@SUM(A1)", "121"} <= set(cells)
    rows = pd.read_csv(out)
    assert rows["p_mc0"].dtype.kind == "f" and rows["x0"].dtype.kind in "if"  # numbers stay numbers
    metrics = json.loads((tmp_path / "r.metrics.json").read_text())
    assert main([str(COHORT), "--out", str(tmp_path / "plain.csv"), "--n-boot", "10"]) == 0
    plain = json.loads((tmp_path / "plain.metrics.json").read_text())
    # the escaped IDs still match their labels: the same discs are scored as with plain IDs
    assert metrics["n_missing_predictions"] == plain["n_missing_predictions"]
    assert metrics["classification"]["n_discs"] == plain["classification"]["n_discs"] > 0
    n = len(FakeStudyAnalysis.instances)
    assert main([str(cohort), "--out", str(out), "--n-boot", "10"]) == 0
    assert len(FakeStudyAnalysis.instances) == n and "skipped 3 already done" in capsys.readouterr().out


PHI = ("DOE_JOHN_MRN4471", "DOE_JANE_MRN5555")


def test_file_names_never_reach_the_status_file_or_the_output(fake_factory, tmp_path, capsys):
    """File and folder names are patient data in practice: the status file uses neutral labels."""
    cohort = _cohort_copy(tmp_path)
    (cohort / "studies" / "4").rename(cohort / "studies" / PHI[0])
    for role in ("t1", "t2"):
        (cohort / "studies" / PHI[0] / f"{role}.mha").rename(cohort / "studies" / PHI[0] / f"{PHI[0]}_{role}.mha")
    bad = cohort / "studies" / PHI[1]
    bad.mkdir()
    (bad / f"{PHI[1]}_t1.mha").write_bytes(b"not an image")
    shutil.copy(cohort / "studies" / "121" / "t2.mha", bad / f"{PHI[1]}_t2.mha")
    text = (cohort / "studies.csv").read_text()
    text = text.replace("studies/4/t1.mha", f"studies/{PHI[0]}/{PHI[0]}_t1.mha").replace("studies/4/t2.mha", f"studies/{PHI[0]}/{PHI[0]}_t2.mha")
    text = text.replace("studies/104/t1.mha", f"studies/{PHI[1]}/{PHI[1]}_t1.mha")
    (cohort / "studies.csv").write_text(text)
    out = tmp_path / "r.csv"
    assert main([str(cohort), "--out", str(out), "--n-boot", "10"]) == 0
    captured = capsys.readouterr()
    status = pd.read_csv(status_path(out), dtype=str, keep_default_na=False)
    assert dict(zip(status["study_id"], status["status"])) == {"104": "error", "4": "ok", "121": "ok"}
    message = status.set_index("study_id").loc["104", "message"]
    assert "[T1 file]" in message, message
    written = out.read_text() + status_path(out).read_text() + (tmp_path / "r.metrics.json").read_text()
    for secret in (*PHI, "DOE_", "MRN"):
        assert secret not in written + captured.out + captured.err, secret


def test_defaults_come_from_settings_at_call_time(fake_factory, monkeypatch):
    monkeypatch.setenv("MODIC_NORMALIZATION", "minmax")
    monkeypatch.setenv("MODIC_THRESHOLD", "0.7")
    run = run_cohort(COHORT)
    assert (run.normalization, run.threshold) == ("minmax", 0.7)
    assert set(run.predictions()["normalization"]) == {"minmax"}
    monkeypatch.delenv("MODIC_NORMALIZATION")
    monkeypatch.delenv("MODIC_THRESHOLD")
    run = run_cohort(COHORT)
    assert (run.normalization, run.threshold) == ("zscore", 0.5)


@pytest.mark.parametrize("name", ["results.csv", "results.parquet"])
def test_batch_csv_and_parquet_carry_the_prediction_sets(fake_factory, tmp_path, capsys, name):
    from modic_core.batch.sink import read_results

    out = tmp_path / name
    assert main([str(COHORT), "--out", str(out), "--n-boot", "20"]) == 0
    rows = read_results(out)
    assert {"prediction_set", "set_coverage"} <= set(rows.columns)
    sets = rows["prediction_set"].astype(str)
    assert sets.str.contains("|", regex=False).any()  # some level has two grades (the double's hand-made calibration)
    uncertain = rows["uncertain"].astype(str).str.lower().eq("true")  # the CSV is read back as text
    assert sets.ne("").all() and (sets.str.split("|").map(len) > 1).tolist() == uncertain.tolist()
    assert [p in s.split("|") or "|" in s for p, s in zip(rows["prediction"], sets)] == [True] * len(rows)
    assert pd.to_numeric(rows["set_coverage"]).eq(0.9).all()
    if name.endswith(".parquet"):
        assert str(rows["prediction_set"].dtype) == "string" and str(rows["set_coverage"].dtype) == "float64"
