"""AppTest tests of the Model versions page and the model card's "Model in use" section: a non-admin sees the
versions but no buttons; an admin makes a candidate active (audited), goes back to the shipped model, and
starts, watches and resumes a fine-tune (a fake command with the real one's contract)."""
from __future__ import annotations

import dataclasses
import os
import signal
import sys
import time

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from modic_core import settings
from modic_core.labels import LabelStore
from modic_core.labels import jobs
from modic_core.labels.access import Identity
from modic_core.labels.models import AuditEntry
from modic_core.ui.backend import set_backend_factory
from tests.app import fakes
from tests.app.helpers import APP

pytestmark = pytest.mark.usefixtures("fake_backend")

FAKE = (sys.executable, "-m", "tests.labels.fake_finetune")


def estimate(value: float) -> dict:
    return {"value": value, "ci_low": value - 0.04, "ci_high": value + 0.04}


METRICS = {"locked": {"current": {"balanced_accuracy": estimate(0.612), "mc0_vs_mc2": estimate(0.701)},
                      "new": {"balanced_accuracy": estimate(0.655), "mc0_vs_mc2": estimate(0.744)}}}


@pytest.fixture
def store(tmp_path, monkeypatch):
    """The app's store: a fresh MODIC_DATA_DIR (the app's cached store is per URL and folder)."""
    monkeypatch.setenv("MODIC_DATA_DIR", str(tmp_path / "data"))
    with LabelStore.open(settings.database_url(), data_dir=settings.data_dir()) as s:
        yield s


def weights_folder(path):
    path.mkdir(parents=True)
    (path / "detector.pt").write_bytes(b"d")
    (path / "classifier_zscore.pt").write_bytes(b"c")
    return path


def open_page(page: str, identity: Identity | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    if identity is not None:
        at.session_state["identity"] = identity
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    return "\n".join([m.value for m in at.markdown] + [i.value for i in at.info] + [w.value for w in at.warning]
                     + [c.value for c in at.caption])


def version_buttons(at: AppTest) -> list[str]:
    return [b.key for b in at.button if (b.key or "").startswith("ver_")] + \
        [b.label for b in at.get("form_submit_button")]


@pytest.mark.parametrize("identity", [None, Identity(name="r", role="reviewer"), Identity(name="v", role="viewer")])
def test_non_admin_sees_the_versions_and_no_buttons(store, tmp_path, identity):
    store.register_model(name="v1", card={}, metrics=METRICS, weights_dir=weights_folder(tmp_path / "v1"))
    at = open_page("pages/model_versions.py", identity)
    table = at.dataframe[0].value
    assert list(table["name"]) == ["v1"] and list(table["status"]) == ["candidate"]
    assert table["locked part (current → new)"][0] == "mc0 vs mc2: 0.701 (95% CI 0.66-0.74) → 0.744 (95% CI 0.70-0.78)"
    assert version_buttons(at) == []
    assert "Only an admin can" in texts(at) and "The app uses: the shipped model" in texts(at)


def test_admin_makes_a_candidate_active_and_goes_back_to_shipped_audited(store, tmp_path):
    v1 = store.register_model(name="v1", card={}, metrics=METRICS, weights_dir=weights_folder(tmp_path / "v1"))
    at = open_page("pages/model_versions.py", Identity(name="a", role="admin"))
    assert "Only an admin can" not in texts(at)
    at.button(key=f"ver_activate_{v1.id}").click().run()
    assert not at.exception and not at.error
    assert store.active_model().name == "v1"
    assert "The app uses: v1" in texts(at)
    assert list(at.dataframe[0].value["used by the app"]) == ["yes"]
    at.button(key="ver_shipped").click().run()
    assert store.active_model() is None and "The app uses: the shipped model" in texts(at)
    with store._sessions() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.target == "model:v1")).all()
        actions = [(r.action, r.actor) for r in rows]
    assert ("activate_model", "a") in actions and ("deactivate_model", "a") in actions


def test_admin_with_no_version_is_not_told_of_rejected_ones(store, tmp_path):
    at = open_page("pages/model_versions.py", Identity(name="a", role="admin"))
    assert "No model version is registered yet" in texts(at) and "rejected" not in texts(at)
    store.register_model(name="v0", card={}, metrics=METRICS, weights_dir=weights_folder(tmp_path / "v0"),
                         status="rejected")
    at = open_page("pages/model_versions.py", Identity(name="a", role="admin"))
    assert "No candidate version to make active (1 rejected: worse than the current model" in texts(at)


def test_model_card_shows_the_model_in_use_and_its_before_after(store, tmp_path):
    at = open_page("pages/model_card.py")
    assert "Model in use: the shipped model" in texts(at)
    store.register_model(name="v1", card={}, metrics=METRICS, weights_dir=weights_folder(tmp_path / "v1"), status="active")
    at = open_page("pages/model_card.py")
    assert "Model in use: v1" in texts(at)
    table = at.dataframe[0].value  # the first table of the card: the section is at the top
    assert list(table["metric"]) == ["mc0 vs mc2", "balanced accuracy"]
    assert table["current"][1] == "0.612 (95% CI 0.57-0.65)" and table["new"][1] == "0.655 (95% CI 0.61-0.70)"


def test_model_card_warns_when_the_active_folder_is_missing(store, tmp_path):
    store.register_model(name="gone", card={}, metrics=METRICS, weights_dir=tmp_path / "nowhere", status="active")
    at = open_page("pages/model_card.py")
    assert "Model in use: the shipped model" in texts(at)
    assert any("'gone' cannot be loaded" in w.value for w in at.warning)


def wait_for(predicate, timeout: float = 30.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_admin_starts_watches_and_resumes_a_fine_tune(store, monkeypatch):
    monkeypatch.setattr("modic_core.ui.versions.finetune_command", FAKE)
    monkeypatch.setenv("FAKE_FINETUNE_STEPS", "40")
    monkeypatch.setenv("FAKE_FINETUNE_SLEEP", "0.1")
    at = open_page("pages/model_versions.py", Identity(name="a", role="admin"))
    assert "No fine-tune has been started" in texts(at)
    at.text_input(key="ver_name").set_value("site-a")
    at.selectbox(key="ver_method").set_value("zscore")
    at.get("form_submit_button")[0].click().run()
    assert not at.exception and not at.error
    job = jobs.job_status(store).job
    assert job is not None and job.name == "site-a" and "--method" in job.args and "zscore" in job.args
    wait_for(lambda: (p := jobs.job_status(store).progress) is not None and p.fraction > 0)
    at.run()
    assert len(at.get("progress")) == 1 and "site-a" in at.get("progress")[0].proto.text
    assert at.get("form_submit_button") == []  # one fine-tune at a time
    os.killpg(job.pid, signal.SIGKILL)
    wait_for(lambda: jobs.job_status(store).state == "stopped")
    at.run()
    assert any("resume" in w.value for w in at.warning)
    monkeypatch.setenv("FAKE_FINETUNE_SLEEP", "0.01")
    at.button(key="ver_resume").click().run()
    assert not at.exception and not at.error
    wait_for(lambda: jobs.job_status(store).state == "finished")
    at.run()
    assert list(at.dataframe[0].value["name"]) == ["site-a"]
    assert at.text_input(key="ver_name").value.startswith("finetune-")  # a new default name for the next one
    assert any("finished" in s.value for s in at.success)


def test_the_viewer_says_when_the_active_version_cannot_be_used():
    sentence = "The active model version 'gone' cannot be loaded, so the app uses the shipped model."
    warned = dataclasses.replace(fakes._BACKEND, warning=sentence)
    set_backend_factory(lambda: warned)
    at = AppTest.from_file(APP, default_timeout=90).run()
    assert not at.exception
    assert any(w.value == sentence for w in at.warning)


def test_a_version_whose_folder_is_gone_is_not_made_active(store, tmp_path):
    v = store.register_model(name="gone", card={}, metrics=METRICS, weights_dir=tmp_path / "nowhere")
    at = open_page("pages/model_versions.py", Identity(name="a", role="admin"))
    at.button(key=f"ver_activate_{v.id}").click().run()
    assert store.active_model() is None
    assert any("cannot be made active" in e.value for e in at.error) and not at.exception


def test_model_card_says_why_a_too_small_locked_part_has_no_numbers(store, tmp_path):
    reason = "not enough locked levels: 4 MC0/MC2 levels of 1 studies (needs at least 20 levels of 2 studies)"
    store.register_model(name="small", card={}, metrics={"locked": {"enough": False, "reason": reason, "current": {},
                                                                    "new": {}}},
                         weights_dir=weights_folder(tmp_path / "small"), status="active")
    at = open_page("pages/model_card.py")
    assert "Model in use: small" in texts(at) and f"Locked part: {reason}." in texts(at)
