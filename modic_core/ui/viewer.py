"""The case viewer's image area: the picture, the level table, the checkerboard and the focus crops.

The picture is a local component (:func:`modic_core.ui.figure.case_figure`): one plotly.js figure
that stays alive in the browser. Each series' voxels are sent to it once per study as 16-bit codes
(:func:`modic_core.ui.runtime.series_codes`; the browser reports which series it holds), and each
level's Grad-CAM as small patches (:func:`~modic_core.ui.runtime.level_heat`, encoded once per
map). Slice, window/level (presets, sliders, dragging), Boxes, Grad-CAM and opacity act in the
browser without a server round trip; the view comes back (``cv_state_<fp>``) once the input
rests. It is not a Streamlit fragment: the picture reports its view by itself (after loading,
after an input rests), and a fragment rerun queued behind a full run that removes the viewer (the
user chooses Upload) would write at positions the new page no longer has and blank the page
("Bad delta path index"); a full rerun reads the cached analysis and never races.

What is on screen (slice, windows, opacity) is kept in a per-study dict (:func:`view_state`) that
the page's PDF download reads when it is clicked.
"""
from __future__ import annotations

from typing import Any

import streamlit as st

from modic_core.export.render import (
    HEAT_SCALE,
    Window,
    box_on_slice,
    crop,
    crop_bounds,
    default_slice,
    focus_figure,
    level_color,
    orientation_letters,
    slice_heatmap,
    slice_lr_label,
    slice_positions_mm,
    to_display,
    viewer_figure,
    window_preset_help,
    window_presets,
    window_slider_range,
)
from modic_core.analysis.report import TABLE_COLUMNS, UNCERTAIN_TEXT
from modic_core.analysis.sets import NO_SETS_NOTE, coverage_label, is_set_note
from modic_core.classification.conformal import set_label
from modic_core.export.call_text import call_cell
from modic_core.export.style import CLASS_DESCRIPTIONS, class_color
from modic_core.ui import runtime as rt
from modic_core.ui.figure import case_figure
from modic_core.ui.crossref import t2_overlay
from modic_core.ui.call_meaning import call_sentence, call_texts
from modic_core.ui.probe import PROBE_COLUMNS, PROBE_HELP, probe_cells, probe_roi, roi_spec
from modic_core.export.alignment_view import checkerboard

__all__ = ["NONE", "view_state", "viewer", "window_info"]

NONE = "—"


def view_state(fp: str) -> dict[str, Any]:
    """The per-study dict of what is on screen: z, win_t1, win_t2, opacity (filled by the viewer)."""
    return st.session_state.setdefault(f"cv_view_{fp}", {"z": 0, "win_t1": None, "win_t2": None, "opacity": 0.45})


@st.cache_data(max_entries=64, show_spinner=False)
def window_info(key: tuple, series: str, _array, scanner: tuple[float, float] | None = None
                ) -> tuple[tuple[float, float, float], dict[str, Window]]:
    """(slider min, max, step) and the named windows of one series (computed once per series); ``scanner``:
    the series' DICOM (WindowCenter, WindowWidth) or None."""
    return window_slider_range(_array), window_presets(_array, series=series, scanner=scanner)


def _scanner_window(vol) -> tuple[float, float] | None:
    """The series' own DICOM window (centre, width) from its meta, or None."""
    c, w = getattr(vol.meta, "window_center", None), getattr(vol.meta, "window_width", None)
    return None if c is None or w is None else (float(c), float(w))


def _windows_spec(info: dict[str, tuple]) -> dict[str, dict]:
    """Per series: the data range and step of its window controls, its named windows (original units) and
    ``named``: the preset buttons in order ({"key", "help"}; figure_static/wl.js draws them)."""
    out = {}
    for name, (rng, presets) in info.items():
        helps = window_preset_help(name)
        out[name] = {"min": rng[0], "max": rng[1], "step": rng[2],
                     "presets": {k: [float(w.low), float(w.high)] for k, w in presets.items()},
                     "named": [{"key": k, "help": helps.get(k, k)} for k in presets if k != "default"]}
    return out


def _window_of(value, fallback: Window) -> Window:
    """A window reported by the browser ([low, high], low < high), else ``fallback``."""
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        return fallback
    return Window(lo, hi) if hi > lo and abs(lo) < 1e12 and abs(hi) < 1e12 else fallback


def viewer(study, levels: list, *, fp: str, report, view_only: bool, placed: bool, normalization: str,
           threshold: float, truth: dict[str, str] | None = None) -> dict[str, Any]:
    """Controls, the linked T1/T2 figure, the level list, the checkerboard, the table and the focus crops."""
    view = view_state(fp)
    nz, ny, nx = study.t1.shape
    graded = report is not None
    series = [("T1", study.t1, (fp, "t1"))] + ([] if view_only else [("T2", study.t2, (fp, "t2", placed))])
    info = {name: window_info(key, name, vol.array, _scanner_window(vol)) for name, vol, key in series}

    # the picture: each series' voxels go to the browser once per study (16-bit codes, sent again only when the
    # browser reports it lacks them in "have"); slice, window/level, boxes, Grad-CAM and opacity act in the browser
    fig_key = f"cv_fig_{fp}"
    last = st.session_state.get(fig_key) or {}  # what the browser last reported
    have = set(last.get("have") or [])

    focus_key = f"cv_focus_{fp}"
    names = [lv.level for lv in levels]
    clicks = int(last.get("focus_n", 0) or 0)
    if clicks != st.session_state.get(f"cv_focus_n_{fp}", 0):  # a row of the picture's table was clicked
        st.session_state[f"cv_focus_n_{fp}"] = clicks
        st.session_state[focus_key] = last.get("focus") if last.get("focus") in names else NONE
    if st.session_state.get(focus_key, NONE) not in [NONE, *names]:
        st.session_state[focus_key] = NONE
    focused = st.session_state.get(focus_key, NONE)
    keys = {"T1": f"{fp}:T1", "T2": f"{fp}:T2:{placed}"}
    codes = {name: None if keys[name] in have else rt.series_codes(key, vol.array) for name, vol, key in series}
    start = {"z": default_slice(nz, levels), "opacity": 0.45, "boxes": True, "cam": True,
             "win": {name: [float(info[name][1]["default"].low), float(info[name][1]["default"].high)] for name in info}}
    shown = st.session_state.get(f"cv_state_{fp}", start)
    blank = "data:image/png;base64,"  # the browser draws each slice itself
    fig = viewer_figure(t1=blank, t2=None if view_only else blank, shape_yx=(ny, nx), levels=levels,
                        z=shown["z"], heat=blank if graded else None, opacity=max(float(shown["opacity"]), 0.05),
                        spacing_yx=(study.t1.spacing[1], study.t1.spacing[2]), show_boxes=True,
                        highlight=None if focused == NONE else focused, letters=orientation_letters(study.t1.direction),
                        titles=("T1" if not view_only else "Series", "T2 (on the T1 grid)"), revision=fp,
                        heat_title="Grad-CAM (fixed scale)" if getattr(report, "heat_fixed", False) else "Grad-CAM (per level)")
    # the ROI probe: the rectangle the browser last reported (Probe mode), read against its vertebra's centre
    roi = probe_roi(study, levels, last.get("roi"), key=(fp, placed, report.normalization), fp=fp,
                    method=report.normalization) if graded and not view_only else None
    positions = slice_positions_mm(study.t1)
    captions = ([f"Slice {k + 1} of {nz} · {slice_lr_label(study.t1, k)} · {positions[k]:+.1f} mm from the middle slice"
                 for k in range(nz)] if nz > 1 else [f"Single-slice study (one mid-sagittal slice) · {slice_lr_label(study.t1, 0)}"])
    spec = {"figure": fig.to_plotly_json(), "series": {name: {"key": keys[name], "codes": codes[name]} for name in info},
            "windows": _windows_spec(info), "heat": rt.level_heat(levels) if graded else None, "nz": nz, "graded": graded,
            "levels": [{"level": lv.level, "z0": int(lv.z_range[0]), "z1": int(lv.z_range[1]),
                        "box": [float(v) for v in lv.box]} for lv in levels],
            "table": _table_rows(levels, graded=graded, truth=truth,
                                 meanings=call_texts(levels, method=report.normalization) if graded else None),
            "meaning_help": MEANING_HELP, "focus": None if focused == NONE else focused,
            "uncertain_help": UNCERTAIN_TEXT.capitalize() + ".", "set_help": _set_help(report),
            "probe_help": PROBE_HELP, "roi": roi_spec(roi, last.get("roi"), method=report.normalization) if roi else None,
            "t2": None if view_only else t2_overlay((fp, placed), study),
            "tags": bool(levels), "captions": captions, "state": shown, "revision": fp, "sync_ms": 700,
            "config": {"displaylogo": False, "scrollZoom": False, "responsive": True}}  # the wheel pages slices (viewer.js)
    got = case_figure(spec, key=fig_key)
    if roi is not None:
        st.caption(spec["roi"]["line"])
    if graded:
        st.subheader("Per-level results")
    z = min(max(int(got.get("z", shown["z"])), 0), nz - 1)
    reported = got.get("win") if isinstance(got.get("win"), dict) else {}
    wins = {name: _window_of(reported.get(name), Window(*start["win"][name])) for name in info}
    state = {"z": z, "opacity": float(got.get("opacity", shown["opacity"])), "boxes": bool(got.get("boxes", True)),
             "cam": bool(got.get("cam", True)), "win": {name: [w.low, w.high] for name, w in wins.items()},
             "focus_n": clicks}
    st.session_state[f"cv_state_{fp}"] = state
    win1, win2 = wins["T1"], wins.get("T2", wins["T1"])
    view.update(z=z, win_t1=win1, win_t2=win2, opacity=state["opacity"])

    if report is not None and report.alignment is not None and st.session_state.get(f"cv_show_checker_{fp}"):
        st.image(checkerboard(study.t1.array[z], study.t2.array[z], tile_px=max(16, nx // 12)), clamp=True,
                 caption=f"Checkerboard of T1 and T2, slice {z + 1}", width=min(640, 2 * nx))
    legend = ("Box colour = predicted class: " + " · ".join(
        f"<span style='background:{class_color(c)};color:black;padding:0 4px'>{c}</span> {CLASS_DESCRIPTIONS[c]}"
        for c in ("MC0", "MC1", "MC2")) + ". Dotted: the level's slab does not include this slice. ") if graded else \
        "Boxes: detected levels (not graded). Dotted: the level's slab does not include this slice. "
    st.caption(legend + "Wheel or up/down arrows: slices; ctrl/cmd + wheel: zoom, drag: pan (both images together); "
               "double-click or r: reset the zoom; ? in the picture lists the keys. "
               "Letters beside the images: patient directions (A/P anterior/posterior, S/I superior/inferior)."
               + (f" Colour bar: {getattr(report, 'heat_scale', '') or HEAT_SCALE}" if graded and levels else ""),
               unsafe_allow_html=True)
    if graded:
        for note in (n for n in report.notes if is_set_note(n)):
            st.caption(note)
        _focus(study, levels, fp=fp, z=z, win1=win1, win2=win2, threshold=threshold, method=report.normalization,
               crops_drawn=bool(last.get("crops")))
    return view


def _set_help(report) -> str:
    """The "grade set" column's tooltip: what a set means at the report's coverage."""
    cov = getattr(report, "coverage", None)
    if cov is None:
        return NO_SETS_NOTE
    return (f"The grades the model cannot rule out: the true grade is in the set for about {coverage_label(cov)} of "
            "levels (measured on cross-validation; model card). Change the coverage in the sidebar.")


def _number(v) -> float | None:
    """A JSON-safe number (None for NaN: an ungraded level has no probabilities)."""
    f = float(v)
    return None if f != f else f


#: The table's short "what this call means" column, and its tooltip.
MEANING_COLUMN = "call meaning"
MEANING_HELP = ("How often cross-validation levels called this grade with about this probability truly had it "
                "(the method's own out-of-fold figures; focus a level for the full sentence).")


def _table_rows(levels, *, graded: bool, truth: dict[str, str] | None = None,
                meanings: dict | None = None) -> dict[str, Any]:
    """The per-level table the picture shows under the images (every level, top to bottom): the
    columns of :meth:`~modic_core.analysis.report.StudyReport.table` for a graded study, the call's
    meaning (``meanings``: {level: :class:`~modic_core.export.call_text.CallText`}, its short cell; None
    for a level without one), then the signal probe's endplate/centre ratios (:mod:`modic_core.ui.probe`) (plus "true grade" for a
    labelled demo case, ``truth``: {level: grade}); level, confidence and slab for a view-only one."""
    rows = []
    for lv in levels:
        r = {"level": lv.level, "confidence": _number(lv.score), "slices": [int(lv.z_range[0]), int(lv.z_range[1])],
             "color": level_color(lv)}
        if graded:
            r.update({c: _number(lv.probabilities.get(c[2:-1], float("nan"))) for c in ("P(MC0)", "P(MC1)", "P(MC2)")})
            r.update(prediction=lv.prediction, uncertain=bool(getattr(lv, "uncertain", False)),
                     **{"grade set": set_label(getattr(lv, "prediction_set", ())) or None})
            r[MEANING_COLUMN] = call_cell(meanings, lv.level) or None
            r.update(probe_cells(getattr(lv, "signal", None)))
            if truth:
                r["true grade"] = truth.get(lv.level, "—")
        rows.append(r)
    columns = (list(TABLE_COLUMNS) + [MEANING_COLUMN] + list(PROBE_COLUMNS) + (["true grade"] if truth else [])) if graded else ["level", "confidence"]
    return {"columns": columns, "rows": rows}


def _focus(study, levels, *, fp: str, z: int, win1: Window, win2: Window, threshold: float, method: str,
           crops_drawn: bool = False) -> None:
    """The focus picker and the focused level's crops (T1, T2, Grad-CAM) under the picture, with what the call
    means on ``method``'s cross-validation (:func:`~modic_core.ui.call_meaning.call_sentence`). ``crops_drawn``:
    the picture draws the crops itself (``figure_static/focus.js`` reports ``crops``), so none are drawn here."""
    ny, nx = study.t1.shape[1:]
    focus_key = f"cv_focus_{fp}"
    names = [lv.level for lv in levels]
    if not levels:
        st.warning(f"No intervertebral level reached the confidence threshold {threshold:.2f}. Lower it in the sidebar.")
        return
    st.selectbox("Focus on a level (or click a table row)", [NONE, *names], key=focus_key)
    focused = st.session_state.get(focus_key, NONE)
    if focused == NONE:
        return
    lv = levels[names.index(focused)]
    zf = z if box_on_slice(lv, z) else int(round((lv.z_range[0] + lv.z_range[1]) / 2))
    b = crop_bounds(lv.box, (ny, nx), margin=0.8, min_size=40)
    inner = (lv.box[0] - b[2], lv.box[1] - b[0], lv.box[2] - b[2], lv.box[3] - b[0])
    hf = slice_heatmap([lv], zf, (ny, nx))
    if not crops_drawn:
        st.plotly_chart(focus_figure(t1=crop(to_display(study.t1.array[zf], win1), b), t2=crop(to_display(study.t2.array[zf], win2), b),
                                     heat=None if hf is None else crop(hf, b), box_in_crop=inner, color=class_color(lv.prediction),
                                     titles=(f"T1 · {lv.level}", f"T2 · {lv.level}", f"Grad-CAM ({lv.prediction}) on T1"),
                                     spacing_yx=(study.t1.spacing[1], study.t1.spacing[2])),
                        key="cv_focus_fig", config={"displaylogo": False, "scrollZoom": True})
    probs = ", ".join(f"P({k}) = {v:.2f}" for k, v in lv.probabilities.items())
    grade_set = set_label(getattr(lv, "prediction_set", ()))
    st.markdown(f"**{lv.level}: {lv.prediction}** ({CLASS_DESCRIPTIONS.get(lv.prediction, '')}) · {probs} · "
                + (f"grade set: {grade_set}{' (uncertain)' if lv.uncertain else ''} · " if grade_set else "") +
                f"detector confidence {lv.score:.2f} · slab slices {lv.z_range[0] + 1}–{lv.z_range[1] + 1}"
                + (f" · shown on slice {zf + 1}" if zf != z else "")
                + ("" if hf is not None else " · no Grad-CAM on this slice"))
    top = _number(lv.probabilities.get(lv.prediction, float("nan")))
    if top is not None:
        st.markdown(f"*What this call means:* {call_sentence(grade=lv.prediction, confidence=top, method=method)}")
