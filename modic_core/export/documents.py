"""Exports of one analysed study: the per-level table as CSV, and a PDF report to file beside the images.

Neither contains patient identifiers: the study is named by its short hashed ID and the
series by neutral labels (:mod:`modic_core.export.labels`: never a file name). Text cells of the
CSV that a spreadsheet would run as a formula are escaped (:mod:`modic_core.io.csv_safe`). The PDF is drawn with matplotlib's object API (no pyplot
state, safe in Streamlit's threads).

The PDF (A4 portrait, usually two pages, body text >= 8 pt, the disclaimer and "page k of n" on each): page 1 has
the header with the study, series, settings and the T1/T2 alignment check with every key of its record; the
report's warnings (red when the grades are unreliable, as on screen); large T1 and T2 panels of the shown slice
(>= 8.5 cm wide each) with the levels' boxes, their labels in a column between the panels with leader lines (never
on the anatomy); the per-level table (level, prediction or "not graded", probabilities, confidence, slab, what the
call means on cross-validation, the signal probe's endplate/centre ratios, note). The next page(s): per level its
T1, T2 and Grad-CAM crops (3.8 cm square) on the slab's centre slice, with its grade, grade set and the sentence.
Text from files (the series description) arrives plain and capped (:mod:`modic_core.text`); every text is drawn
without math or TeX parsing, wrapped, and cut to a few lines.
"""
from __future__ import annotations

import datetime as _dt
import functools
import io
import textwrap
from typing import Any, Mapping, Sequence

import numpy as np

from modic_core.analysis.report import DISPLAY_COLUMNS, UNCERTAIN_TEXT
from modic_core.analysis.sets import coverage_label
from modic_core.analysis.signal_probe import SIGNAL_COLUMNS, signal_columns
from modic_core.classification.conformal import set_label
from modic_core.io.csv_safe import escape_frame
from modic_core.export.call_text import CALL_COLUMN, CallText, call_cell
from modic_core.export.fields import alignment_columns, alignment_fields, alignment_record, report_fields, set_coverage
from modic_core.export.labels import volume_label
from modic_core.export.panels import draw_pair, pair_height
from modic_core.export.style import CLASS_NAMES, NOTICE, NOTICE_LONG, class_color
from modic_core.export.render import (
    Window,
    compose_rgb,
    crop,
    crop_bounds,
    default_slice,
    slice_heatmap,
    to_display,
    window_defaults,
)
from modic_core.normalization.methods import NORMALIZATIONS

__all__ = ["PDF_FAILED", "levels_table", "report_csv", "build_pdf_report", "error_pdf", "report_pages", "method_label", "LABEL_COLUMN", "CROP_SIDE"]


def method_label(name: str) -> str:
    m = NORMALIZATIONS.get(name)
    return f"{m.label} ({name})" if m else str(name)


def levels_table(report) -> "Any":
    """The per-level table shown in the app: level, confidence, P(MC0), P(MC1), P(MC2), prediction."""
    return report.table()


def report_csv(report, *, study_label: str = "", meanings: Mapping[str, CallText] | None = None) -> bytes:
    """CSV (UTF-8) of the per-level results with box, slab and the settings used.

    Every row carries the report's warnings and its alignment record (:func:`modic_core.export.fields.report_fields`:
    ``warnings``, ``t1_t2_aligned``, ``alignment_<key>``). A report without levels gives the header only.
    ``prediction_set`` (``"MC0|MC2"``) and ``set_coverage`` as :mod:`modic_core.export.fields` describes them.

    ``level`` is the name shown (corrected by the user, if they did); ``detected_level`` the
    detector's name; ``names_corrected_by_user`` / ``naming_correction`` record the correction.
    The Modic signal probe's :data:`~modic_core.analysis.signal_probe.SIGNAL_COLUMNS` close each row: mean marrow
    signal beside each endplate and at the vertebra's centre in the normalization's units, and the endplate /
    centre ratios; empty cells where a level has no probe (not graded) or a band fell outside the image.
    ``call_meaning`` (after ``note``): what the call means on the method's cross-validation, the sentence of
    ``meanings`` ({level: :class:`~modic_core.export.call_text.CallText`}); empty for a level without one."""
    import pandas as pd  # lazy: pandas is heavy; only the table path needs it

    rows = []
    weights = "; ".join(f"{k}: {v}" for k, v in (report.weights or {}).items())
    fields = report_fields(report)  # warnings, t1_t2_aligned, alignment_<key> (modic_core.export.fields)
    for lv in report.levels:
        row = {DISPLAY_COLUMNS.get(k, k): v for k, v in lv.row(digits=4).items()}
        rows.append({
            "study": study_label, **row,
            "normalization": report.normalization,
            "threshold": float(report.threshold),
            "set_coverage": set_coverage(report),
            "weights": weights,
            **fields,
            "naming_uncertain": bool(getattr(report, "naming_uncertain", False)),
            "names_corrected_by_user": bool(getattr(report, "names_corrected_by_user", False)),
            "naming_correction": getattr(report, "naming_correction", ""),
            "detected_level": lv.detected_level or lv.level,
            CALL_COLUMN: call_cell(meanings, lv.level, short=False),
            **signal_columns(getattr(lv, "signal", None)),
        })
    cols = ["study", "level", "confidence", *[f"P({c})" for c in CLASS_NAMES], "prediction", "uncertain", "prediction_set", "set_coverage",
            "x0", "y0", "x1", "y1", "z0", "z1", "normalization", "threshold", "weights", "note", CALL_COLUMN, "t1_t2_aligned", "naming_uncertain",
            "names_corrected_by_user", "naming_correction", "detected_level", "warnings",
            *alignment_columns(alignment_record(report)), *SIGNAL_COLUMNS]
    return escape_frame(pd.DataFrame(rows, columns=cols)).to_csv(index=False).encode("utf-8")



_RED, _AMBER, _GREY = "#B00020", "#8A5A00", "#555555"
#: What the page and the PDF download say when the report could not be built.
PDF_FAILED = ("The PDF report of this study could not be built. Nothing was changed; please try again, or use the "
              "CSV download. (The details were logged without any patient data.)")
_BODY = 8.5  # pt, body text of the page (the issue asked for >= 8 pt)
_PAGE_W, _PAGE_H, _MARGIN = 8.27, 11.69, 0.4  # inches
_FOOTER = 0.5  # inches kept free at the bottom of each page for the notice and the page number
#: Width (inches) of the column between the T1 and T2 panels that holds the level labels.
LABEL_COLUMN = 0.75
#: Side (inches) of each per-level crop: 1.5 in = 3.8 cm, read at 100 %.
CROP_SIDE = 1.5
_CROP_GAP = 0.08
_ROW_GAP = 0.14


class _Page:
    """A top-down cursor on a matplotlib Figure, in inches."""

    def __init__(self, fig) -> None:
        self.fig, self.y = fig, _MARGIN

    def text(self, text: str, *, size: float = _BODY, width_chars: int | None = None, color: str = "black",
             weight: str = "normal", gap: float = 0.06, x: float = _MARGIN, max_lines: int | None = None,
             width: float | None = None) -> None:
        if width_chars is None:  # DejaVu Sans: about 0.53 em per character on average, 0.6 em in bold
            em = size / 72 * (0.6 if weight == "bold" else 0.53)
            width_chars = int(((_PAGE_W - x - _MARGIN) if width is None else width) / em)
        lines = _wrap(text, width_chars, max_lines)
        self.fig.text(x / _PAGE_W, 1 - self.y / _PAGE_H, "\n".join(lines), fontsize=size, color=color, weight=weight,
                      va="top", ha="left", linespacing=1.3, parse_math=False, usetex=False)
        self.y += _text_height(len(lines), size) + gap

    def axes(self, x: float, w: float, h: float, *, y: float | None = None):
        top = self.y if y is None else y
        return self.fig.add_axes([x / _PAGE_W, 1 - (top + h) / _PAGE_H, w / _PAGE_W, h / _PAGE_H])

    @property
    def left(self) -> float:
        return _PAGE_H - _FOOTER - self.y


def _wrap(text: str, width_chars: int, max_lines: int | None = None) -> list[str]:
    lines = [w for para in str(text).split("\n") for w in (textwrap.wrap(para, width_chars) or [""])]
    if max_lines is not None and len(lines) > max_lines:
        lines = lines[: max_lines - 1] + [lines[max_lines - 1][: width_chars - 1] + "…"]
    return lines


def _text_height(n_lines: int, size: float) -> float:
    return n_lines * size * 1.3 / 72


class _Document:
    """The report's pages (A4 portrait Figures): blocks are placed top-down and a block that does not fit
    the rest of a page starts the next one."""

    def __init__(self) -> None:
        self.pages: list[_Page] = []
        self.new_page()

    def new_page(self) -> _Page:
        from matplotlib.figure import Figure  # lazy: matplotlib is heavy; only the PDF figures need it

        self.pages.append(_Page(Figure(figsize=(_PAGE_W, _PAGE_H))))
        return self.pages[-1]

    @property
    def page(self) -> _Page:
        return self.pages[-1]

    def room(self, height: float) -> _Page:
        """The page to draw a block ``height`` inches tall on (a new one when it does not fit; never for a block
        taller than a whole page)."""
        if self.page.left < height and self.page.y > _MARGIN + 0.01:
            return self.new_page()
        return self.page


def _label(lv) -> str:
    if not getattr(lv, "graded", True):
        return f"{lv.level} not graded"
    p = lv.probabilities.get(lv.prediction, float("nan"))
    return f"{lv.level} {lv.prediction} {p:.2f}"


def _ratios(signal, seq: str) -> str:
    """"0.52 / 1.01": the level's upper / lower endplate-to-centre ratio on ``seq`` ("—" where there is none)."""
    if signal is None:
        return "—"
    vals = [getattr(signal, f"{side}_ratio_{seq}") for side in ("upper", "lower")]
    return " / ".join("—" if v is None else f"{float(v):.2f}" for v in vals)


def _crop_rows(doc: _Document, study, levels: Sequence, w1: Window, w2: Window, opacity: float,
               meanings: Mapping[str, CallText] | None) -> None:
    """Per level a row: T1, T2 and T1 + Grad-CAM crops (:data:`CROP_SIDE` square) on the slab's centre slice with
    the box outlined, and beside them the level's grade, what the call means and its signal-probe ratios."""
    from matplotlib.patches import Rectangle  # lazy: matplotlib is heavy; only the PDF figures need it

    ny, nx = study.t1.shape[1:]
    sy, sx = study.t1.spacing[1], study.t1.spacing[2]
    aspect = sy / sx if sx else 1.0
    text_x = _MARGIN + 3 * CROP_SIDE + 3 * _CROP_GAP + 0.05
    text_w = _PAGE_W - _MARGIN - text_x
    head_h = 0.2
    title = ("Per level: T1, T2 and Grad-CAM (the predicted class's evidence, a rough guide, not a segmentation) on "
             "the slab's centre slice; the level's box outlined")
    title_h = _text_height(len(_wrap(title, int((_PAGE_W - 2 * _MARGIN) / (_BODY / 72 * 0.6)))), _BODY) + 0.04
    section_page = None
    for lv in levels:
        page = doc.room(CROP_SIDE + head_h + (title_h if section_page is None else 0.0))
        if page is not section_page:  # the section's title once, the column heads on every page it uses
            if section_page is None:
                page.text(title, weight="bold", gap=0.04)
            for k, name in enumerate(("T1", "T2", f"Grad-CAM over T1 (opacity {max(opacity, 0.5):.2f})")):
                page.fig.text((_MARGIN + k * (CROP_SIDE + _CROP_GAP)) / _PAGE_W, 1 - page.y / _PAGE_H, name, fontsize=8,
                              va="top", ha="left", color=_GREY)
            page.y += head_h
            section_page = page
        zc = int(np.clip(round((lv.z_range[0] + lv.z_range[1]) / 2), 0, study.t1.shape[0] - 1))
        b = crop_bounds(lv.box, (ny, nx), margin=0.8, min_size=40)
        g1 = to_display(study.t1.array[zc], w1)
        g2 = to_display(study.t2.array[zc], w2)
        heat = slice_heatmap([lv], zc, (ny, nx))
        imgs = [compose_rgb(crop(g1, b)), compose_rgb(crop(g2, b)),
                compose_rgb(crop(g1, b), None if heat is None else crop(heat, b), max(opacity, 0.5))]
        color = class_color(lv.prediction)
        top = page.y
        for k, img in enumerate(imgs):
            ax = page.axes(_MARGIN + k * (CROP_SIDE + _CROP_GAP), CROP_SIDE, CROP_SIDE, y=top)
            ax.set_label(f"crop {lv.level} {('T1', 'T2', 'Grad-CAM')[k]}")
            ax.imshow(img, aspect=aspect, interpolation="nearest")
            x0, y0, x1, y1 = (float(v) for v in lv.box)
            ax.add_patch(Rectangle((x0 - b[2] - 0.5, y0 - b[0] - 0.5), x1 - x0, y1 - y0, fill=False, edgecolor=color, linewidth=1.0))
            ax.set_xticks([])
            ax.set_yticks([])
            if k == 2 and heat is None:
                ax.text(0.5, 0.5, "no Grad-CAM" if lv.graded else "not graded", transform=ax.transAxes, ha="center",
                        va="center", fontsize=8, color="white", bbox=dict(facecolor="black", alpha=0.6, edgecolor="none"))
        page.fig.text(text_x / _PAGE_W, 1 - top / _PAGE_H, _label(lv), fontsize=9, va="top", ha="left", weight="bold",
                      bbox=dict(facecolor=color, edgecolor="none", pad=1.5))
        page.y = top + 0.26
        grade_set = set_label(getattr(lv, "prediction_set", ()))
        lines = []
        if grade_set:
            lines.append(f"Grade set: {grade_set}" + (" (uncertain)" if getattr(lv, "uncertain", False) else ""))
        sentence = call_cell(meanings, lv.level, short=False) if lv.graded else ""
        if sentence:
            lines.append(f"What this call means: {sentence}")
        signal = getattr(lv, "signal", None)
        if signal is not None:
            lines.append(f"Endplate/centre signal (upper / lower): T1 {_ratios(signal, 't1')}; T2 {_ratios(signal, 't2')}")
        lines.append(f"Slab: slices {lv.z_range[0] + 1}–{lv.z_range[1] + 1}; shown: slice {zc + 1}")
        if lv.note:
            lines.append(str(lv.note))
        page.text("\n".join(lines), size=8, x=text_x, width=text_w, max_lines=9, gap=0.0)
        page.y = top + CROP_SIDE + _ROW_GAP


@functools.lru_cache(maxsize=1)
def error_pdf() -> bytes:
    """A one-page PDF that says the report could not be built: what a PDF download holds when building
    the report failed (never an empty file). Fixed text only, so it cannot fail the same way."""
    from matplotlib.figure import Figure  # lazy: matplotlib is heavy; only the PDF figures need it

    fig = Figure(figsize=(_PAGE_W, _PAGE_H))
    page = _Page(fig)
    page.text("Modic change analysis — the report could not be built", size=14, weight="bold", gap=0.1)
    page.text(PDF_FAILED, color=_RED)
    buf = io.BytesIO()
    fig.savefig(buf, format="pdf", metadata={"Title": "Modic change analysis: report not built", "Author": "",
                                            "Creator": "modic_core", "Subject": NOTICE})
    return buf.getvalue()


def build_pdf_report(study, report, **kwargs) -> bytes:
    """The report (see the module docstring) as PDF bytes, one page per Figure of :func:`report_pages` (keywords as there)."""
    from matplotlib.backends.backend_pdf import PdfPages  # lazy: matplotlib is heavy; only the PDF needs it

    buf = io.BytesIO()
    with PdfPages(buf, metadata={"Title": "Modic change analysis (research)", "Author": "", "Creator": "modic_core",
                                 "Subject": NOTICE}) as pdf:
        for fig in report_pages(study, report, **kwargs):
            pdf.savefig(fig)
    return buf.getvalue()


def report_pages(
    study,
    report,
    *,
    study_label: str = "",
    slice_index: int | None = None,
    window_t1: Window | None = None,
    window_t2: Window | None = None,
    heatmap_opacity: float = 0.5,
    device: str | None = None,
    created: _dt.datetime | None = None,
    meanings: Mapping[str, CallText] | None = None,
) -> list:
    """The report's pages as matplotlib Figures (A4 portrait, usually two); see the module docstring.

    ``meanings``: {level: :class:`~modic_core.export.call_text.CallText`}, what each call means on the method's
    cross-validation (the table's short cell, the sentence beside the level's crops); omitted: empty cells."""
    levels = list(report.levels)
    nz = study.t1.shape[0]
    z = default_slice(nz, levels) if slice_index is None else int(np.clip(slice_index, 0, nz - 1))
    w1 = window_t1 or window_defaults(study.t1.array)
    w2 = window_t2 or window_defaults(study.t2.array)

    doc = _Document()
    page = doc.page
    created = created or _dt.datetime.now()
    page.text("Modic change analysis — research report", size=14, weight="bold", gap=0.04)
    page.text(NOTICE_LONG, size=_BODY, color=_RED, gap=0.08)
    alignment = getattr(report, "alignment", None)
    info = [
        f"Study (hashed ID): {study_label or '—'}    Created: {created:%Y-%m-%d %H:%M}",
        f"Series: T1 = {volume_label(study.t1, 'T1')};  T2 = {volume_label(study.t2, 'T2')}",
        f"Grid: {nz} slice(s) of {study.t1.shape[2]}x{study.t1.shape[1]} pixels, {study.t1.spacing[2]:.3g} x "
        f"{study.t1.spacing[1]:.3g} mm, slice {study.t1.spacing[0]:.3g} mm",
        f"Normalization: {method_label(report.normalization)};  detector confidence threshold: {float(report.threshold):.2f};  "
        f"prediction-set coverage: {_coverage_text(report)};  device: {device or report.device}",
        "Models: " + ("; ".join(f"{k}: {v}" for k, v in (report.weights or {}).items()) or "—"),
    ]
    if alignment is not None:
        info.append(f"T1/T2 alignment: {alignment.sentence()}")
    page.text("\n".join(info), gap=0.03 if alignment is not None else 0.08)
    if alignment is not None:  # every key of the record, as the CSV's alignment_<key> columns
        record = alignment_fields(alignment_record(report))
        page.text("Alignment record: " + "; ".join(f"{k.removeprefix('alignment_')}={v}" for k, v in record.items()),
                  size=8, color=_GREY, max_lines=3, gap=0.08)
    if getattr(report, "naming_note", ""):
        page.text(report.naming_note, weight="bold", max_lines=2, gap=0.05)
    reliable = bool(getattr(report, "reliable", True))
    warnings = list(getattr(report, "warnings", []) or [])
    if getattr(report, "naming_uncertain", False) and not any("naming uncertain" in str(w).lower() for w in warnings):
        warnings.append("Level naming uncertain: check the level names against the images.")
    for sentence in warnings:
        page.text(("ALERT: " if not reliable else "Warning: ") + str(sentence), color=_RED if not reliable else _AMBER,
                  weight="bold" if not reliable else "normal", max_lines=3, gap=0.03)

    # -- T1 and T2 of the shown slice, large, the level labels in a column between them
    page.y += 0.08
    ny, nx = study.t1.shape[1:]
    panel_w = (_PAGE_W - 2 * _MARGIN - LABEL_COLUMN) / 2
    legend_h = 0.3
    room = page.left - legend_h - 0.3
    panel_h = pair_height((ny, nx), (float(study.t1.spacing[1]), float(study.t1.spacing[2])), panel_w)
    if panel_h > room:  # a very tall image: narrower panels, so that the pair stays on the first page
        panel_w *= room / panel_h
    pair = draw_pair(page.fig, study=study, levels=levels, z=z, window_t1=w1, window_t2=w2, heat_opacity=heatmap_opacity,
                     left=_MARGIN + (_PAGE_W - 2 * _MARGIN - 2 * panel_w - LABEL_COLUMN) / 2, top=page.y, panel_w=panel_w,
                     label_w=LABEL_COLUMN, titles=(f"T1 with detected levels (slice {z + 1} of {nz})",
                                                   "T2 on the T1 grid (same slice)"))
    page.y += pair.height + 0.06
    page.text("Solid box: the level's slab contains this slice; dotted: it lies on other slices. Label: level, "
              "predicted class and its probability." + (f" Grad-CAM shown at opacity {heatmap_opacity:.2f}."
                                                        if heatmap_opacity > 0 else ""), size=8, color=_GREY, gap=0.1)

    # -- per-level table
    if levels:
        header = ["Level", "Prediction", "Grade set", "P(MC0)", "P(MC1)", "P(MC2)", "Det. conf.", "Slices",
                  "Call meaning (CV)", "T1 ratio", "T2 ratio", "Note"]
        widths = [0.075, 0.125, 0.095, 0.065, 0.065, 0.065, 0.065, 0.055, 0.135, 0.08, 0.08, 0.095]
        chars = [max(6, int(w * (_PAGE_W - 2 * _MARGIN) / (8 / 72 * 0.55))) for w in widths]
        cells = []
        for lv, r in ((lv, lv.row(digits=2)) for lv in levels):
            probs = [f"{r[f'p_{c.lower()}']:.2f}" if lv.graded else "—" for c in CLASS_NAMES]
            note = "\n".join(textwrap.wrap(textwrap.shorten(str(r["note"] or ""), 2 * chars[11] - 2, placeholder="…"), chars[11])[:2])
            meaning = "\n".join(textwrap.wrap(call_cell(meanings, lv.level), chars[8])[:2]) if lv.graded else ""
            signal = getattr(lv, "signal", None)
            cells.append([r["level"], r["prediction"] + (" (uncertain)" if r.get("uncertain") else ""),
                          set_label(lv.prediction_set) or "—", *probs, f"{r['score']:.2f}", f"{r['z0'] + 1}–{r['z1'] + 1}",
                          meaning, _ratios(signal, "t1").replace(" / ", " /\n"), _ratios(signal, "t2").replace(" / ", " /\n"), note])  # upper over lower: fits the column
        row_h = 0.3
        page = doc.room(row_h * (len(cells) + 1) + 0.6)
        ax = page.axes(_MARGIN, _PAGE_W - 2 * _MARGIN, row_h * (len(cells) + 1))
        ax.set_axis_off()
        table = ax.table(cellText=cells, colLabels=header, loc="upper center", cellLoc="center", bbox=[0, 0, 1, 1],
                         colWidths=widths)
        table.auto_set_font_size(False)
        table.set_fontsize(8)
        for (r, c), cell in table.get_celld().items():
            cell.set_linewidth(0.4)
            if r == 0:
                cell.set_text_props(weight="bold")
                cell.set_facecolor("#EEEEEE")
                if len(header[c]) > chars[c]:
                    cell.get_text().set_text(header[c].replace(" ", "\n", 1))
            elif c == 1:
                cell.set_facecolor(class_color(levels[r - 1].prediction))
        page.y += row_h * (len(cells) + 1) + 0.06
        page.text("Classes: MC0 = no Modic change; MC1 = Modic type 1; MC2 = Modic type 2 (MC3 is not classified). "
                  "Probabilities are the model's softmax outputs, temperature-scaled on cross-validation (model card); they are not "
                  "risks. " + _set_legend(report) + " Call meaning (CV): how often cross-validation levels called this grade "
                  "with about this probability truly had it (the method's own out-of-fold figures). T1 / T2 ratio "
                  "(signal probe), upper / lower: mean marrow signal beside the disc's upper / lower endplate divided by "
                  "the same vertebra's central marrow (1.00 = no difference; a research measurement, read it beside the "
                  "images).", size=8, color=_GREY, gap=0.05)
    else:
        page.text(f"No intervertebral level above the confidence threshold ({float(report.threshold):.2f}).", gap=0.08)
    for n in list(report.notes or [])[:3]:
        page.text("Note: " + str(n), size=8, gap=0.03, max_lines=2)

    # -- per-level crops, beside each the level's numbers and what its call means
    if levels:
        doc.page.y += 0.1
        _crop_rows(doc, study, levels, w1, w2, heatmap_opacity, meanings)
    n = len(doc.pages)
    for k, p in enumerate(doc.pages, start=1):
        p.fig.text(0.5, (_FOOTER - 0.18) / _PAGE_H, NOTICE, fontsize=10, color=_RED, ha="center", weight="bold")
        p.fig.text(1 - _MARGIN / _PAGE_W, (_FOOTER - 0.36) / _PAGE_H, f"Study {study_label or '—'} · page {k} of {n}",
                   fontsize=8, color=_GREY, ha="right")
        _plain_artists(p.fig)
    return [p.fig for p in doc.pages]


def _coverage_text(report) -> str:
    cov = getattr(report, "coverage", None)
    return "none (no conformal calibration)" if cov is None else coverage_label(cov)


def _set_legend(report) -> str:
    """The PDF table's legend of the "Grade set" column and of "(uncertain)"."""
    cov = getattr(report, "coverage", None)
    if cov is None:
        return ("Grade set: none, these classifier weights carry no conformal calibration (model card); no level is "
                "marked uncertain.")
    return (f"Grade set: the grades the model cannot rule out; the true grade is in the set for about {coverage_label(cov)} of levels "
            f"(measured on cross-validation; model card). \"(uncertain)\": {UNCERTAIN_TEXT.split(': ', 1)[1]}.")


def _plain_artists(fig) -> None:
    """Every text of the page drawn as given: no mathtext (``$5 and $6`` stays, ``$x_{$`` cannot
    fail the PDF), no TeX, whatever ``rcParams`` say (panel labels and table cells included)."""
    from matplotlib.text import Text  # lazy: matplotlib is heavy; only the PDF figures need it

    texts = list(fig.findobj(Text))
    texts += [c.get_text() for ax in fig.axes for t in ax.tables for c in t.get_celld().values()]
    for t in texts:
        t.set_parse_math(False)
        t.set_usetex(False)
