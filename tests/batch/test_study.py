"""One study of a batch (issue 24): a failure deep in the analysis says what failed where, the same
in both engines; MODIC_DEBUG adds the traceback to the log and the status cell; no patient data in either."""
from __future__ import annotations

import importlib
import json
import logging
from pathlib import Path

import pandas as pd
import pydicom
import pytest

from modic_core.batch import study as study_mod
from modic_core.batch.local import main, run_cohort
from modic_core.batch.sink import log_path, progress_path, status_path
from modic_core.datasets.synthetic import make_phantom_2d

from tests.logging_support import assert_no_phi
from tests.app.fakes import FakeStudyAnalysis
from tests.shipped import models_ready

NAME, PID, DOB = "DOE^JANE", "JD-99421", "19650412"
FOLDER = "Jane_Doe_JD-99421"  # a folder named after the patient, as exports often are
PHI = ("Jane", "JANE", "Doe", "DOE", PID, DOB, "1965")

needs_models = pytest.mark.skipif(not models_ready(), reason="shipped weights (weights/) not installed")


def _phi_cohort(root: Path) -> Path:
    """A one-study cohort: a DICOM phantom with a patient name, ID and birth date planted in every header."""
    ph = make_phantom_2d(seed=5, shape=(160, 160), modic={"L4-L5": (2, "both")})
    paths = ph.write(root / "studies" / FOLDER, fmt="dicom")
    for series in paths.values():
        for f in sorted(Path(series).glob("*.dcm")):
            ds = pydicom.dcmread(f)
            ds.PatientName, ds.PatientID, ds.PatientBirthDate = NAME, PID, DOB
            ds.save_as(f)
    pd.DataFrame([{"study_id": "s1", "t1": f"studies/{FOLDER}/t1", "t2": f"studies/{FOLDER}/t2"}]).to_csv(root / "studies.csv", index=False)
    pd.DataFrame(columns=["study_id", "level", "modic"]).to_csv(root / "levels.csv", index=False)
    return root


def _fail_deep(monkeypatch, folder: Path) -> None:
    """The detector's grid preparation (called deep inside the analysis) raises, quoting the file and
    header values as a reader's error might."""
    from modic_core.detection import infer

    def broken(*_a, **_k):
        raise ValueError(f"cannot resample {folder / 't1' / 'IM00001.dcm'} (PatientName={NAME}, PatientID={PID}, born {DOB})")

    monkeypatch.setattr(infer, "to_detector_grid", broken)


def _no_phi(text: str) -> None:
    assert_no_phi(text, PHI)


@needs_models
@pytest.mark.parametrize("debug", [False, True])
def test_a_deep_failure_is_recorded_with_where_and_no_patient_data(tmp_path, monkeypatch, capsys, restore_logging, debug):
    cohort = _phi_cohort(tmp_path / "cohort")
    _fail_deep(monkeypatch, cohort / "studies" / FOLDER)
    monkeypatch.setenv("MODIC_DEBUG", "1" if debug else "0")
    monkeypatch.setenv("TQDM_DISABLE", "1")
    out = tmp_path / "results.csv"
    assert main([str(cohort), "--out", str(out), "--n-boot", "10"]) == 0
    status = pd.read_csv(status_path(out), dtype=str, keep_default_na=False)
    msg = status.loc[0, "message"]
    assert status.loc[0, "status"] == "failed"
    first = msg.splitlines()[0]
    assert first.startswith("ValueError: cannot resample [path] (PatientName=[redacted], PatientID=[redacted], born [date])")
    assert "(at modic_core.detection.infer:detect_many:" in first  # the innermost frame of the package
    log = log_path(out).read_text()
    assert "study s1: analysis failed: ValueError" in log
    if debug:
        assert "Traceback (most recent call last)" in msg and 'File "modic_core.analysis.analyze"' in msg
        assert "Traceback (most recent call last)" in log and 'File "modic_core.detection.infer", line' in log
    else:
        assert len(msg.splitlines()) == 1 and "Traceback" not in log
    reasons = json.loads(progress_path(out).read_text())["failure_reasons"]
    assert list(reasons) == [first]  # counted by the one line, not the traceback
    err = capsys.readouterr().err
    for text in (msg, log, err, status_path(out).read_text()):
        _no_phi(text)


def test_both_engines_turn_a_failure_into_the_same_status_row(tmp_path, monkeypatch):
    """analyse_one is what the local loop and the Ray actor call; a batched pass that fails is logged
    (the actor used to swallow it) and each study is then analysed alone."""
    from modic_core.batch.actors import StudyAnalyzer
    from modic_core.datasets.cohort import CohortStudy

    class Boom(FakeStudyAnalysis):
        def report(self, *a, **k):
            raise KeyError("level")

    cs = CohortStudy("x", tmp_path / FOLDER / "t1.mha", tmp_path / FOLDER / "t2.mha")
    local = study_mod.analyse_one(cs, normalization="zscore", threshold=0.5, analysis=Boom(None))
    actor = object.__new__(StudyAnalyzer)  # the actor's per-study step, without loading models
    actor.normalization, actor.threshold = "zscore", 0.5
    ray_side = actor.analyse(cs, Boom(None))
    assert local.status == ray_side.status
    assert local.status["status"] == "failed" and local.status["message"].startswith("KeyError: 'level' (at ")
    assert "(at modic_core.batch.study:analyse_one:" in local.status["message"]  # the innermost frame of the package


def test_a_failed_batched_pass_is_logged_then_studies_run_alone(monkeypatch, caplog):
    analyze = importlib.import_module("modic_core.analysis.analyze")  # the package re-exports a function of that name

    def broken(*_a, **_k):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(analyze, "analyze_many", broken)
    caplog.set_level(logging.WARNING, logger="modic_core")
    study_mod.analyse_together([object(), object()], "zscore")
    assert "batched analysis of 2 studies failed (RuntimeError: out of memory" in caplog.text


def test_local_engine_records_a_loading_failure_as_the_actor_read_stage_does(tmp_path, monkeypatch):
    from modic_core.batch import local
    from modic_core.batch.actors import read_studies

    cohort = tmp_path / "c"
    (cohort / "studies" / FOLDER).mkdir(parents=True)
    (cohort / "studies" / FOLDER / "t1.mha").write_bytes(b"not an image")
    (cohort / "studies" / FOLDER / "t2.mha").write_bytes(b"not an image")
    pd.DataFrame([{"study_id": "s1", "t1": f"studies/{FOLDER}/t1.mha", "t2": f"studies/{FOLDER}/t2.mha"}]).to_csv(
        cohort / "studies.csv", index=False)
    pd.DataFrame(columns=["study_id", "level", "modic"]).to_csv(cohort / "levels.csv", index=False)
    monkeypatch.setattr(local, "_default_factory", lambda: FakeStudyAnalysis)
    run = run_cohort(cohort, batch_size=1)
    st = run.status[0]
    read = read_studies(pd.DataFrame([{"study_id": "s1", "t1": str(cohort / "studies" / FOLDER / "t1.mha"),
                                       "t2": str(cohort / "studies" / FOLDER / "t2.mha")}])).iloc[0]
    assert (st["status"], st["message"]) == (read["status"], read["message"])
    assert st["status"] == "error" and "[T1 file]" in st["message"]
    _no_phi(st["message"])
