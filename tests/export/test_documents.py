"""CSV and the PDF report export of a study's results."""
from __future__ import annotations

import dataclasses
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modic_core.analysis.report import LevelResult, StudyReport
from modic_core.analysis.sets import with_coverage
from modic_core.export.documents import build_pdf_report, report_csv, report_pages
from modic_core.export.style import NOTICE
from tests.conformal_sets import SINGLE, TWO_ALWAYS, TWO_AT_90, with_p_values


@pytest.fixture(scope="module")
def study():
    from modic_core.datasets.demo import load_demo

    return load_demo("phantom-dicom")


class ReportPages:
    """The report's pages read together, as the tests look at them: every page's texts, axes and objects."""

    def __init__(self, figs) -> None:
        self.figs = figs

    @property
    def texts(self) -> list:
        return [t for f in self.figs for t in f.texts]

    @property
    def axes(self) -> list:
        return [a for f in self.figs for a in f.axes]

    def findobj(self, match) -> list:
        return [o for f in self.figs for o in f.findobj(match)]


def build_report_figure(study, report, **kwargs) -> ReportPages:
    return ReportPages(report_pages(study, report, **kwargs))


def make_report(study, n=3):
    nz, ny, nx = study.shape
    levels = []
    for i in range(n):
        heat = np.zeros(study.shape, np.float32)
        heat[6:9, 60 + 20 * i:75 + 20 * i, 80:110] = 1.0
        levels.append(LevelResult(f"L{i + 3}-L{i + 4}", (80, 60 + 20 * i, 110, 75 + 20 * i), 0.9 - 0.1 * i,
                                  {"MC0": 0.6, "MC1": 0.1, "MC2": 0.3}, "MC0", (6, 8), heat))
    return StudyReport(levels=levels, normalization="zscore", threshold=0.5,
                       weights={"detector": "detector.pt (sha256 abc)", "classifier": "classifier_zscore.pt (sha256 def)"},
                       device="cpu", shape=study.shape)


def test_csv_has_table_box_slab_and_settings(study):
    df = pd.read_csv(io.BytesIO(report_csv(make_report(study), study_label="1a2b3c4d")))
    assert list(df.columns[:7]) == ["study", "level", "confidence", "P(MC0)", "P(MC1)", "P(MC2)", "prediction"]
    assert len(df) == 3 and (df["study"] == "1a2b3c4d").all() and (df["normalization"] == "zscore").all()
    assert df.loc[0, ["x0", "y0", "x1", "y1", "z0", "z1"]].tolist() == [80, 60, 110, 75, 6, 8]
    empty = pd.read_csv(io.BytesIO(report_csv(make_report(study, 0))))
    assert len(empty) == 0 and "level" in empty.columns


def test_uncertain_flag_in_csv_table_and_pdf_table(study):
    rep = with_p_values(make_report(study), [SINGLE, TWO_ALWAYS, SINGLE], coverage=0.9)  # L4-L5: "MC0 or MC2"
    df = pd.read_csv(io.BytesIO(report_csv(rep)))
    assert df.columns[7] == "uncertain" and df["uncertain"].tolist() == [False, True, False]
    assert rep.table()["uncertain"].tolist() == [False, True, False]
    assert rep.to_dict()["levels"][1]["uncertain"] is True
    fig = build_report_figure(study, rep, study_label="x")
    cells = [c.get_text().get_text() for ax in fig.axes for t in ax.tables for c in t.get_celld().values()]
    assert "MC0 (uncertain)" in cells and cells.count("MC0") == 4  # two predictions, two one-grade sets


def _texts(fig) -> str:
    from matplotlib.text import Text

    text = " ".join(t.get_text() for t in fig.findobj(Text)).replace("\u00a0", " ")
    return " ".join(text.split())  # lines joined: wrapping ignored


def test_prediction_sets_in_csv_table_and_pdf(study):
    rep = with_p_values(make_report(study), [SINGLE, TWO_ALWAYS, TWO_AT_90], coverage=0.9)
    df = pd.read_csv(io.BytesIO(report_csv(rep)), keep_default_na=False)
    assert list(df.columns[7:10]) == ["uncertain", "prediction_set", "set_coverage"]
    assert df["prediction_set"].tolist() == ["MC0", "MC0|MC2", "MC0|MC2"] and (df["set_coverage"] == 0.9).all()
    assert rep.table()["grade set"].tolist() == ["MC0", "MC0 or MC2", "MC0 or MC2"]
    fig = build_report_figure(study, rep, study_label="x")
    table = next(t for ax in fig.axes for t in ax.tables)
    cells = table.get_celld()
    assert cells[(0, 2)].get_text().get_text() == "Grade set"
    assert [cells[(r, 2)].get_text().get_text() for r in (1, 2, 3)] == ["MC0", "MC0 or MC2", "MC0 or MC2"]
    assert [cells[(r, 1)].get_text().get_text() for r in (1, 2, 3)] == ["MC0", "MC0 (uncertain)", "MC0 (uncertain)"]
    text = _texts(fig)
    assert "prediction-set coverage: 90 %" in text and "in the set for about 90 % of levels" in text
    assert "more than one grade in the level's prediction set" in text and "below the model's threshold" not in text
    assert "2 levels have more than one grade in their 90 % prediction set" in text  # the report's note
    # at 80 % the coverage-sensitive level keeps one grade
    low = with_coverage(rep, 0.8)
    df = pd.read_csv(io.BytesIO(report_csv(low)), keep_default_na=False)
    assert df["prediction_set"].tolist() == ["MC0", "MC0|MC2", "MC0"] and (df["set_coverage"] == 0.8).all()


def test_no_calibration_means_empty_set_cells_and_says_so(study):
    rep = make_report(study)  # coverage None: no conformal calibration
    df = pd.read_csv(io.BytesIO(report_csv(rep)), keep_default_na=False)
    assert (df["prediction_set"] == "").all() and (df["set_coverage"] == "").all()
    text = _texts(build_report_figure(study, rep, study_label="x"))
    assert "prediction-set coverage: none (no conformal calibration)" in text
    assert "Grade set: none, these classifier weights carry no conformal calibration" in text


def test_pdf_is_two_pages_with_notice_and_no_patient_name(study):
    import re

    data = build_pdf_report(study, make_report(study), study_label="1a2b3c4d", slice_index=7)
    assert data.startswith(b"%PDF") and len(data) > 10_000
    assert re.findall(rb"/Count (\d+)", data) == [b"2"]  # the report page, then the per-level crops
    subject = re.search(rb"/Subject \((.*?)\)\n", data, re.S).group(1)
    assert subject.decode("utf-16") == NOTICE  # the notice travels in the metadata too
    assert b"PHANTOM" not in data  # the phantom's "patient name" never reaches the report


def test_report_figure_texts(study):
    fig = build_report_figure(study, make_report(study), study_label="1a2b3c4d")
    texts = [t.get_text() for t in fig.texts] + [t.get_text() for ax in fig.axes for t in ax.texts]
    joined = "\n".join(texts)
    assert NOTICE in joined and "1a2b3c4d" in joined and "Z-score" in joined and "threshold: 0.50" in joined
    assert "T1 TSE SAG (synthetic)" in joined and "PHANTOM" not in joined
    cells = [c.get_text().get_text() for ax in fig.axes for t in ax.tables for c in t.get_celld().values()]
    assert "L3-L4" in cells and "0.60" in cells


def test_pdf_without_levels(study):
    data = build_pdf_report(study, make_report(study, 0), study_label="x")
    assert data.startswith(b"%PDF")


def test_pdf_of_single_slice_study():
    from modic_core.datasets.demo import load_demo

    s = load_demo("spider-104")
    data = build_pdf_report(s, make_report(s, 0), study_label="y")
    assert data.startswith(b"%PDF")


def test_csv_escapes_formula_like_text(study):
    rep = make_report(study, 2)
    rep.levels[0] = dataclasses.replace(rep.levels[0], level="=HYPERLINK(\"http://x\")")
    df = pd.read_csv(io.BytesIO(report_csv(rep, study_label="+cmd")), dtype=str)
    assert df.loc[0, "level"] == "'=HYPERLINK(\"http://x\")" and (df["study"] == "'+cmd").all()
    assert df.loc[1, "level"] == "L4-L5" and float(df.loc[0, "confidence"]) == pytest.approx(0.9)


PHI_NAME = "DOE_JOHN_MRN4471"


@pytest.fixture(scope="module")
def phi_named_study(tmp_path_factory):
    """A real SPIDER pair whose files carry a patient's name, as uploads often do."""
    from modic_core.pairing.study import load_study

    folder = tmp_path_factory.mktemp(PHI_NAME)
    fx = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "spider_pair"
    for role in ("t1", "t2"):
        (folder / f"{PHI_NAME}_{role}.mha").write_bytes((fx / f"{role}.mha").read_bytes())
    return load_study(folder / f"{PHI_NAME}_t1.mha", folder / f"{PHI_NAME}_t2.mha")


def test_pdf_and_csv_never_show_file_names(phi_named_study):
    """The PDF names the series neutrally ("T1 series, 1 slice"), never by the uploaded file's name."""
    import zlib

    study = phi_named_study
    rep = make_report(study, 0)
    fig = build_report_figure(study, rep, study_label="1a2b3c4d")
    joined = "\n".join(t.get_text() for t in fig.texts)
    assert "T1 = T1 series, 1 slice;" in joined and "T2 = T2 series, 1 slice" in joined
    assert "DOE_JOHN" not in joined and "MRN4471" not in joined
    pdf = build_pdf_report(study, rep, study_label="1a2b3c4d")
    streams = [zlib.decompress(m) for m in re.findall(rb"stream\r?\n(.*?)endstream", pdf, re.S) if m[:1] == b"x"]
    for blob in [pdf, *streams, report_csv(rep, study_label="1a2b3c4d")]:
        assert b"DOE_JOHN" not in blob and b"MRN4471" not in blob


def _unreliable_report(study):
    from modic_core.pairing.alignment import Alignment

    rep = make_report(study, 3)
    rep.alignment = Alignment(method="header", residual_mm=9.0, discs_matched=1, discs_t1=3, ok=False)
    rep.levels[2] = dataclasses.replace(rep.levels[2], graded=False, prediction="not graded", gradcam=None,
                                        probabilities={c: float("nan") for c in ("MC0", "MC1", "MC2")},
                                        note="T2 does not cover this level (40 % of its region lies in the T2 field of view).")
    rep.warnings = ["T1/T2 NOT aligned. The grades below depend on T2 and are unreliable.",
                    "Some levels are not graded: the T2 series does not cover them."]
    return rep


def test_report_labels_readable_outside_the_images_and_crops_per_level(study):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    rep = _unreliable_report(study)
    pages = report_pages(study, rep, study_label="1a2b3c4d")
    fig = ReportPages(pages)
    texts = list(fig.texts) + [t for ax in fig.axes for t in ax.texts]
    cells = [c.get_text() for ax in fig.axes for t in ax.tables for c in t.get_celld().values()]
    sizes = [t.get_fontsize() for t in texts + cells if t.get_text().strip()]
    assert min(sizes) >= 7.5 and np.median(sizes) >= 8  # was 5.5 pt labels
    # the level labels sit in the column between T1 and T2: never over an image, never over each other
    renderer = FigureCanvasAgg(pages[0]).get_renderer()
    panels = [ax for ax in pages[0].axes if ax.images]
    assert len(panels) == 2
    images = [ax.get_window_extent(renderer) for ax in panels]
    width_cm = [e.width / pages[0].dpi * 2.54 for e in images]
    assert min(width_cm) >= 8.5  # large panels: at least 8.5 cm wide each on A4
    labels = [t for t in pages[0].texts if t.get_text().startswith(("L3-L4", "L4-L5", "L5-L6"))]
    assert [t.get_text() for t in labels] == ["L3-L4\nMC0 0.60", "L4-L5\nMC0 0.60", "L5-L6\nnot graded"]
    boxes = [t.get_window_extent(renderer) for t in labels]
    for bb in boxes:
        assert images[0].x1 <= bb.x0 and bb.x1 <= images[1].x0  # between the panels
    for upper, lower in zip(boxes, boxes[1:]):
        assert lower.y1 <= upper.y0  # top to bottom, apart
    # per level: T1, T2 and Grad-CAM crops
    crops = [ax for ax in fig.axes if ax.get_label().startswith("crop ")]
    assert len(crops) == 3 * len(rep.levels)
    joined = "\n".join(t.get_text() for t in texts)
    assert "ALERT: T1/T2 NOT aligned" in joined and "ALERT: Some levels are not graded" in joined
    assert "T1/T2 alignment: T1/T2 NOT aligned" in joined and "L5-L6 not graded" in joined
    cell_text = [c.get_text().replace("\n", " ") for c in cells]
    assert "not graded" in cell_text and "—" in cell_text and any(c.startswith("T2 does not cover") for c in cell_text)
    assert "T2 does not cover this level (40 % of its region lies in the T2 field of view)." in " ".join(joined.split())


def _render(pdf_bytes: bytes, folder: Path, dpi: int) -> list[np.ndarray]:
    """The PDF's pages rendered by poppler at ``dpi`` (72: one pixel per point, the page at 100 %), as grey arrays."""
    import shutil
    import subprocess

    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (apt: poppler-utils) is not installed")
    from PIL import Image

    pdf = folder / "r.pdf"
    pdf.write_bytes(pdf_bytes)
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(pdf), str(folder / "page")], check=True, timeout=60)
    return [np.asarray(Image.open(p).convert("L")) for p in sorted(folder.glob("page-*.png"))]


def test_rendered_pdf_has_little_white_space(study, tmp_path):
    pages = _render(build_pdf_report(study, _unreliable_report(study), study_label="1a2b3c4d"), tmp_path, 40)
    assert len(pages) == 2  # the first page: header, images, table; the crops start a page of their own
    first = (pages[0] > 245).all(axis=1)
    assert first.mean() < 0.45
    run = 0  # between the blocks of the first page (header, images, table, legend): no gap over 5 % of the page
    gaps = []
    for b in first[: int(0.62 * len(first))]:
        run = run + 1 if b else 0
        gaps.append(run)
    assert max(gaps) < 0.05 * len(first)


def test_crops_are_at_least_3_5_cm_at_100_percent(study, tmp_path):
    """At 72 dpi one pixel is one point: 3.5 cm = 99.2 px. Each crop's place comes from the layout (its axes);
    its size is measured on the rendered page: the extent of non-white pixels inside that place."""
    rep = make_report(study)
    pages = report_pages(study, rep, study_label="1a2b3c4d")
    rendered = _render(build_pdf_report(study, rep, study_label="1a2b3c4d"), tmp_path, 72)
    assert len(rendered) == len(pages) == 2
    need = 3.5 / 2.54 * 72
    found = 0
    for fig, page in zip(pages, rendered):
        h, w = page.shape
        for ax in (a for a in fig.axes if a.get_label().startswith("crop ")):
            x0, y0, x1, y1 = ax.get_position().extents  # figure fractions, y up
            r0, r1 = int((1 - y1) * h) - 3, int(np.ceil((1 - y0) * h)) + 3
            c0, c1 = int(x0 * w) - 3, int(np.ceil(x1 * w)) + 3
            region = page[max(r0, 0):r1, max(c0, 0):c1] < 235
            rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
            assert rows.size and cols.size, ax.get_label()
            assert rows[-1] - rows[0] + 1 >= need and cols[-1] - cols[0] + 1 >= need, (ax.get_label(), rows.size, cols.size)
            found += 1
    assert found == 3 * len(rep.levels)


def test_pdf_table_and_crops_carry_the_call_meaning_and_the_probe(study):
    from modic_core.analysis.signal_probe import BandSignal, LevelSignal
    from modic_core.export.call_text import CallText

    band = BandSignal(1.0, 2.0, 10)
    rep = make_report(study)
    rep.levels[0] = dataclasses.replace(rep.levels[0], signal=LevelSignal(band, band, band, band, 0.52, 1.31, 1.01, None))
    meanings = {"L3-L4": CallText("About 5 in 10 right (CV)", "Of levels called MC0 with this confidence (0.50-0.60), "
                                  "about 5 in 10 were MC0 (cross-validation, n = 92 levels).")}
    fig = build_report_figure(study, rep, study_label="x", meanings=meanings)
    table = next(t for ax in fig.axes for t in ax.tables).get_celld()
    head = [table[(0, c)].get_text().get_text().replace("\n", " ") for c in range(12)]
    assert head[8:11] == ["Call meaning (CV)", "T1 ratio", "T2 ratio"]
    assert table[(1, 8)].get_text().get_text().replace("\n", " ") == "About 5 in 10 right (CV)"
    assert [table[(1, c)].get_text().get_text().replace("\n", " ") for c in (9, 10)] == ["0.52 / 1.01", "1.31 / —"]
    assert table[(2, 8)].get_text().get_text() == "" and table[(2, 9)].get_text().get_text() == "—"
    text = _texts(fig)
    assert "What this call means: Of levels called MC0 with this confidence (0.50-0.60), about 5 in 10 were MC0" in text
    assert "Endplate/centre signal (upper / lower): T1 0.52 / 1.01; T2 1.31 / —" in text


def test_csv_carries_the_call_meaning_sentence(study):
    from modic_core.export.call_text import CALL_COLUMN, CallText

    rep = make_report(study)
    df = pd.read_csv(io.BytesIO(report_csv(rep, meanings={"L4-L5": CallText("About 7 in 10 right (CV)", "Of levels ... 7 in 10.")})),
                     keep_default_na=False)
    assert CALL_COLUMN in df.columns and list(df.columns).index(CALL_COLUMN) == list(df.columns).index("note") + 1
    assert df[CALL_COLUMN].tolist() == ["", "Of levels ... 7 in 10.", ""]
    assert (pd.read_csv(io.BytesIO(report_csv(rep)), keep_default_na=False)[CALL_COLUMN] == "").all()


def corrected_report(study):
    """make_report's levels (L3-L4, L4-L5, L5-L6) renamed by the user, with the naming flagged uncertain."""
    from modic_core.analysis.naming_correction import NameCorrection, Rename, apply_correction

    rep = make_report(study)
    rep.levels[2] = dataclasses.replace(rep.levels[2], level="L5-S1")
    rep.naming_uncertain = True
    rep.warnings = ["Level naming uncertain (a gap between two discs): check the names against the images."]
    return apply_correction(rep, NameCorrection((Rename("L3-L4", "L2-L3"),)))


def test_csv_and_pdf_carry_corrected_names_and_the_correction(study):
    rep = corrected_report(study)
    df = pd.read_csv(io.BytesIO(report_csv(rep, study_label="1a2b3c4d")))
    assert list(df["level"]) == ["L2-L3", "L4-L5", "L5-S1"]
    assert list(df["detected_level"]) == ["L3-L4", "L4-L5", "L5-S1"]
    assert df["names_corrected_by_user"].all() and df["naming_uncertain"].all()
    assert set(df["naming_correction"]) == {"L3-L4 renamed to L2-L3"}
    plain = pd.read_csv(io.BytesIO(report_csv(make_report(study))))
    assert not plain["names_corrected_by_user"].any() and list(plain["detected_level"]) == list(plain["level"])

    fig = build_report_figure(study, rep, study_label="1a2b3c4d")
    texts = "\n".join([t.get_text() for t in fig.texts] + [t.get_text() for ax in fig.axes for t in ax.texts])
    assert "Level names corrected by the user: L3-L4 renamed to L2-L3." in texts.replace("\n", " ")
    assert "Level naming uncertain" in texts
    cells = [c.get_text().get_text() for ax in fig.axes for t in ax.tables for c in t.get_celld().values()]
    assert "L2-L3" in cells and "L3-L4" not in cells
    assert "L2-L3 MC0 0.60" in texts  # the boxes' labels use the corrected name
    plain_texts = "\n".join(t.get_text() for t in build_report_figure(study, make_report(study)).texts)
    assert "corrected by the user" not in plain_texts
