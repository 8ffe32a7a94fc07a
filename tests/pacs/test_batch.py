"""``modic-batch --dicomweb URL --query ...``: 20 generated studies in the real Orthanc give the same rows
as the same studies read from a cohort folder, locally and on Ray (retrieval in the read tasks); a run
killed midway and resumed loses and repeats nothing."""
from __future__ import annotations

import os

import pandas as pd
import pytest

from modic_core.batch import local as batch
from modic_core.batch.local import main, status_path
from modic_core.batch.pacs_source import parse_query
from modic_core.errors import InputError
from tests.app.fakes import FakeStudyAnalysis
from tests.orthanc_support import upload
from tests.shipped import models_ready
from tests.pacs.conftest import write_study

N = 20


@pytest.fixture(scope="module")
def batch_archive(orthanc_server, pacs_studies, tmp_path_factory):
    """20 tiny studies (distinct patients BATCH-00..19) in the archive and the same as a cohort folder."""
    root = tmp_path_factory.mktemp("batch_cohort")
    rows, files = [], []
    for k in range(N):
        study = write_study(root / f"s{k:02d}", seed=100 + k, patient_id=f"BATCH-{k:02d}", patient_name=f"BATCH^P{k:02d}",
                            shape=(3, 48, 48), spacing=(4.0, 5.0, 5.0))
        rows.append({"study_id": study.study_uid, "t1": f"s{k:02d}/t1", "t2": f"s{k:02d}/t2"})
        files += sorted(study.folder.rglob("*.dcm"))
    upload(orthanc_server, files)
    pd.DataFrame(rows).to_csv(root / "studies.csv", index=False)
    pd.DataFrame(columns=["study_id", "level", "ivd_label", "modic"]).to_csv(root / "levels.csv", index=False)
    return root


@pytest.fixture()
def signed_in(monkeypatch, orthanc_server):
    monkeypatch.setattr(batch, "_default_factory", lambda: FakeStudyAnalysis)
    monkeypatch.setenv("MODIC_DICOMWEB_USER", orthanc_server.auth[0])
    monkeypatch.setenv("MODIC_DICOMWEB_PASSWORD", orthanc_server.auth[1])
    return orthanc_server


def _results(out):
    rows = pd.read_csv(out, dtype={"study_id": str}).sort_values(["study_id", "level"]).reset_index(drop=True)
    status = pd.read_csv(status_path(out), dtype={"study_id": str}).drop(columns=["seconds"])
    return rows, status.sort_values("study_id").reset_index(drop=True)


def test_archive_batch_equals_the_cohort_folder_and_resumes(signed_in, batch_archive, tmp_path, capsys, monkeypatch):
    folder_out, pacs_out = tmp_path / "folder.csv", tmp_path / "pacs.csv"
    assert main([str(batch_archive), "--out", str(folder_out)]) == 0
    argv = ["--dicomweb", signed_in.dicomweb, "--query", "PatientID=BATCH-*", "--out", str(pacs_out)]
    assert main(argv) == 0
    want_rows, want_status = _results(folder_out)
    got_rows, got_status = _results(pacs_out)
    assert len(want_status) == N and (want_status["status"] == "ok").all() and len(want_rows) > 0
    pd.testing.assert_frame_equal(got_rows, want_rows)
    pd.testing.assert_frame_equal(got_status, want_status)

    # killed after 7 studies (an interrupt is not caught per study), then resumed: nothing lost or repeated
    resumed = tmp_path / "resumed.csv"
    real, calls = batch.analyse_one, []

    def dies_on_the_eighth(*args, **kwargs):
        calls.append(1)
        if len(calls) == 8:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(batch, "analyse_one", dies_on_the_eighth)
    with pytest.raises(KeyboardInterrupt):
        main(["--dicomweb", signed_in.dicomweb, "--query", "PatientID=BATCH-*", "--out", str(resumed)])
    assert len(pd.read_csv(status_path(resumed))) == 7
    monkeypatch.setattr(batch, "analyse_one", real)
    capsys.readouterr()
    assert main(["--dicomweb", signed_in.dicomweb, "--query", "PatientID=BATCH-*", "--out", str(resumed)]) == 0
    assert "analysed 13 studies" in capsys.readouterr().out
    rows, status = _results(resumed)
    pd.testing.assert_frame_equal(rows, want_rows)
    pd.testing.assert_frame_equal(status, want_status)


def test_bad_batch_arguments(signed_in, tmp_path, capsys):
    with pytest.raises(SystemExit) as ex:
        main(["--out", str(tmp_path / "o.csv")])
    assert ex.value.code == 2
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--dicomweb", signed_in.dicomweb, "--out", str(tmp_path / "o.csv")])
    with pytest.raises(InputError, match="cannot match"):
        parse_query(["PatientBirthDate=19700101"])
    with pytest.raises(InputError, match="KEY=VALUE"):
        parse_query(["PatientID"])
    status = main(["--dicomweb", signed_in.dicomweb, "--query", "Bogus=1", "--out", str(tmp_path / "o.csv")])
    assert status == 2 and "cannot match" in capsys.readouterr().err


@pytest.mark.skipif(not models_ready(), reason="the shipped model weights are not installed")
def test_ray_reads_from_the_archive_in_its_read_tasks_and_gives_the_local_rows(orthanc_server, batch_archive, tmp_path,
                                                                                monkeypatch):
    ray = pytest.importorskip("ray")
    monkeypatch.setenv("MODIC_DICOMWEB_USER", orthanc_server.auth[0])
    monkeypatch.setenv("MODIC_DICOMWEB_PASSWORD", orthanc_server.auth[1])
    folder_out, ray_out = tmp_path / "folder.csv", tmp_path / "ray.csv"
    assert main([str(batch_archive), "--out", str(folder_out), "--batch-size", "1"]) == 0
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False,
             runtime_env={"env_vars": {k: v for k, v in os.environ.items() if k.startswith("MODIC_")}})
    try:
        assert main(["--dicomweb", orthanc_server.dicomweb, "--query", "PatientID=BATCH-*", "--out", str(ray_out),
                     "--engine", "ray", "--concurrency", "1"]) == 0
    finally:
        ray.shutdown()
    want_rows, want_status = _results(folder_out)
    got_rows, got_status = _results(ray_out)
    assert len(want_rows) > 0 and (got_status["status"] == "ok").all()
    assert list(got_status["study_id"]) == list(want_status["study_id"])
    assert list(got_rows["study_id"]) == list(want_rows["study_id"]) and list(got_rows["level"]) == list(want_rows["level"])
    assert list(got_rows["prediction"]) == list(want_rows["prediction"])
    for k in ("p_mc0", "p_mc1", "p_mc2"):
        assert (got_rows[k].astype(float) - want_rows[k].astype(float)).abs().max() < 1e-3, k
