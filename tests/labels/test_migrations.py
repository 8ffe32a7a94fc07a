"""Upgrading a database from the previous schema (0001) keeps its rows and gives new columns their values."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from modic_core.labels import LabelStore
from modic_core.labels.migrate import HEAD, current_revision, diff, downgrade, upgrade
from modic_core.labels.split import LOCKED_SHARE, split_of


def test_upgrade_from_0001_keeps_rows_and_assigns_each_study_its_part_by_the_fixed_rule(db_url):
    engine = create_engine(db_url)
    upgrade(engine, revision="0001")
    ids = [f"{i:016x}" for i in range(40)]
    with engine.begin() as conn:
        for sid in ids:
            conn.execute(text("INSERT INTO studies (id, t1_path, t2_path, created_at) "
                              "VALUES (:i, :a, :b, CURRENT_TIMESTAMP)"), {"i": sid, "a": f"{sid}/t1.mha", "b": f"{sid}/t2.mha"})
        conn.execute(text("INSERT INTO reviews (study_id, level, reviewer, grade, comment, created_at) "
                          "VALUES (:i, 'L4-L5', 'dr a', 'MC1', '', CURRENT_TIMESTAMP)"), {"i": ids[0]})
        conn.execute(text("INSERT INTO model_versions (name, card, metrics, status, created_at) "
                          "VALUES ('shipped', '{}', '{}', 'active', CURRENT_TIMESTAMP)"))
    assert current_revision(engine) == "0001"
    store = LabelStore.open(db_url, data_dir=Path("/nonexistent-never-written"))
    try:
        assert current_revision(engine) == HEAD == "0002" and diff(engine) == []
        studies = {s.id: s for s in store.list_studies()}
        assert set(studies) == set(ids)
        assert all(s.split == split_of(s.id) for s in studies.values())
        assert {s.split for s in studies.values()} == {"train", "locked"}
        assert [(r.level, r.grade) for r in store.reviews(ids[0])] == [("L4-L5", "MC1")]
        (model,) = store.list_models()
        assert model.status == "active" and model.weights_dir is None and store.active_model() == model
    finally:
        store.close()
    downgrade(engine, revision="0001")  # and back: the 0001 schema with the same rows
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM studies")).scalar() == 40
    engine.dispose()


def test_the_locked_rule_is_stable_and_near_its_share():
    keys = [f"{i:016x}" for i in range(5000)]
    share = sum(split_of(k) == "locked" for k in keys) / len(keys)
    assert share == pytest.approx(LOCKED_SHARE, abs=0.02)
    assert split_of("00000000000000ab") == split_of("00000000000000ab")


def test_a_new_model_version_keeps_its_weights_folder(tmp_path):
    store = LabelStore.open(f"sqlite:///{tmp_path / 'l.sqlite3'}", data_dir=tmp_path)
    try:
        store.register_model(name="ft-1", card={}, metrics={}, weights_dir=tmp_path / "ft1")
        assert store.active_model() is None
        store.activate_model(name="ft-1")
        assert store.active_model().weights_dir == str(tmp_path / "ft1")
    finally:
        store.close()
