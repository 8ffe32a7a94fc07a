"""Issue #22 item 2: every warning and the whole alignment record travel with the results: CSV,
PDF, DICOM SR, batch status and JSON carry them; ``t1_t2_aligned`` is true only when the check passed."""
from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from modic_core import InputError
from modic_core.export.documents import report_csv
from modic_core.export.fields import WARNINGS_SEPARATOR, alignment_columns, t1_t2_aligned
from modic_core.pairing.alignment import Alignment
from tests.export.test_documents import build_report_figure as report_figure
from tests.export.test_documents import make_report

PHANTOM = Path(__file__).resolve().parents[2] / "demo" / "phantom_dicom"
WARNINGS = ["Different acquisition dates for T1 and T2.", "Some levels are not graded: the T2 series does not cover them."]


@dataclasses.dataclass(frozen=True)
class LaterAlignment(Alignment):
    """An alignment record with keys another version adds (the exports must carry them unchanged)."""

    through_plane_mm: float | None = None
    through_plane_residual_mm: float | None = None


def record(*, ok: bool = True, method: str = "disc correspondence") -> LaterAlignment:
    return LaterAlignment(method=method, translation_mm=(0.5, 21.0, -3.25), residual_mm=1.4, discs_matched=5,
                          discs_t1=6, ok=ok, header_trusted=False, header_residual_mm=9.5, header_discs_matched=1,
                          through_plane_mm=4.8, through_plane_residual_mm=0.6)


@pytest.fixture(scope="module")
def study():
    from modic_core.datasets.demo import load_demo

    return load_demo("phantom-dicom")


@pytest.fixture
def report(study):
    rep = make_report(study)
    rep.warnings = list(WARNINGS)
    rep.alignment = record()
    return rep


def test_csv_has_a_warnings_column_and_every_alignment_key(report):
    df = pd.read_csv(io.BytesIO(report_csv(report, study_label="1a2b3c4d")), keep_default_na=False)
    assert (df["warnings"] == WARNINGS_SEPARATOR.join(WARNINGS)).all()
    keys = list(report.alignment.to_dict())
    assert "through_plane_mm" in keys and "through_plane_residual_mm" in keys
    assert [f"alignment_{k}" for k in keys] == [c for c in df.columns if c.startswith("alignment_")]
    row = df.iloc[0]
    assert row["alignment_method"] == "disc correspondence" and json.loads(row["alignment_translation_mm"]) == [0.5, 21.0, -3.25]
    assert float(row["alignment_residual_mm"]) == 1.4 and int(row["alignment_discs_matched"]) == 5
    assert float(row["alignment_through_plane_mm"]) == 4.8 and float(row["alignment_through_plane_residual_mm"]) == 0.6
    assert str(row["alignment_header_trusted"]) == "False" and str(row["t1_t2_aligned"]) == "True"


def test_csv_without_an_alignment_record_has_the_columns_empty(study):
    df = pd.read_csv(io.BytesIO(report_csv(make_report(study))), keep_default_na=False)
    assert set(alignment_columns()) <= set(df.columns) and (df["alignment_method"] == "").all()
    assert (df["warnings"] == "").all() and (df["t1_t2_aligned"] == "").all()


@pytest.mark.parametrize("alignment, expected", [
    (record(ok=True), True),
    (record(ok=False), False),
    (record(ok=True, method="not checked"), False),  # a check that did not run never reads as passed
    (None, ""),
])
def test_t1_t2_aligned_is_true_only_when_the_check_passed(study, alignment, expected):
    rep = make_report(study)
    rep.alignment = alignment
    assert t1_t2_aligned(rep) == expected
    df = pd.read_csv(io.BytesIO(report_csv(rep)), keep_default_na=False, dtype=str)
    assert set(df["t1_t2_aligned"]) == {str(expected)}


def test_pdf_shows_every_warning_and_the_alignment_record(study, report):
    fig = report_figure(study, report, study_label="1a2b3c4d")
    texts = "\n".join(t.get_text() for t in fig.texts).replace("\n", " ")
    for w in WARNINGS:
        assert w in texts
    for key, value in report.alignment.to_dict().items():
        shown = "" if value is None else json.dumps(value) if isinstance(value, list) else value  # None: an empty value
        assert f"{key}={shown}" in texts, key


def sr_items(ds) -> list[tuple[str, str]]:
    out = []

    def walk(seq):
        for it in seq:
            if getattr(it, "ValueType", "") == "TEXT":
                out.append((it.ConceptNameCodeSequence[0].CodeMeaning, str(it.TextValue)))
            if "ContentSequence" in it:
                walk(it.ContentSequence)

    walk(ds.ContentSequence)
    return out


def test_sr_carries_the_warnings_and_every_alignment_key_as_text(study, report):
    import highdicom as hd

    from modic_core.export.dicom_sr import dicom_sr_bytes, read_series_headers

    data = dicom_sr_bytes(report, study, read_series_headers(PHANTOM / "t1"), t2_headers=read_series_headers(PHANTOM / "t2"))
    sr = hd.sr.srread(io.BytesIO(data))
    items = sr_items(sr)
    assert [v for name, v in items if name == "Warning"] == WARNINGS
    assert [v for name, v in items if name == "T1/T2 alignment check"] == [report.alignment.sentence()]
    fields = [v for name, v in items if name == "T1/T2 alignment record field"]
    assert [f.split("=")[0] for f in fields] == list(report.alignment.to_dict())
    assert "through_plane_mm=4.8" in fields and "translation_mm=[0.5, 21.0, -3.25]" in fields
    # the TEXT items sit in TID 1500's Qualitative Evaluations container at the root
    qual = next(i for i in sr.ContentSequence if i.ConceptNameCodeSequence[0].CodeValue == "C0034375")
    inside = sr_items(SimpleNamespace(ContentSequence=[qual]))
    assert [it for it in items if it[0] in ("Warning", "T1/T2 alignment check", "T1/T2 alignment record field")] == inside


def test_an_unreliable_pair_still_gets_no_sr(study, report):
    from modic_core.export.dicom_sr import dicom_sr_bytes, read_series_headers

    report.alignment = record(ok=False)
    with pytest.raises(InputError, match="alignment check failed"):
        dicom_sr_bytes(report, study, read_series_headers(PHANTOM / "t1"))


def test_json_report_has_the_warnings_and_the_whole_record(report):
    rec = report.to_dict()
    assert rec["warnings"] == WARNINGS and rec["alignment"] == report.alignment.to_dict()
    assert rec["alignment"]["through_plane_mm"] == 4.8


def test_batch_status_rows_carry_warnings_and_alignment_columns(report, tmp_path):
    from modic_core.batch.local import run_cohort
    from modic_core.batch.sink import STATUS_COLUMNS, ResultSink

    class Analysis:
        def __init__(self, study):
            self.study = study

        def report(self, normalization, threshold, gradcam=False):
            return report

    cs = SimpleNamespace(study_id="s1", t1_path=tmp_path / "t1", t2_path=tmp_path / "t2", load=lambda: None)
    run = run_cohort([cs], normalization="zscore", threshold=0.5, analysis_factory=Analysis, batch_size=1)
    status = run.status[0]
    assert status["status"] == "ok" and status["warnings"] == WARNINGS_SEPARATOR.join(WARNINGS)
    assert status["alignment_through_plane_mm"] == 4.8 and status["t1_t2_aligned"] is True
    assert {"warnings", "t1_t2_aligned", *alignment_columns()} <= set(STATUS_COLUMNS)

    sink = ResultSink(tmp_path / "results.csv", total=1)  # the status file the batch command writes
    sink.add(status, run.rows)
    sink.close()
    written = pd.read_csv(sink.status_file, dtype=str, keep_default_na=False)
    assert written.loc[0, "warnings"] == WARNINGS_SEPARATOR.join(WARNINGS)
    assert json.loads(written.loc[0, "alignment_translation_mm"]) == [0.5, 21.0, -3.25]
    assert written.loc[0, "alignment_method"] == "disc correspondence" and written.loc[0, "t1_t2_aligned"] == "True"
