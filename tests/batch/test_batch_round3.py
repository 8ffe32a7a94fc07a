"""Batch mode, third reliability round (issue 21): a batch that scores its own output.

Not-graded levels through batch -> evaluate (CSV and Parquet), duplicate labels, bounded numbers,
an unreachable Ray address, and one batch per output folder (a lock).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from modic_core.analysis.report import CLASS_NAMES, LevelResult
from modic_core.batch import local as batch
from modic_core.batch.local import main, status_path
from modic_core.errors import InputError
from tests.app.fakes import FakeStudyAnalysis
from tests.shipped import models_ready

ROOT = Path(__file__).resolve().parents[2]
COHORT = ROOT / "demo" / "cohort"
SENTENCE = "levels not graded (T2 does not cover them), excluded from the metrics"


class LowestLevelNotCovered(FakeStudyAnalysis):
    """The test double, with its lowest level not graded as the real analysis reports a level the T2 misses."""

    def report(self, normalization="zscore", threshold=0.5, *, gradcam=True):
        rep = super().report(normalization, threshold, gradcam=gradcam)
        low = rep.levels[-1]
        rep.levels[-1] = LevelResult(low.level, low.box, low.score, {c: float("nan") for c in CLASS_NAMES}, "not graded",
                                     low.z_range, None, graded=False, note="T2 does not cover this level (40 % ...).")
        return rep


@pytest.fixture
def not_covered(monkeypatch):
    monkeypatch.setattr(batch, "_default_factory", lambda: LowestLevelNotCovered)


def _labelled_levels(out_rows: pd.DataFrame) -> set[tuple[str, str]]:
    labels = pd.read_csv(COHORT / "levels.csv", dtype={"study_id": str})
    return set(zip(labels["study_id"], labels["level"])) & set(zip(out_rows["study_id"], out_rows["level"]))


# --------------------------------------------------------------------------- 1. not-graded levels, batch -> evaluate


@pytest.mark.parametrize("name", ["results.csv", "results.parquet"])
def test_labelled_cohort_with_not_graded_levels_gives_metrics(not_covered, tmp_path, capsys, name):
    out = tmp_path / name
    assert main([str(COHORT), "--out", str(out), "--n-boot", "20"]) == 0
    captured = capsys.readouterr()
    assert f"3 {SENTENCE}" in captured.out, captured.err
    metrics = json.loads((tmp_path / "results.metrics.json").read_text())
    assert metrics["n_not_graded"] == 3 and len(metrics["not_graded_levels"]) == 3
    assert metrics["classification"]["n_discs"] > 0
    if name.endswith(".csv"):
        text = out.read_text()
        assert ",nan," not in text.lower()  # an ungraded level's probabilities are empty cells
        rows = pd.read_csv(out, dtype={"study_id": str})
        ungraded = rows[rows["prediction"] == "not graded"]
        assert len(ungraded) == 3 and ungraded[["p_mc0", "p_mc1", "p_mc2"]].isna().all().all()
        # and `modic-evaluate` scores the batch's own file
        from modic_core.evaluation.evaluate import main as evaluate_main

        rc = evaluate_main([str(out), str(COHORT / "levels.csv"), "--n-boot", "20", "--json", str(tmp_path / "e.json")])
        assert rc == 0 and f"3 {SENTENCE}" in capsys.readouterr().out
        assert json.loads((tmp_path / "e.json").read_text())["n_not_graded"] == 3


def test_a_csv_written_by_the_old_batch_with_nan_text_still_resumes_and_scores(not_covered, tmp_path, capsys):
    out = tmp_path / "results.csv"
    assert main([str(COHORT), "--out", str(out), "--n-boot", "20"]) == 0
    rows = pd.read_csv(out, dtype=str, keep_default_na=False)
    ungraded = rows["prediction"] == "not graded"
    rows.loc[ungraded, ["p_mc0", "p_mc1", "p_mc2"]] = "nan"  # what the previous version wrote
    rows.to_csv(out, index=False)
    capsys.readouterr()
    assert main([str(COHORT), "--out", str(out), "--n-boot", "20"]) == 0
    assert f"3 {SENTENCE}" in capsys.readouterr().out



@pytest.mark.skipif(not models_ready(), reason="shipped weights (weights/) not installed")
def test_shipped_models_on_a_generated_cohort_whose_t2_misses_the_lower_levels(tmp_path, capsys):
    """Two seeded phantom studies; one T2 keeps only the upper half of its rows, so the real analysis
    leaves the lower levels ungraded. CSV and Parquet: metrics, with the levels counted as not graded."""
    import SimpleITK as sitk

    from modic_core.bench.batch_scaling import write_phantom_cohort

    cohort = write_phantom_cohort(tmp_path / "cohort", n_single=2, seed=5)
    t2 = cohort / "studies" / "s0001" / "t2.mha"
    img = sitk.ReadImage(str(t2))
    sitk.WriteImage(img[:, : img.GetSize()[1] // 2, :], str(t2))  # same geometry, half the field of view
    for name in ("csv/r.csv", "parquet/r.parquet"):
        out = tmp_path / name
        assert main([str(cohort), "--out", str(out), "--n-boot", "20"]) == 0
        text = capsys.readouterr().out
        metrics = json.loads((out.parent / "r.metrics.json").read_text())
        n = metrics["n_not_graded"]
        assert n >= 1 and f"{n} level" in text and "excluded from the metrics" in text, text
        assert all(s.startswith("s0001:") for s in metrics["not_graded_levels"])
        assert metrics["classification"]["n_discs"] > 0


def test_levels_csv_grading_one_disc_twice_differently_is_refused_before_any_analysis(not_covered, tmp_path, capsys):
    cohort = tmp_path / "cohort"
    shutil.copytree(COHORT, cohort)
    with open(cohort / "levels.csv", "a") as f:
        f.write("104,L4-L5,2,0,1,1,4,1,159,215,224,246\n")  # 104 L4-L5 is graded 2 above; this row says 0
    n = len(FakeStudyAnalysis.instances)
    assert main([str(cohort), "--out", str(tmp_path / "r.csv"), "--n-boot", "10"]) == 2
    err = capsys.readouterr().err
    assert "levels.csv gives study 104, level L4-L5 more than once with different values" in err and "Traceback" not in err
    assert len(FakeStudyAnalysis.instances) == n  # nothing analysed


# --------------------------------------------------------------------------- 3. bounded numbers


@pytest.mark.parametrize("args, name", [
    (["--n-boot", "1000000000"], "--n-boot"),
    (["--batch-size", "1000000000"], "--batch-size"),
    (["--stall-timeout", "1e300"], "--stall-timeout"),
    (["--stall-timeout", "inf"], "--stall-timeout"),
])
def test_batch_numbers_are_bounded(tmp_path, capsys, args, name):
    with pytest.raises(SystemExit) as ex:
        main([str(COHORT), "--out", str(tmp_path / "r.csv"), *args])
    err = capsys.readouterr().err
    assert ex.value.code == 2 and f"argument {name}: " in err and "is outside" in err and "Traceback" not in err
    assert not (tmp_path / "r.csv").exists()


def test_analyze_shift_names_is_bounded_before_the_analysis(capsys):
    from modic_core.analysis.analyze import main as analyze_main

    with pytest.raises(SystemExit) as ex:
        analyze_main(["t1.mha", "t2.mha", "--shift-names", "1000000000"])
    err = capsys.readouterr().err
    assert ex.value.code == 2 and "argument --shift-names: " in err and "is outside" in err


# --------------------------------------------------------------------------- 4. an unreachable Ray address


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_ray_address_is_refused_at_once():
    from modic_core.batch.ray_engine import check_reachable

    t0 = time.monotonic()
    with pytest.raises(InputError, match="refused the connection: no Ray runs there"):
        check_reachable(f"127.0.0.1:{_closed_port()}")
    with pytest.raises(InputError, match="is not a Ray cluster address"):
        check_reachable("head-node")
    assert time.monotonic() - t0 < 5


def test_a_listener_that_is_not_ray_is_refused_within_the_timeout():
    from modic_core.batch.ray_engine import check_reachable

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    held = []
    threading.Thread(target=lambda: held.append(srv.accept()), daemon=True).start()
    try:
        t0 = time.monotonic()
        with pytest.raises(InputError, match="but not a Ray cluster"):
            check_reachable(f"127.0.0.1:{srv.getsockname()[1]}", timeout_s=0.5)
        assert time.monotonic() - t0 < 3
    finally:
        srv.close()


def test_batch_cli_with_an_unreachable_ray_address_fails_within_60_s(tmp_path):
    """The command as a user runs it (no Ray cluster anywhere): exit 2 and a sentence, not minutes of silent retries."""
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "modic_core.batch", str(COHORT), "--out", str(tmp_path / "r.csv"), "--engine", "ray",
         "--address", f"127.0.0.1:{_closed_port()}"],
        capture_output=True, text=True, cwd=ROOT, timeout=60, env={**os.environ, "TQDM_DISABLE": "1"},
    )
    assert time.monotonic() - t0 < 60
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "error: The Ray cluster at '127.0.0.1:" in proc.stderr and "start it (`ray start --head`)" in proc.stderr
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- 5. one batch per output


def _hold_lock(out: Path) -> subprocess.Popen:
    """Another process holding the output's lock (as a running batch does), until killed."""
    code = ("import sys, time; from modic_core.batch.sink import lock_output\n"
            "with lock_output(sys.argv[1]):\n    print('locked', flush=True); time.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(out)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


@pytest.mark.parametrize("name", ["results.csv", "results.parquet"])
def test_a_second_batch_on_the_same_out_is_refused_and_the_lock_goes_with_a_killed_process(not_covered, tmp_path, capsys, name):
    out = tmp_path / "res" / name
    holder = _hold_lock(out)
    try:
        n = len(FakeStudyAnalysis.instances)
        assert main([str(COHORT), "--out", str(out), "--n-boot", "10"]) == 2
        err = capsys.readouterr().err
        assert f"another batch is writing to this folder (pid {holder.pid})" in err and "Traceback" not in err
        assert len(FakeStudyAnalysis.instances) == n and not status_path(out).exists()  # nothing analysed or written
        # --no-resume must not clear the other batch's files either
        assert main([str(COHORT), "--out", str(out), "--no-resume", "--n-boot", "10"]) == 2
        capsys.readouterr()
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
    assert main([str(COHORT), "--out", str(out), "--n-boot", "10"]) == 0  # SIGKILL released the lock
    status = pd.read_csv(status_path(out), dtype={"study_id": str})
    assert sorted(status["study_id"]) == ["104", "121", "4"]


WAITING_BATCH = """
import os, sys, time
from modic_core.batch import local
from tests.app.fakes import FakeStudyAnalysis

class Waiting(FakeStudyAnalysis):  # holds its first study until the test says go: the two runs overlap for sure
    def report(self, *a, **k):
        while not os.path.exists(os.environ["GO_FILE"]):
            time.sleep(0.1)
        return super().report(*a, **k)

local._default_factory = lambda: Waiting
sys.exit(local.main(sys.argv[1:]))
"""


def test_two_batch_processes_on_one_out_write_each_study_once(tmp_path):
    """Before the lock both processes analysed every study (285 duplicate rows in the report)."""
    from modic_core.batch.sink import lock_path

    out = tmp_path / "r.csv"
    go = tmp_path / "go"
    cmd = [sys.executable, "-c", WAITING_BATCH, str(COHORT), "--out", str(out), "--n-boot", "10"]
    env = {**os.environ, "TQDM_DISABLE": "1", "GO_FILE": str(go)}

    def start():
        return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)

    first = start()
    try:
        deadline = time.monotonic() + 120
        while not (lock_path(out).is_file() and lock_path(out).read_text() == str(first.pid)):  # the first holds the lock
            assert first.poll() is None and time.monotonic() < deadline, first.stderr.read() if first.poll() is not None else "no lock"
            time.sleep(0.1)
        second = start()
        assert second.wait(timeout=300) == 2
        err = second.stderr.read()
        second.stderr.close()
        assert f"another batch is writing to this folder (pid {first.pid})" in err and "Traceback" not in err
    finally:
        go.touch()
        rc = first.wait(timeout=300)
        first.stderr.close()
    assert rc == 0
    status = pd.read_csv(status_path(out), dtype={"study_id": str})
    assert sorted(status["study_id"]) == ["104", "121", "4"]  # each study once
    assert len(pd.read_csv(out)) == 15
