"""Which model the app uses (modic_core.labels.active) and the app's backend following it (modic_core.ui.backend):
a switch of the active version changes what is loaded and the grades, never a cached result of the old model."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from sqlalchemy import text

from modic_core import settings
from modic_core.labels import LabelStore
from modic_core.datasets.demo import list_demo_cases, load_demo
from modic_core.labels.active import SHIPPED, active_weights_dir, missing_files, model_in_use
from modic_core.ui.backend import default_backend
from modic_core.ui.labelstore import label_store

SHIPPED_WEIGHTS = Path(__file__).resolve().parents[2] / "weights"


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("MODIC_DATA_DIR", str(tmp_path / "data"))
    with LabelStore.open(f"sqlite:///{tmp_path / 'labels.sqlite3'}", data_dir=tmp_path / "data") as s:
        yield s


def weights_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "detector.pt").write_bytes(b"d")
    (path / "classifier_zscore.pt").write_bytes(b"c")
    return path


def test_no_active_version_uses_the_shipped_weights(store):
    use = model_in_use(store)
    assert use.name == SHIPPED and use.weights_dir == settings.weights_dir() and not use.warning
    assert not use.fine_tuned and active_weights_dir(store) == settings.weights_dir()


def test_active_version_with_a_complete_folder_is_used(store, tmp_path):
    folder = weights_folder(tmp_path / "v1")
    store.register_model(name="v1", card={}, metrics={}, weights_dir=folder)
    assert active_weights_dir(store) == settings.weights_dir()  # a candidate is not used
    store.activate_model(name="v1", actor="a")
    use = model_in_use(store)
    assert use.name == "v1" and use.weights_dir == folder and use.fine_tuned and not use.warning
    assert active_weights_dir(store) == folder


def test_active_version_without_a_folder_is_the_shipped_weights_under_its_name(store):
    store.register_model(name="baseline", card={}, metrics={}, status="active")
    use = model_in_use(store)
    assert use.name == "baseline" and use.weights_dir == settings.weights_dir() and not use.fine_tuned


@pytest.mark.parametrize("remove", ["folder", "detector.pt", "classifier_zscore.pt"])
def test_missing_or_incomplete_folder_falls_back_with_one_sentence(store, tmp_path, remove):
    folder = weights_folder(tmp_path / "v1")
    if remove == "folder":
        shutil.rmtree(folder)
    else:
        (folder / remove).unlink()
    assert missing_files(folder)
    store.register_model(name="v1", card={}, metrics={}, weights_dir=folder, status="active")
    use = model_in_use(store)
    assert use.weights_dir == settings.weights_dir() and use.name == SHIPPED and not use.fine_tuned
    assert "'v1'" in use.warning and "shipped model" in use.warning and use.warning.count(". ") == 0


def test_an_unreadable_store_falls_back_with_a_warning(tmp_path):
    broken = LabelStore.open(f"sqlite:///{tmp_path / 'x.sqlite3'}", data_dir=tmp_path)
    with broken.engine.begin() as conn:
        conn.execute(text("DROP TABLE model_versions"))
    use = model_in_use(broken)
    broken.close()
    assert use.name == SHIPPED and use.weights_dir == settings.weights_dir() and "could not be read" in use.warning


# ---------------------------------------------------------------- the app's backend follows the switch
def shifted_version(folder: Path) -> Path:
    """A complete weights folder whose z-score classifier leans hard towards MC2 (another sha256, other grades)."""
    folder.mkdir(parents=True)
    shutil.copy(SHIPPED_WEIGHTS / "detector.pt", folder / "detector.pt")
    payload = torch.load(SHIPPED_WEIGHTS / "classifier_zscore.pt", map_location="cpu", weights_only=True)
    payload["state_dict"]["head.1.bias"] = payload["state_dict"]["head.1.bias"] + torch.tensor([-20.0, -20.0, 20.0])
    torch.save(payload, folder / "classifier_zscore.pt")
    return folder


@pytest.mark.skipif(not (SHIPPED_WEIGHTS / "classifier_zscore.pt").is_file(), reason="shipped weights not installed")
def test_switching_the_active_version_changes_what_the_app_loads_and_grades(store, tmp_path, monkeypatch):
    monkeypatch.setenv("MODIC_WEIGHTS_DIR", str(SHIPPED_WEIGHTS))
    monkeypatch.setenv("MODIC_DEVICE", "cpu")
    folder = shifted_version(tmp_path / "models" / "v2")
    study = load_demo(list_demo_cases()[0].name)

    before = default_backend()
    assert before.version == SHIPPED and Path(before.weights_dir) == SHIPPED_WEIGHTS.resolve()
    rep0 = before.make_analysis(study).report("zscore", 0.3, gradcam=False)
    assert rep0.levels

    app_store = label_store()  # the app's store: settings.database_url() in this test's MODIC_DATA_DIR
    app_store.register_model(name="v2", card={}, metrics={}, weights_dir=folder)
    app_store.activate_model(name="v2", actor="admin")
    after = default_backend()
    assert after.version == "v2" and Path(after.weights_dir) == folder.resolve()
    assert after.make_analysis is not before.make_analysis  # the session's analysis store is rebuilt (runtime.get_store)
    analysis = after.make_analysis(study)
    assert analysis._classifier("zscore").sha256 != before.make_analysis(study)._classifier("zscore").sha256
    rep1 = analysis.report("zscore", 0.3, gradcam=False)
    # same study, same process result cache: the new model's grades, not the old cached ones
    assert [lv.prediction for lv in rep1.levels if lv.graded] == ["MC2"] * sum(lv.graded for lv in rep1.levels)
    assert [lv.probabilities for lv in rep1.levels] != [lv.probabilities for lv in rep0.levels]
    assert rep1.weights["classifier"] != rep0.weights["classifier"]

    assert app_store.deactivate_models(actor="admin")  # back to the shipped model: the old grades again
    back = default_backend()
    assert back.version == SHIPPED and back.make_analysis is before.make_analysis
    rep2 = back.make_analysis(study).report("zscore", 0.3, gradcam=False)
    assert [lv.probabilities for lv in rep2.levels] == [lv.probabilities for lv in rep0.levels]
