"""The background fine-tune (modic_core.labels.jobs) against a fake command with the real one's contract
(tests/labels/fake_finetune.py): start, progress, kill -> stopped and resumable, finish -> registered."""
from __future__ import annotations

import json
import os
import signal
import sys
import time

import pytest

from modic_core.errors import InputError
from modic_core.labels import LabelStore
from modic_core.labels import jobs

FAKE = (sys.executable, "-m", "tests.labels.fake_finetune")


@pytest.fixture
def setup(tmp_path):
    url = f"sqlite:///{tmp_path / 'labels.sqlite3'}"
    store = LabelStore.open(url, data_dir=tmp_path)
    yield store, url, tmp_path
    store.close()


def wait_for(predicate, timeout: float = 30.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_no_job_yet(setup):
    store, _url, data = setup
    assert jobs.job_status(store, data_dir=data).state == "none"


def test_start_records_the_job_and_finishes_registered(setup, monkeypatch):
    store, url, data = setup
    monkeypatch.setenv("FAKE_FINETUNE_STEPS", "2")
    rec = jobs.start_finetune(store, name="v1", method="zscore", db_url=url, data_dir=data, command=FAKE)
    saved = json.loads((data / "jobs" / "finetune.json").read_text())
    assert saved["pid"] == rec.pid > 0 and saved["out_dir"] == str(data / "models" / "v1") and saved["started"]
    assert saved["prefix"] == list(FAKE) and saved["args"][:2] == ["--out", str(data / "models" / "v1")]
    assert "--name" in saved["args"] and "v1" in saved["args"]
    st = wait_for(lambda: (s := jobs.job_status(store, data_dir=data)).state == "finished" and s)
    assert st.model is not None and st.model.name == "v1" and st.model.status == "candidate"
    assert st.model.weights_dir == str(data / "models" / "v1") and (data / "models" / "v1" / "detector.pt").is_file()
    assert "registered v1" in (data / "jobs" / "v1.log").read_text()
    assert not st.resumable


def test_progress_is_read_while_running_and_one_job_at_a_time(setup, monkeypatch):
    store, url, data = setup
    monkeypatch.setenv("FAKE_FINETUNE_STEPS", "50")
    monkeypatch.setenv("FAKE_FINETUNE_SLEEP", "0.2")
    rec = jobs.start_finetune(store, name="slow", db_url=url, data_dir=data, command=FAKE)
    try:
        st = wait_for(lambda: (s := jobs.job_status(store, data_dir=data)).progress and s.progress.fraction > 0 and s)
        assert st.state == "running" and st.progress.stage == "training" and 0 < st.progress.fraction < 1
        assert "epoch" in st.progress.message
        with pytest.raises(InputError, match="already running"):
            jobs.start_finetune(store, name="other", db_url=url, data_dir=data, command=FAKE)
        with pytest.raises(InputError, match="running"):
            jobs.resume_finetune(store, db_url=url, data_dir=data)
    finally:
        os.killpg(rec.pid, signal.SIGKILL)


def test_killed_job_is_stopped_resumable_and_resumes_to_registered(setup, monkeypatch):
    store, url, data = setup
    monkeypatch.setenv("FAKE_FINETUNE_STEPS", "40")
    monkeypatch.setenv("FAKE_FINETUNE_SLEEP", "0.1")
    store.register_model(name="v0", card={}, metrics={}, status="active")
    rec = jobs.start_finetune(store, name="v2", db_url=url, data_dir=data, command=FAKE, activate=True)
    wait_for(lambda: (data / "models" / "v2.partial" / "steps_done").is_file())
    os.killpg(rec.pid, signal.SIGKILL)
    st = wait_for(lambda: (s := jobs.job_status(store, data_dir=data)).state != "running" and s)
    assert st.state == "stopped" and st.resumable and st.model is None
    assert [m.name for m in store.list_models()] == ["v0"]  # a killed fine-tune registers nothing
    assert store.active_model().name == "v0"  # and leaves the active model as it was
    assert "resume" in st.message
    done_before = int((data / "models" / "v2.partial" / "steps_done").read_text())
    monkeypatch.setenv("FAKE_FINETUNE_SLEEP", "0.01")
    again = jobs.resume_finetune(store, db_url=url, data_dir=data)
    assert again.pid != rec.pid and again.args == rec.args
    st = wait_for(lambda: (s := jobs.job_status(store, data_dir=data)).state == "finished" and s)
    assert st.model.name == "v2" and store.active_model().name == "v2"  # --activate travelled with the resume
    log = (data / "jobs" / "v2.log").read_text()
    assert f"starting at step {done_before}" in log or f"starting at step {done_before + 1}" in log  # resumed, not restarted


def test_failed_job_reports_the_logs_last_line(setup, monkeypatch):
    store, url, data = setup
    monkeypatch.setenv("FAKE_FINETUNE_STEPS", "1")
    monkeypatch.setenv("FAKE_FINETUNE_FAIL", "1")
    jobs.start_finetune(store, name="bad", db_url=url, data_dir=data, command=FAKE)
    st = wait_for(lambda: (s := jobs.job_status(store, data_dir=data)).state != "running" and s)
    assert st.state == "failed" and st.resumable
    assert "failed on purpose" in st.message and "exit status 1" in st.message


def test_record_keeps_no_password(setup, monkeypatch, tmp_path):
    store, _url, data = setup
    monkeypatch.setenv("FAKE_FINETUNE_STEPS", "0")
    # the fake cannot reach this server: the job fails, but its record must not hold the password
    jobs.start_finetune(store, name="pg", db_url="postgresql+psycopg://modic:s3cret@127.0.0.1:1/db", data_dir=data,
                        command=FAKE)
    text = (data / "jobs" / "finetune.json").read_text()
    assert "s3cret" not in text and "***" in text
    wait_for(lambda: jobs.job_status(store, data_dir=data).state != "running")


def test_the_database_password_is_never_on_the_command_line(setup, monkeypatch):
    store, _url, data = setup
    seen = {}

    class Popen:  # records what would be started (`ps` shows argv to every user of the machine)
        pid = 999999

        def __init__(self, argv, **kw):
            seen["argv"], seen["env"] = argv, kw.get("env") or {}

    monkeypatch.setattr(jobs.subprocess, "Popen", Popen)
    url = "postgresql+psycopg://modic:s3cret@127.0.0.1:1/db"
    jobs.start_finetune(store, name="pg2", db_url=url, data_dir=data, command=FAKE)
    assert not any("s3cret" in a for a in seen["argv"]) and seen["env"].get("MODIC_DATABASE_URL") == url


@pytest.mark.parametrize("name", ["", "../x", "a b", "x" * 65])
def test_bad_names_are_refused(setup, name):
    store, url, data = setup
    with pytest.raises(InputError, match="name"):
        jobs.start_finetune(store, name=name, db_url=url, data_dir=data, command=FAKE)


def test_taken_name_is_refused(setup):
    store, url, data = setup
    store.register_model(name="v1", card={}, metrics={})
    with pytest.raises(InputError, match="already registered"):
        jobs.start_finetune(store, name="v1", db_url=url, data_dir=data, command=FAKE)


def test_progress_file_is_clipped_and_tolerates_garbage(tmp_path):
    out = tmp_path / "m"
    (tmp_path / "m.partial").mkdir()
    assert jobs.read_progress(out) is None
    (tmp_path / "m.partial" / "progress.json").write_text("{not json")
    assert jobs.read_progress(out) is None
    (tmp_path / "m.partial" / "progress.json").write_text(json.dumps({"stage": "eval", "fraction": 3}))
    assert jobs.read_progress(out) == jobs.Progress("eval", 1.0, "")
