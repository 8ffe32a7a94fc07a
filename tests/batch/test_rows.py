"""The shared row/status helpers of both batch engines (:mod:`modic_core.batch.rows`)."""
from __future__ import annotations

from types import SimpleNamespace

from modic_core.batch import actors, local
from modic_core.batch.rows import alignment_cell, level_rows, redact
from modic_core.batch.sink import PRED_COLUMNS
from modic_core.datasets.cohort import CohortStudy

PHI = "DOE_JOHN_MRN4471"


def test_redact_replaces_file_folder_and_dicom_member_names_only(tmp_path):
    series = tmp_path / "cohort" / PHI / "t1_dicom"
    series.mkdir(parents=True)
    (series / f"{PHI}_0001.dcm").write_bytes(b"x")
    st = CohortStudy("s1", series, tmp_path / "cohort" / PHI / f"{PHI}_t2.mha")
    msg = (f"The DICOM files in {PHI} (2 files) are damaged; the file '{PHI}_0001.dcm' of t1_dicom and "
           f"'{PHI}_t2.mha' in the cohort could not be read (4 slices).")
    out = redact(msg, st)
    assert "DOE_" not in out and "MRN" not in out
    assert "'[T1 file]'" in out and "'[T2 file]'" in out and "in the cohort could not be read (4 slices)." in out


def test_alignment_cell_states():
    assert alignment_cell(SimpleNamespace()) == ""
    assert alignment_cell(SimpleNamespace(alignment=None)) == ""
    assert alignment_cell(SimpleNamespace(alignment=SimpleNamespace(ok=False))) == "FAILED"
    header = SimpleNamespace(ok=True, method="header", translation_mm=(3.0, 4.0))
    assert alignment_cell(SimpleNamespace(alignment=header)) == "ok"
    moved = SimpleNamespace(ok=True, method="registration", translation_mm=(3.0, 4.0))
    assert alignment_cell(SimpleNamespace(alignment=moved)) == "ok (moved 5 mm)"


def test_level_rows_keep_only_prediction_columns_and_add_the_run_settings():
    level = SimpleNamespace(row=lambda digits: {"level": "L4-L5", "prediction": "MC1", "not_a_column": 1, "digits": digits})
    report = SimpleNamespace(levels=[level, level], coverage=0.9)
    rows = level_rows("s1", report, "zscore", 1)
    assert len(rows) == 2
    assert rows[0]["study_id"] == "s1" and rows[0]["level"] == "L4-L5" and rows[0]["prediction"] == "MC1"
    assert rows[0]["set_coverage"] == 0.9 and rows[0]["normalization"] == "zscore" and rows[0]["threshold"] == 1.0 and isinstance(rows[0]["threshold"], float)
    assert "not_a_column" not in rows[0] and set(rows[0]) <= {*PRED_COLUMNS, "study_id"}
    assert level_rows("s1", SimpleNamespace(levels=[]), "zscore", 0.5) == []


def test_both_engines_use_the_one_public_module():
    """The engines share one per-study step (batch.study.analyse_one), built on these helpers; neither
    keeps a private copy (the old cycle went through them)."""
    from modic_core.batch import study

    for name in ("redact", "level_rows", "alignment_cell"):
        assert getattr(study, name) is globals()[name]
    for module in (local, actors):
        assert module.analyse_one is study.analyse_one
        for name in ("redact", "level_rows", "alignment_cell"):
            assert not hasattr(module, f"_{name}") and not hasattr(module, name)
