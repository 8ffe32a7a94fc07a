"""The case viewer's image area, as one Streamlit fragment: its controls rerun only it.

The picture is a local component (:func:`modic_core.ui.figure.case_figure`): one plotly.js figure
that stays alive in the browser with every slice of the current windows (encoded once per slice and
window, :func:`modic_core.ui.runtime.slice_uri`, and sent once: the browser reports which sets it
holds) and the Grad-CAM per slice (:func:`~modic_core.ui.runtime.heat_uri`). Its slice, Boxes,
Grad-CAM and opacity controls act in the browser without a server round trip; the view comes back
(``cv_state_<fp>``) once the input rests. Window/level, the checkerboard, the level table and the
focus crops are Streamlit widgets that rerun this fragment and not the page.

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
    window_presets,
    window_slider_range,
)
from modic_core.analysis.report import UNCERTAIN_TEXT
from modic_core.export.style import CLASS_DESCRIPTIONS, class_color
from modic_core.ui import runtime as rt
from modic_core.ui.figure import case_figure

__all__ = ["NONE", "view_state", "viewer", "window_info"]

NONE = "—"



def table_height(n_rows: int) -> int:
    """Pixel height that shows every row of a Streamlit dataframe (no scrolling, no silent cut)."""
    return 38 + 35 * max(1, int(n_rows))

def view_state(fp: str) -> dict[str, Any]:
    """The per-study dict of what is on screen: z, win_t1, win_t2, opacity (filled by the viewer)."""
    return st.session_state.setdefault(f"cv_view_{fp}", {"z": 0, "win_t1": None, "win_t2": None, "opacity": 0.45})


@st.cache_data(max_entries=64, show_spinner=False)
def window_info(key: tuple, series: str, _array) -> tuple[tuple[float, float, float], dict[str, Window]]:
    """(slider min, max, step) and the named windows of one series (computed once per series)."""
    return window_slider_range(_array), window_presets(_array, series=series)


def _snap(value: float, lo: float, hi: float, step: float) -> float:
    return float(min(hi, max(lo, round(round(value / step) * step, 10))))


def _set_window(key: str, window: Window, rng: tuple[float, float, float]) -> None:
    lo, hi, step = rng
    a, b = _snap(window.low, lo, hi, step), _snap(window.high, lo, hi, step)
    if b <= a:  # never a zero width
        a, b = (a, a + step) if a + step <= hi else (b - step, b)
    st.session_state[key] = (a, b)


def _window_controls(study, fp: str, *, series: list[tuple[str, Any, tuple]]) -> dict[str, Window]:
    info = {name: window_info(key, name, vol.array) for name, vol, key in series}
    keys = {name: f"cv_win_{name}_{fp}" for name, _, _ in series}
    for name in keys:
        if keys[name] not in st.session_state:
            _set_window(keys[name], info[name][1]["default"], info[name][0])

    def preset(which: str, names: list[str]) -> None:
        for n in names:
            if n in info:
                presets = info[n][1]
                _set_window(keys[n], presets.get(which) or presets["default"], info[n][0])

    with st.expander("Window / level", expanded=False):
        b = st.columns(4)
        if "T1" in info:
            b[0].button("T1 spine", key=f"cv_wl_t1_{fp}", on_click=preset, args=("T1 spine", ["T1"]),
                        help="T1: 5th-99th percentile of the body (marrow and discs).")
        if "T2" in info:
            b[1].button("T2 spine", key=f"cv_wl_t2_{fp}", on_click=preset, args=("T2 spine", ["T2"]),
                        help="T2: 1st-99.9th percentile of the body (bright fluid kept unclipped).")
        b[2].button("Full range", key=f"cv_wl_full_{fp}", on_click=preset, args=("full", list(info)),
                    help="Minimum to maximum of each series.")
        b[3].button("Reset", key=f"cv_wl_reset_{fp}", on_click=preset, args=("default", list(info)),
                    help="Default: 0.5th-99.5th percentile of the body.")
        out = {}
        for name in keys:
            lo, hi, step = info[name][0]
            a, bb = st.slider(f"{name} displayed intensity range", lo, hi, step=step, key=keys[name])
            if bb <= a:  # the slider allows equal ends: keep one step of width
                a, bb = (a, a + step) if a + step <= hi else (bb - step, bb)
            out[name] = Window(a, bb)
            st.caption(f"{name}: level {out[name].level:.4g}, width {out[name].width:.4g}")
    return out


def _level_what(lv, *, graded: bool) -> str:
    """'MC2 0.87' for a graded level, 'found, confidence 0.91' for a detection only."""
    if graded:
        return f"{lv.prediction} {float(lv.probabilities.get(lv.prediction, float('nan'))):.2f}"
    return f"found, confidence {lv.score:.2f}"


@st.fragment
def viewer(study, levels: list, *, fp: str, report, view_only: bool, placed: bool, normalization: str,
           threshold: float) -> dict[str, Any]:
    """Controls, the linked T1/T2 figure, the level list, the checkerboard, the table and the focus crops."""
    view = view_state(fp)
    nz, ny, nx = study.t1.shape
    graded = report is not None
    series = [("T1", study.t1, (fp, "t1"))] + ([] if view_only else [("T2", study.t2, (fp, "t2", placed))])
    w = _window_controls(study, fp, series=series)
    win1, win2 = w["T1"], w.get("T2", w["T1"])

    focus_key = f"cv_focus_{fp}"
    names = [lv.level for lv in levels]
    if st.session_state.get(focus_key, NONE) not in [NONE, *names]:
        st.session_state[focus_key] = NONE
    focused = st.session_state.get(focus_key, NONE)

    # the picture: every slice encoded once per window (cached here), sent once per window (the browser keeps the
    # slices it reported in "have"); slice/boxes/Grad-CAM/opacity act in the browser
    fig_key = f"cv_fig_{fp}"
    have = set((st.session_state.get(fig_key) or {}).get("have") or [])
    keys = {"T1": f"T1:{win1.low:.6g}:{win1.high:.6g}", "T2": f"T2:{placed}:{win2.low:.6g}:{win2.high:.6g}"}
    level_key = (fp, normalization, tuple((lv.level, tuple(round(float(v), 2) for v in lv.box)) for lv in levels))
    t1 = None if keys["T1"] in have else [rt.slice_uri(series[0][2], k, win1.low, win1.high, study.t1.array[k])
                                         for k in range(nz)]
    t2 = None if view_only or keys["T2"] in have else [
        rt.slice_uri(series[1][2], k, win2.low, win2.high, study.t2.array[k]) for k in range(nz)]
    heat = [rt.heat_uri(level_key, k, levels, (ny, nx)) for k in range(nz)] if graded else None
    any_heat = next((h for h in heat or [] if h is not None), None)
    start = {"z": default_slice(nz, levels), "opacity": 0.45, "boxes": True, "cam": True}
    shown = st.session_state.get(f"cv_state_{fp}", start)
    blank = "data:image/png;base64,"  # the browser puts its own copy of the slice in
    fig = viewer_figure(t1=blank, t2=None if view_only else blank, shape_yx=(ny, nx), levels=levels,
                        z=shown["z"], heat=any_heat, opacity=max(float(shown["opacity"]), 0.05),
                        spacing_yx=(study.t1.spacing[1], study.t1.spacing[2]), show_boxes=True,
                        highlight=None if focused == NONE else focused, letters=orientation_letters(study.t1.direction),
                        titles=("T1" if not view_only else "Series", "T2 (on the T1 grid)"), revision=fp,
                        heat_title="Grad-CAM (fixed scale)" if getattr(report, "heat_fixed", False) else "Grad-CAM (per level)")
    positions = slice_positions_mm(study.t1)
    captions = ([f"Slice {k + 1} of {nz} · {slice_lr_label(study.t1, k)} · {positions[k]:+.1f} mm from the middle slice"
                 for k in range(nz)] if nz > 1 else [f"Single-slice study (one mid-sagittal slice) · {slice_lr_label(study.t1, 0)}"])
    spec = {"figure": fig.to_plotly_json(), "t1": t1, "t2": t2, "t1_key": keys["T1"],
            "t2_key": None if view_only else keys["T2"], "heat": heat, "nz": nz, "graded": graded,
            "levels": [{"level": lv.level, "z0": int(lv.z_range[0]), "z1": int(lv.z_range[1]), "color": level_color(lv),
                        "what": _level_what(lv, graded=graded)} for lv in levels],
            "tags": bool(levels), "captions": captions, "state": shown, "revision": fp, "sync_ms": 700,
            "config": {"displaylogo": False, "scrollZoom": True, "responsive": True}}
    got = case_figure(spec, key=fig_key)
    z = min(max(int(got.get("z", shown["z"])), 0), nz - 1)
    state = {"z": z, "opacity": float(got.get("opacity", shown["opacity"])), "boxes": bool(got.get("boxes", True)),
             "cam": bool(got.get("cam", True))}
    st.session_state[f"cv_state_{fp}"] = state
    view.update(z=z, win_t1=win1, win_t2=win2, opacity=state["opacity"])

    if report is not None and report.alignment is not None and st.session_state.get(f"cv_show_checker_{fp}"):
        from modic_core.export.alignment_view import checkerboard

        st.image(checkerboard(study.t1.array[z], study.t2.array[z], tile_px=max(16, nx // 12)), clamp=True,
                 caption=f"Checkerboard of T1 and T2, slice {z + 1}", width=min(640, 2 * nx))
    legend = ("Box colour = predicted class: " + " · ".join(
        f"<span style='background:{class_color(c)};color:black;padding:0 4px'>{c}</span> {CLASS_DESCRIPTIONS[c]}"
        for c in ("MC0", "MC1", "MC2")) + ". Dotted: the level's slab does not include this slice. ") if graded else \
        "Boxes: detected levels (not graded). Dotted: the level's slab does not include this slice. "
    st.caption(legend + "Drag to pan, scroll to zoom (both images together); double-click to reset the zoom. "
               "Yellow letters: patient directions (A/P anterior/posterior, S/I superior/inferior)."
               + (f" Colour bar: {getattr(report, 'heat_scale', '') or HEAT_SCALE}" if any_heat is not None else ""),
               unsafe_allow_html=True)
    if graded:
        _table_and_focus(study, report, levels, fp=fp, z=z, win1=win1, win2=win2, threshold=threshold)
    elif view_only and levels:
        st.dataframe([{"level": lv.level, "confidence": round(float(lv.score), 3),
                       "slices": f"{lv.z_range[0] + 1}-{lv.z_range[1] + 1}"} for lv in levels], hide_index=True,
                     height=table_height(len(levels)))
    return view


def _table_and_focus(study, report, levels, *, fp: str, z: int, win1: Window, win2: Window, threshold: float) -> None:
    ny, nx = study.t1.shape[1:]
    focus_key = f"cv_focus_{fp}"
    names = [lv.level for lv in levels]
    st.subheader("Per-level results")
    if not levels:
        st.warning(f"No intervertebral level reached the confidence threshold {threshold:.2f}. Lower it in the sidebar.")
        return

    def _select_row() -> None:
        sel = st.session_state.get(f"cv_table_{fp}")
        rows = list(getattr(getattr(sel, "selection", None), "rows", []) or []) if sel is not None else []
        st.session_state[focus_key] = names[rows[0]] if rows and rows[0] < len(names) else NONE

    st.dataframe(
        report.table(), hide_index=True, key=f"cv_table_{fp}", on_select=_select_row, selection_mode="single-row",
        height=table_height(len(report.levels)),
        column_config={
            "level": st.column_config.TextColumn("Level"),
            "confidence": st.column_config.NumberColumn("Confidence", format="%.2f"),
            **{c: st.column_config.ProgressColumn(c, min_value=0.0, max_value=1.0, format="%.2f")
               for c in ("P(MC0)", "P(MC1)", "P(MC2)")},
            "prediction": st.column_config.TextColumn("Prediction"),
            "uncertain": st.column_config.CheckboxColumn("Uncertain", help=UNCERTAIN_TEXT.capitalize() + "."),
        },
    )
    st.selectbox("Focus on a level (or click a table row)", [NONE, *names], key=focus_key)
    focused = st.session_state.get(focus_key, NONE)
    if focused == NONE:
        return
    lv = levels[names.index(focused)]
    zf = z if box_on_slice(lv, z) else int(round((lv.z_range[0] + lv.z_range[1]) / 2))
    b = crop_bounds(lv.box, (ny, nx), margin=0.8, min_size=40)
    inner = (lv.box[0] - b[2], lv.box[1] - b[0], lv.box[2] - b[2], lv.box[3] - b[0])
    hf = slice_heatmap([lv], zf, (ny, nx))
    st.plotly_chart(focus_figure(t1=crop(to_display(study.t1.array[zf], win1), b), t2=crop(to_display(study.t2.array[zf], win2), b),
                                 heat=None if hf is None else crop(hf, b), box_in_crop=inner, color=class_color(lv.prediction),
                                 titles=(f"T1 · {lv.level}", f"T2 · {lv.level}", f"Grad-CAM ({lv.prediction}) on T1"),
                                 spacing_yx=(study.t1.spacing[1], study.t1.spacing[2])),
                    key="cv_focus_fig", config={"displaylogo": False, "scrollZoom": True})
    probs = ", ".join(f"P({k}) = {v:.2f}" for k, v in lv.probabilities.items())
    st.markdown(f"**{lv.level}: {lv.prediction}** ({CLASS_DESCRIPTIONS.get(lv.prediction, '')}) · {probs} · "
                f"detector confidence {lv.score:.2f} · slab slices {lv.z_range[0] + 1}–{lv.z_range[1] + 1}"
                + (f" · shown on slice {zf + 1}" if zf != z else "")
                + ("" if hf is not None else " · no Grad-CAM on this slice"))
