"""Tag text is hostile (issue #21): markdown, math, bidi overrides and 60,000 characters in a
SeriesDescription stay plain text in the readers, the labels, the PDF, the CSV, the SR and the page's messages."""
from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import matplotlib
import pandas as pd
import pydicom
import pytest

from modic_core import InputError
from modic_core.export.documents import build_pdf_report, report_csv
from modic_core.export.labels import series_label, volume_label
from modic_core.io.csv_safe import escape_cell
from modic_core.pairing.alignment import Alignment
from modic_core.text import DICOM_LO_CHARS
from tests.export.test_documents import build_report_figure as report_figure
from tests.export.test_documents import make_report
from tests.io.conftest import write_series

MARKDOWN = "![p](http://127.0.0.1:9/pixel.png) **ALERT** [link](https://evil.example) :red[x]"
HOSTILE = MARKDOWN + " T1 $x_{$ \u202egnp.exe\u200b\ufeff " + "x" * 60_000
PHANTOM = Path(__file__).resolve().parents[2] / "demo" / "phantom_dicom"


@pytest.fixture(scope="module")
def study():
    from modic_core.datasets.demo import load_demo

    return load_demo("phantom-dicom")


def with_description(study, text: str):
    t1 = dataclasses.replace(study.t1, meta=dataclasses.replace(study.t1.meta, series_description=text))
    return dataclasses.replace(study, t1=t1)


def page_texts(fig) -> list:
    from matplotlib.text import Text

    return list(fig.findobj(Text)) + [c.get_text() for ax in fig.axes for t in ax.tables for c in t.get_celld().values()]


# --------------------------------------------------------------------------- where tag text enters


def test_dicom_reader_makes_the_series_description_plain(tmp_path):
    from modic_core.io import list_series, load_series

    def edit(i, ds):
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.Manufacturer = "SIE\u202eMENS" + "y" * 500

    folder = write_series(tmp_path / "s", description=HOSTILE, edit=edit)
    info = list_series(folder)[0]
    meta = load_series(folder).meta
    for text in (info.description, meta.series_description):
        assert len(text) <= DICOM_LO_CHARS and text.endswith("\u2026")
        assert text.startswith(MARKDOWN[:40]) and "\u202e" not in text and "\u200b" not in text
    assert meta.manufacturer.startswith("SIEMENS") and len(meta.manufacturer) <= DICOM_LO_CHARS
    assert meta.sequence == "T1"  # the description still tells the sequence


def test_image_file_names_are_plain(tmp_path):
    import shutil

    from modic_core.io import list_series
    from modic_core.io.images import read_image

    src = Path(__file__).resolve().parents[1] / "fixtures" / "spider_pair" / "t1.mha"
    path = tmp_path / ("t1 \u202egnp\u200b" + "z" * 200 + ".mha")
    shutil.copy(src, path)
    for text in (read_image(path).meta.series_description, list_series(path)[0].description):
        assert "\u202e" not in text and "\u200b" not in text and len(text) <= DICOM_LO_CHARS


def test_series_label_of_a_hand_built_volume_is_plain(study):
    label = volume_label(with_description(study, HOSTILE).t1, "T1")
    assert label.endswith("(T1 series, 15 slices)") and "\u202e" not in label
    assert len(label) <= DICOM_LO_CHARS + len(" (T1 series, 15 slices)")
    assert series_label(role="T2", n_slices=3, kind="dicom", description="a\n\tb\x00") == "a b (T2 series, 3 slices)"


# --------------------------------------------------------------------------- PDF


@pytest.mark.parametrize("text", ["T1 $x_{$", "$5 and $6", "T1 \\frac{", HOSTILE])
def test_pdf_is_built_and_shows_the_text_literally(study, text):
    rep = make_report(study)
    s = with_description(study, text)
    data = build_pdf_report(s, rep, study_label="1a2b3c4d")  # the old page died on mathtext here
    assert data.startswith(b"%PDF") and len(data) > 10_000
    fig = report_figure(s, rep, study_label="1a2b3c4d")
    texts = page_texts(fig)
    assert all(not t.get_parse_math() and not t.get_usetex() for t in texts)
    series = next(t.get_text() for t in texts if "Series: T1 = " in t.get_text())
    shown = text if len(text) < 60 else text[:40]
    assert shown in series  # "$5 and $6" stays "$5 and $6", not "5and6"


def test_a_60000_character_description_does_not_fill_the_page(study):
    fig = report_figure(with_description(study, HOSTILE), make_report(study), study_label="x")
    header = next(t.get_text() for t in fig.texts if "Series: T1 = " in t.get_text())
    assert len(header) < 1_000 and header.count("\n") <= 6  # the header block, a few lines
    assert "\u202e" not in header


def test_pdf_ignores_usetex_in_rcparams(study):
    with matplotlib.rc_context({"text.usetex": True}):  # no LaTeX needed: every page text has usetex off
        data = build_pdf_report(with_description(study, "T1 $5 and $6"), make_report(study), study_label="x")
    assert data.startswith(b"%PDF")


def test_long_and_hostile_warnings_and_notes_are_cut(study):
    rep = make_report(study)
    rep.warnings = ["W " + "w" * 5000]
    rep.notes = ["N " + "n" * 5000]
    fig = report_figure(study, rep, study_label="x")
    for prefix in ("Warning: W ", "Note: N "):
        text = next(t.get_text() for t in fig.texts if t.get_text().startswith(prefix))
        assert text.count("\n") <= 2 and text.endswith("\u2026")


def test_a_failed_pdf_download_is_a_pdf_saying_so_never_zero_bytes():
    from modic_core.export.documents import error_pdf
    from modic_core.ui.guard import safe_call

    def broken() -> bytes:
        raise ValueError("mathtext")

    data = safe_call(broken, "building the PDF report", on_error=error_pdf)()
    assert data.startswith(b"%PDF") and len(data) > 1_000
    page = (Path(__file__).resolve().parents[2] / "pages" / "case_viewer.py").read_text()
    pdf_call = page[page.index("pdf = safe_call("):page.index("d2c.download_button")]
    assert "on_error=error_pdf" in pdf_call and 'fallback=b""' not in pdf_call


# --------------------------------------------------------------------------- CSV, SR, page messages


def test_csv_cells_lose_bidi_and_zero_width_characters(study):
    rep = make_report(study)
    rep.warnings = ["T2 \u202eevil\u200b sentence"]
    df = pd.read_csv(io.BytesIO(report_csv(rep, study_label="ab\u202ecd")))
    assert df["warnings"].tolist() == ["T2 evil sentence"] * 3 and df["study"].tolist() == ["abcd"] * 3
    assert escape_cell("\u200b=cmd|' /C calc'!A0") == "'=cmd|' /C calc'!A0"  # hidden before a formula: still escaped
    assert escape_cell("x\u202e\ny") == "x\ny" and escape_cell(-0.5) == -0.5


def test_sr_text_values_are_plain_and_within_dicom_limits(study):
    from modic_core.export.dicom_sr import dicom_sr_bytes, read_series_headers

    rep = make_report(study)
    rep.alignment = Alignment(method="disc correspondence", translation_mm=(1.0, 20.0, 3.0), residual_mm=1.2,
                              discs_matched=5, discs_t1=5, ok=True)
    rep.warnings = ["A \u202ewarning\u200b " + "v" * 5000]
    ds = pydicom.dcmread(io.BytesIO(dicom_sr_bytes(rep, study, read_series_headers(PHANTOM / "t1"))))
    items = [it for it in ds.iterall() if it.keyword == "TextValue"]
    assert items and all("\u202e" not in str(el.value) and "\u200b" not in str(el.value) for el in items)
    assert all(len(str(el.value)) <= 1024 for el in items)
    params = [str(it.TextValue) for it in _content_items(ds)
              if "ConceptNameCodeSequence" in it and it.ConceptNameCodeSequence[0].CodeMeaning == "Algorithm Parameters"]
    assert params and all(len(p) <= 64 for p in params)  # LO (the old SR wrote the alignment sentence, ~100 characters)


def _content_items(ds):
    for it in ds.get("ContentSequence", []):
        yield it
        yield from _content_items(it)


def test_page_messages_with_file_names_are_markdown_inert():
    from modic_core.ui.guard import guarded

    shown = []
    with guarded("reading", show=shown.append) as g:
        raise InputError("The file '**ALERT** ![p](http://127.0.0.1:9/p.png).mha' could not be read.")
    assert not g.ok and g.message.startswith("The file '**ALERT**")  # the outcome keeps the sentence
    assert "\\*\\*ALERT\\*\\*" in shown[0] and "!\\[p\\](http\u2060\\:" in shown[0]
