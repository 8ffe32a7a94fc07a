"""Exports of one analysed study: the per-level table as CSV, and a one-page PDF report.

Neither contains patient identifiers: the study is named by its short hashed ID and the
series by neutral labels (:mod:`modic_core.export.labels`: never a file name). Text cells of the
CSV that a spreadsheet would run as a formula are escaped (:mod:`modic_core.io.csv_safe`). The PDF is drawn with matplotlib's object API (no pyplot
state, safe in Streamlit's threads).
"""
from __future__ import annotations

import datetime as _dt
import io
import textwrap
from typing import Any, Sequence

import numpy as np

from modic_core.analysis.report import DISPLAY_COLUMNS
from modic_core.io.csv_safe import escape_frame
from modic_core.export.labels import volume_label
from modic_core.export.style import CLASS_NAMES, NOTICE, NOTICE_LONG, class_color
from modic_core.export.render import Window, compose_rgb, default_slice, slice_heatmap, to_display, window_defaults

__all__ = ["levels_table", "report_csv", "build_pdf_report", "report_figure", "method_label"]


def method_label(name: str) -> str:
    from modic_core.normalization.methods import NORMALIZATIONS

    m = NORMALIZATIONS.get(name)
    return f"{m.label} ({name})" if m else str(name)


def levels_table(report) -> "Any":
    """The per-level table shown in the app: level, confidence, P(MC0), P(MC1), P(MC2), prediction."""
    return report.table()


def report_csv(report, *, study_label: str = "") -> bytes:
    """CSV (UTF-8) of the per-level results with box, slab and the settings used."""
    import pandas as pd

    rows = []
    weights = "; ".join(f"{k}: {v}" for k, v in (report.weights or {}).items())
    for lv in report.levels:
        row = {DISPLAY_COLUMNS.get(k, k): v for k, v in lv.row(digits=4).items()}
        rows.append({
            "study": study_label, **row,
            "normalization": report.normalization,
            "threshold": float(report.threshold),
            "weights": weights,
            "t1_t2_aligned": "" if getattr(report, "alignment", None) is None else bool(report.alignment.ok),
            "naming_uncertain": bool(getattr(report, "naming_uncertain", False)),
        })
    cols = ["study", "level", "confidence", *[f"P({c})" for c in CLASS_NAMES], "prediction",
            "x0", "y0", "x1", "y1", "z0", "z1", "normalization", "threshold", "weights", "note", "t1_t2_aligned", "naming_uncertain"]
    return escape_frame(pd.DataFrame(rows, columns=cols)).to_csv(index=False).encode("utf-8")


def _draw_boxes(ax, levels: Sequence, z: int) -> None:
    from matplotlib.patches import Rectangle

    for lv in levels:
        x0, y0, x1, y1 = (float(v) - 0.5 for v in lv.box)
        on = lv.z_range[0] <= z <= lv.z_range[1]
        color = class_color(lv.prediction)
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=color, linewidth=1.2,
                               linestyle="-" if on else ":"))
        p = lv.probabilities.get(lv.prediction, float("nan"))
        ax.text(x1 + 2, (y0 + y1) / 2, f"{lv.level} {lv.prediction} {p:.2f}", color="black", fontsize=5.5,
                va="center", ha="left", bbox=dict(facecolor=color, edgecolor="none", pad=0.8, alpha=0.9 if on else 0.5))


def build_pdf_report(study, report, **kwargs) -> bytes:
    """One A4 page: T1 and T2 with boxes, T1 with the Grad-CAM overlay, the per-level table,
    the model and normalization used, and the investigational-use notice. Returns PDF bytes.
    Keywords as :func:`report_figure`."""
    fig = report_figure(study, report, **kwargs)
    buf = io.BytesIO()
    fig.savefig(buf, format="pdf", metadata={"Title": "Modic change analysis (research)", "Author": "", "Creator": "modic_core",
                                            "Subject": NOTICE})
    return buf.getvalue()


def report_figure(
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
):
    """The report page as a matplotlib Figure (A4 portrait); see :func:`build_pdf_report`."""
    from matplotlib.figure import Figure

    levels = list(report.levels)
    nz = study.t1.shape[0]
    z = default_slice(nz, levels) if slice_index is None else int(np.clip(slice_index, 0, nz - 1))
    w1 = window_t1 or window_defaults(study.t1.array)
    w2 = window_t2 or window_defaults(study.t2.array)
    t1 = to_display(study.t1.array[z], w1)
    t2 = to_display(study.t2.array[z], w2)
    heat = slice_heatmap(levels, z, t1.shape)
    sy, sx = study.t1.spacing[1], study.t1.spacing[2]
    aspect = sy / sx if sx else 1.0

    fig = Figure(figsize=(8.27, 11.69))
    created = created or _dt.datetime.now()
    fig.text(0.05, 0.965, "Modic change analysis — research report", fontsize=15, weight="bold", va="top")
    fig.text(0.05, 0.937, "\n".join(textwrap.wrap(NOTICE_LONG, 125)), fontsize=7.5, color="#B00020", va="top")
    info = [
        f"Study (hashed ID): {study_label or '—'}",
        f"Series: T1 = {volume_label(study.t1, 'T1')};  T2 = {volume_label(study.t2, 'T2')}",
        f"Grid: {nz} slice(s) of {study.t1.shape[2]}x{study.t1.shape[1]} pixels, "
        f"{study.t1.spacing[2]:.3g} x {study.t1.spacing[1]:.3g} mm, slice {study.t1.spacing[0]:.3g} mm; shown: slice {z + 1} of {nz}",
        f"Normalization: {method_label(report.normalization)};  detector confidence threshold: {float(report.threshold):.2f};  "
        f"device: {device or report.device}",
        "Models: " + ("; ".join(f"{k}: {v}" for k, v in (report.weights or {}).items()) or "—"),
        f"Created: {created:%Y-%m-%d %H:%M}",
    ]
    fig.text(0.05, 0.905, "\n".join(info), fontsize=7.5, va="top", linespacing=1.5)

    titles = ["T1 with detected levels", "T2 (on the T1 grid)", "T1 + Grad-CAM of the predicted class"]
    images = [np.repeat(t1[..., None], 3, -1), np.repeat(t2[..., None], 3, -1), compose_rgb(t1, heat, heatmap_opacity)]
    for k, (title, img) in enumerate(zip(titles, images)):
        ax = fig.add_axes([0.04 + k * 0.31, 0.45, 0.29, 0.36])
        ax.imshow(img, aspect=aspect, interpolation="nearest")
        if k < 2:
            _draw_boxes(ax, levels, z)
        ax.set_title(title, fontsize=8)
        ax.set_axis_off()
    if heat is None:
        fig.text(0.04 + 2 * 0.31 + 0.145, 0.445, "no heat map on this slice", fontsize=6.5, ha="center", va="top", color="#555555")

    ax = fig.add_axes([0.05, 0.13, 0.9, 0.29])
    ax.set_axis_off()
    if levels:
        header = ["Level", "Confidence", "P(MC0)", "P(MC1)", "P(MC2)", "Prediction"]
        cells = [[r["level"], f"{r['score']:.2f}", *[f"{r[f'p_{c.lower()}']:.2f}" for c in CLASS_NAMES], r["prediction"]]
                 for r in (lv.row(digits=2) for lv in levels)]
        table = ax.table(cellText=cells, colLabels=header, loc="upper center", cellLoc="center")
        table.auto_set_font_size(False)
        table.set_fontsize(8)
        table.scale(1.0, 1.25)
        for r, lv in enumerate(levels, start=1):
            table[r, 5].set_facecolor(class_color(lv.prediction))
    else:
        ax.text(0.5, 0.9, f"No intervertebral level above the confidence threshold ({float(report.threshold):.2f}).",
                ha="center", va="top", fontsize=9)
    legend = "Classes: MC0 = no Modic change; MC1 = Modic type 1; MC2 = Modic type 2. MC3 is not classified."
    fig.text(0.05, 0.105, legend, fontsize=7, va="top")
    warnings = list(getattr(report, "warnings", []) or [])
    if warnings:
        text = "Warnings: " + " ".join(str(w) for w in warnings[:4])
        fig.text(0.05, 0.125, "\n".join(textwrap.wrap(text, 125)[:4]), fontsize=7, va="top",
                 color="#B00020" if not getattr(report, "reliable", True) else "#8a5a00")
    if report.notes:
        notes = "Notes: " + " ".join(str(n) for n in report.notes[:3])
        fig.text(0.05, 0.088, "\n".join(textwrap.wrap(notes, 140)[:3]), fontsize=6.5, va="top")
    fig.text(0.5, 0.03, NOTICE, fontsize=10, color="#B00020", ha="center", weight="bold")
    return fig
