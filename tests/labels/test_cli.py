"""``modic-labels`` / ``python -m modic_core.labels``: import a labelled cohort, export it back, list model
versions; bad input is one sentence and exit status 2."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from modic_core.datasets.cohort import iter_cohort
from modic_core.errors import InputError
from modic_core.labels import LabelStore
from modic_core.labels.cli import main
from modic_core.labels.files import study_key
from modic_core.labels.models import AuditEntry

ROOT = Path(__file__).resolve().parents[2]
COHORT = ROOT / "demo" / "cohort"  # 3 small 2D studies with boxes


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    monkeypatch.setenv("MODIC_DATA_DIR", str(folder))
    return folder


@pytest.fixture(scope="module")
def source():
    """The fixture cohort's levels per study key: {key: {level: (modic, box)}} and the source study IDs."""
    out, ids = {}, []
    for cs in iter_cohort(COHORT):
        ids.append(cs.study_id)
        out[study_key(cs.load())] = {lv.level: (lv.modic, lv.box) for lv in cs.levels}
    return out, ids


def _levels(folder: Path) -> dict:
    return {cs.study_id: {lv.level: (lv.modic, lv.box) for lv in cs.levels} for cs in iter_cohort(folder)}


def test_import_then_export_gives_the_same_levels_grades_and_boxes(db_url, data_dir, tmp_path, source, capsys):
    assert main(["import", str(COHORT), "--db", db_url, "--reviewer", "dr a"]) == 0
    assert "3 newly stored" in capsys.readouterr().out
    out = tmp_path / "export"
    assert main(["export", "--db", db_url, "--out", str(out)]) == 0
    assert _levels(out) == source[0]
    for cs in iter_cohort(out):  # the exported images are the stored pixels: the same key
        assert study_key(cs.load()) == cs.study_id


def test_importing_twice_adds_no_study_and_no_review(data_dir, capsys):
    url = f"sqlite:///{data_dir / 'l.sqlite3'}"
    assert main(["import", str(COHORT), "--db", url, "--reviewer", "dr a"]) == 0
    capsys.readouterr()
    with LabelStore.open(url) as store:
        before = {s.id: (len(store.reviews(s.id)), len(store.analyses(s.id))) for s in store.list_studies()}
    assert main(["import", str(COHORT), "--db", url, "--reviewer", "dr a"]) == 0
    assert "0 newly stored; 0 reviews added" in capsys.readouterr().out
    with LabelStore.open(url) as store:
        after = {s.id: (len(store.reviews(s.id)), len(store.analyses(s.id))) for s in store.list_studies()}
    assert after == before and len(after) == 3
    # another reviewer's import adds their reviews to the same studies
    assert main(["import", str(COHORT), "--db", url, "--reviewer", "dr b"]) == 0
    with LabelStore.open(url) as store:
        assert {s.id for s in store.list_studies()} == set(before)
        assert all(len(store.reviews(k)) == 2 * n for k, (n, _) in before.items())


def test_export_takes_the_latest_review_or_the_chosen_reviewers(data_dir, tmp_path, source):
    url = f"sqlite:///{data_dir / 'l.sqlite3'}"
    assert main(["import", str(COHORT), "--db", url, "--reviewer", "dr a"]) == 0
    key = sorted(source[0])[0]
    level, (modic, _) = sorted(source[0][key].items())[0]
    other = "MC0" if modic != 0 else "MC1"
    with LabelStore.open(url) as store:
        store.add_review(study_id=key, level=level, reviewer="dr b", grade=other, corrected_level="L1-L2x")
    assert main(["export", "--db", url, "--out", str(tmp_path / "any")]) == 0
    latest = _levels(tmp_path / "any")[key]
    assert latest["L1-L2x"][0] == int(other[2:]) and level not in latest
    assert main(["export", "--db", url, "--out", str(tmp_path / "a"), "--reviewer", "dr a"]) == 0
    assert _levels(tmp_path / "a") == source[0]


def test_export_says_how_many_it_wrote_and_that_not_gradable_levels_are_left_out(data_dir, tmp_path, source, capsys):
    url = f"sqlite:///{data_dir / 'l.sqlite3'}"
    assert main(["import", str(COHORT), "--db", url, "--reviewer", "dr a"]) == 0
    key = sorted(source[0])[0]
    first, second = sorted(source[0][key])[:2]
    with LabelStore.open(url) as store:
        store.add_review(study_id=key, level=first, reviewer="dr b", grade="MC0")
        store.add_review(study_id=key, level=second, reviewer="dr b", grade="not_gradable")
    capsys.readouterr()
    assert main(["export", "--db", url, "--out", str(tmp_path / "b"), "--reviewer", "dr b"]) == 0
    assert capsys.readouterr().out.strip() == (f"1 study and 1 level written to {tmp_path / 'b'}; 1 level graded not "
                                               "gradable left out (a cohort has no such grade).")


def test_the_exported_folder_holds_no_source_id_or_file_name(data_dir, tmp_path, source):
    url = f"sqlite:///{data_dir / 'l.sqlite3'}"
    assert main(["import", str(COHORT), "--db", url, "--reviewer", "dr a"]) == 0
    out = tmp_path / "export"
    assert main(["export", "--db", url, "--out", str(out)]) == 0
    keys = set(source[0])
    names = {p.relative_to(out).as_posix() for p in out.rglob("*")}
    assert names == {"studies.csv", "levels.csv", "studies"} | {f"studies/{k}" for k in keys} | {
        f"studies/{k}/{n}" for k in keys for n in ("t1.mha", "t2.mha")}
    ids = {cs.study_id for cs in iter_cohort(out)}
    assert ids == keys and not ids & set(source[1])
    for k in keys:  # the .mha headers carry geometry only
        header = (out / "studies" / k / "t1.mha").read_bytes().split(b"ElementDataFile")[0]
        assert not any(sid.encode() in header for sid in source[1] if len(sid) > 2)


def test_models_lists_versions_and_only_one_is_active(data_dir, capsys):
    url = f"sqlite:///{data_dir / 'l.sqlite3'}"
    with LabelStore.open(url) as store:
        store.register_model(name="v1", card={"base": "shipped"}, metrics={"bacc": 0.7}, status="active")
        store.register_model(name="v2", card={}, metrics={"bacc": 0.72})
        with pytest.raises(InputError):
            store.register_model(name="v2", card={}, metrics={})
        assert store.activate_model(name="v2").status == "active"
        assert [(m.name, m.status) for m in store.list_models()] == [("v1", "candidate"), ("v2", "active")]
        with pytest.raises(InputError):
            store.activate_model(name="v9")
        with store._sessions() as session:
            actions = [a.action for a in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
        assert actions == ["register_model", "register_model", "deactivate_model", "activate_model"]
    assert main(["models", "--db", url, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["status"], r["metrics"]) for r in rows] == [("v1", "candidate", {"bacc": 0.7}),
                                                                     ("v2", "active", {"bacc": 0.72})]
    assert main(["models", "--db", url]) == 0
    assert "v2" in capsys.readouterr().out


@pytest.mark.parametrize("case", ["missing folder", "not a cohort", "unknown scheme", "unreachable"])
def test_bad_input_is_one_sentence_and_exit_2(case, data_dir, tmp_path, capsys):
    url = f"sqlite:///{data_dir / 'l.sqlite3'}"
    folder = COHORT
    if case == "missing folder":
        folder = tmp_path / "nowhere"
    elif case == "not a cohort":
        folder = tmp_path / "empty"
        folder.mkdir()
    elif case == "unknown scheme":
        url = "mysql://u@localhost/db"
    else:
        url = "postgresql+psycopg://u@127.0.0.1:1/db?connect_timeout=3"
    assert main(["import", str(folder), "--db", url, "--reviewer", "dr a"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("modic-labels: ") and "\n" not in err and "Traceback" not in err


def test_python_dash_m_runs_the_same_command_line(data_dir, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "modic_core.labels", "export", "--db",
                           f"sqlite:///{data_dir / 'l.sqlite3'}", "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2 and "no reviewed study" in proc.stderr and "Traceback" not in proc.stderr
