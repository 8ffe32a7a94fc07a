"""The label store on SQLite and PostgreSQL: migrations, round trip, append-only reviews, concurrency,
deletion and no patient data anywhere in the database or the image folder."""
from __future__ import annotations

import multiprocessing
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from sqlalchemy import MetaData, create_engine, select

from modic_core import load_study
from modic_core.datasets.synthetic import make_phantom
from modic_core.errors import InputError
from modic_core.labels import LabelStore
from modic_core.labels.cohorts import export_cohort
from modic_core.labels.migrate import HEAD, current_revision, diff, downgrade
from modic_core.labels.models import Base
from modic_core.volume import Study, Volume

SECRET_NAME = "Zyxwvutson^Quibblewright"
SECRET_ID = "MRN-99887766"
SECRET_BIRTH = "19230517"


def _study(seed: int = 0) -> Study:
    rng = np.random.default_rng(seed)
    t1 = Volume(rng.random((3, 16, 12), dtype=np.float32) * 100, (4.0, 0.8, 0.8), origin=(1.0, 2.0, 3.0))
    return Study(t1=t1, t2=t1.with_array(rng.random((3, 16, 12), dtype=np.float32)))


def _report(levels=("L4-L5", "L5-S1")) -> dict:
    return {"normalization": "zscore", "threshold": 0.5, "weights": {"classifier": "cls.pt (abc123)"}, "coverage": 0.9,
            "notes": ["kept out"],
            "levels": [{"level": name, "box": [1.0, 2.0, 9.5, 8.0], "score": 0.9, "prediction": "MC0",
                        "probabilities": {"MC0": 0.7, "MC1": 0.1, "MC2": 0.2}, "z_range": [0, 2],
                        "prediction_set": ["MC0", "MC2"]} for name in levels]}


@pytest.fixture
def store(db_url, tmp_path):
    with LabelStore.open(db_url, data_dir=tmp_path / "data") as s:
        yield s


def test_migrating_an_empty_database_gives_exactly_the_orm_schema(db_url):
    engine = create_engine(db_url)
    assert current_revision(engine) is None
    LabelStore.open(db_url, data_dir=Path("/nonexistent-never-written")).close()
    assert current_revision(engine) == HEAD
    assert diff(engine) == []
    reflected = MetaData()
    reflected.reflect(engine)
    assert set(reflected.tables) - {"alembic_version"} == set(Base.metadata.tables)
    LabelStore.open(db_url, data_dir=Path("/nonexistent-never-written")).close()  # again: a no-op at head
    downgrade(engine, revision="base")  # the downgrade leaves only Alembic's own table
    reflected = MetaData()
    reflected.reflect(engine)
    assert set(reflected.tables) <= {"alembic_version"} and current_revision(engine) is None
    engine.dispose()


def test_round_trip_of_a_study_its_analysis_and_reviews(store):
    study = _study()
    stored, analysis = store.add_study(study=study, analysis=_report())
    assert [s.id for s in store.list_studies()] == [stored.id] and len(stored.id) == 16
    assert stored.t1_path == f"{stored.id}/t1.mha"
    back = Volume.from_sitk(sitk.ReadImage(str(store.image_paths(stored.id)["t2"])))
    np.testing.assert_array_equal(back.array, study.t2.array)
    assert back.spacing == study.t1.spacing and back.origin == study.t1.origin
    [an] = store.analyses(stored.id)
    assert an == analysis and an.model_version == "classifier: cls.pt (abc123)" and an.coverage == 0.9
    assert an.levels[1] == {"level": "L5-S1", "detected_level": "", "box": [1.0, 2.0, 9.5, 8.0], "z_range": [0, 2], "score": 0.9,
                            "probabilities": {"MC0": 0.7, "MC1": 0.1, "MC2": 0.2}, "prediction": "MC0",
                            "prediction_set": ["MC0", "MC2"], "graded": True}
    r = store.add_review(study_id=stored.id, level="L5-S1", reviewer="dr a", grade="MC2", corrected_level="L4-L5",
                         box=(1, 2, 3, 4), comment="endplate oedema", analysis_id=an.id)
    assert store.latest_reviews(stored.id) == [r]
    assert (r.grade, r.corrected_level, r.box, r.comment, r.created_at.tzinfo is not None) == (
        "MC2", "L4-L5", (1.0, 2.0, 3.0, 4.0), "endplate oedema", True)
    again, _ = store.add_study(study=study, analysis=_report())  # same pixels: same study, a second analysis
    assert again.id == stored.id and len(store.analyses(stored.id)) == 2 and len(store.list_studies()) == 1


def test_an_analysis_report_object_is_stored_as_its_levels(tmp_path):
    from modic_core.analysis.report import LevelResult, StudyReport  # lazy: the analysis package pulls in torch

    report = StudyReport(levels=[LevelResult(level="L5-S1", box=(1, 2, 3, 4), score=0.8, prediction="MC2",
                                             probabilities={"MC0": 0.1, "MC1": 0.1, "MC2": 0.8}, z_range=(1, 2),
                                             detected_level="L4-L5", prediction_set=("MC2",))],
                         normalization="nyul", threshold=0.5, weights={"classifier": "c.pt (ff)"}, coverage=0.9)
    with LabelStore.open(f"sqlite:///{tmp_path / 'l.sqlite3'}", data_dir=tmp_path) as store:
        _, an = store.add_study(study=_study(), analysis=report, model_version="v7")
    assert (an.model_version, an.normalization, an.coverage) == ("v7", "nyul", 0.9)
    assert an.levels == [{"level": "L5-S1", "detected_level": "L4-L5", "box": [1.0, 2.0, 3.0, 4.0], "z_range": [1, 2],
                          "score": 0.8, "probabilities": {"MC0": 0.1, "MC1": 0.1, "MC2": 0.8}, "prediction": "MC2",
                          "prediction_set": ["MC2"], "graded": True}]


def test_reviews_are_append_only_and_each_reviewers_latest_counts(store):
    sid = store.add_study(study=_study(), analysis=_report())[0].id
    first = store.add_review(study_id=sid, level="L4-L5", reviewer="dr a", grade="MC0")
    second = store.add_review(study_id=sid, level="L4-L5", reviewer="dr a", grade="MC1")
    other = store.add_review(study_id=sid, level="L4-L5", reviewer="dr b", grade="not_gradable")
    lower = store.add_review(study_id=sid, level="L5-S1", reviewer="dr a", grade="MC3")
    assert store.reviews(sid) == [first, second, other, lower]
    assert store.latest_reviews(sid) == [second, other, lower]
    with pytest.raises(InputError, match="The grade 'MC4' is not one of"):
        store.add_review(study_id=sid, level="L4-L5", reviewer="dr a", grade="MC4")
    with pytest.raises(InputError, match="No stored study has the key"):
        store.add_review(study_id="0" * 16, level="L4-L5", reviewer="dr a", grade="MC0")


def _save_reviews(url: str, data_dir: str, study_id: str, reviewer: str, n: int, start) -> None:
    start.wait(60)
    with LabelStore.open(url, data_dir=Path(data_dir), migrate=False) as s:
        for i in range(n):
            s.add_review(study_id=study_id, level="L4-L5", reviewer=reviewer, grade=("MC0", "MC2")[i % 2], comment=str(i))


def test_two_processes_saving_the_same_level_at_once_lose_nothing(store):
    sid = store.add_study(study=_study(), analysis=_report())[0].id
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    n = 15
    url = store.engine.url.render_as_string(hide_password=False)
    procs = [ctx.Process(target=_save_reviews, args=(url, str(store.images_dir.parent), sid, who, n, start))
             for who in ("dr a", "dr b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    rows = store.reviews(sid)
    assert len(rows) == 2 * n
    for who in ("dr a", "dr b"):
        assert sorted(int(r.comment) for r in rows if r.reviewer == who) == list(range(n))
    assert [(r.reviewer, r.comment) for r in store.latest_reviews(sid)] == [("dr a", str(n - 1)), ("dr b", str(n - 1))]


def _store_study(url: str, data_dir: str, study: Study, start) -> None:
    start.wait(60)
    with LabelStore.open(url, data_dir=Path(data_dir), migrate=False) as s:
        s.add_study(study=study, analysis=_report())


def test_two_processes_storing_the_same_study_at_once_keep_one_study_and_both_analyses(store):
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    url = store.engine.url.render_as_string(hide_password=False)
    procs = [ctx.Process(target=_store_study, args=(url, str(store.images_dir.parent), _study(5), start)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    [stored] = store.list_studies()
    assert len(store.analyses(stored.id)) == 2
    assert sorted(p.name for p in store.images_dir.iterdir()) == [stored.id]  # no half-written folder left


def test_delete_removes_files_and_rows(store):
    keep = store.add_study(study=_study(1), analysis=_report())[0].id
    sid = store.add_study(study=_study(2), analysis=_report())[0].id
    store.add_review(study_id=sid, level="L4-L5", reviewer="dr a", grade="MC1")
    assert store.image_paths(sid)["t1"].is_file()
    assert store.delete_study(study_id=sid, actor="admin") is True
    assert not (store.images_dir / sid).exists() and store.image_paths(keep)["t1"].is_file()
    assert [s.id for s in store.list_studies()] == [keep]
    assert store.reviews(sid) == [] and store.analyses(sid) == []
    assert store.delete_study(study_id=sid) is False
    assert sorted(p.name for p in store.images_dir.iterdir()) == [keep]


def _dump(store: LabelStore) -> str:
    """Every row of every table as text (SQLite: iterdump too)."""
    meta = MetaData()
    meta.reflect(store.engine)
    with store.engine.connect() as conn:
        text = "\n".join(repr(row) for table in meta.sorted_tables for row in conn.execute(select(table)))
        if store.engine.dialect.name == "sqlite":
            text += "\n".join(conn.connection.dbapi_connection.iterdump())
    return text


def test_no_patient_data_in_the_database_the_data_folder_or_the_exports(store, tmp_path):
    patient_folder = tmp_path / "Quibblewright_Zyxwvutson_MRN-99887766"
    paths = make_phantom(seed=3, shape=(7, 160, 160), spacing=(4.0, 1.4, 1.4)).write(patient_folder, fmt="dicom")
    for series in paths.values():
        for f in Path(series).glob("*"):
            ds = pydicom.dcmread(f)
            ds.PatientName, ds.PatientID, ds.PatientBirthDate = SECRET_NAME, SECRET_ID, SECRET_BIRTH
            ds.save_as(f)
    study = load_study(paths["t1"], paths["t2"])
    sid = store.add_study(study=study, analysis=_report(), actor="dr a")[0].id
    store.add_review(study_id=sid, level="L4-L5", reviewer="dr a", grade="MC1")
    secrets = ("Zyxwvutson", "Quibblewright", SECRET_ID, SECRET_BIRTH, patient_folder.name,
               *(Path(f).name for s in paths.values() for f in Path(s).glob("*")))
    dump = _dump(store)
    files = sorted(p for p in store.images_dir.rglob("*"))
    assert [p.name for p in files] == [sid, "t1.mha", "t2.mha"]
    names = "\n".join(str(p) for p in files)
    headers = "\n".join(p.read_bytes().split(b"ElementDataFile")[0].decode("latin-1") for p in files if p.is_file())
    blobs = b"\n".join(p.read_bytes() for p in files if p.is_file())
    for s in secrets:
        assert s not in dump and s not in names and s not in headers, s
        assert s.encode() not in blobs, s
    summary = export_cohort(store, out=tmp_path / "export")  # the exported cohort: names and every byte
    assert summary.studies == 1 and summary.levels == 1
    exported = sorted((tmp_path / "export").rglob("*"))
    assert any(p.name == "levels.csv" for p in exported) and any(p.suffix == ".mha" for p in exported)
    export_names = "\n".join(str(p.relative_to(tmp_path)) for p in exported)
    export_bytes = b"\n".join(p.read_bytes() for p in exported if p.is_file())
    for s in secrets:
        assert s not in export_names and s.encode() not in export_bytes, s


def test_importing_the_store_loads_neither_torch_nor_the_analysis_package():
    code = "import sys, modic_core.labels; print(sorted(m for m in ('torch', 'modic_core.analysis') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"
