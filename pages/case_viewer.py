"""Case viewer: a demo case or an uploaded T1/T2 pair, the detected levels, their Modic grades and Grad-CAM."""
from __future__ import annotations

import hashlib

import streamlit as st

from modic_core.datasets.demo import list_demo_cases
from modic_core.ui import runtime as rt
from modic_core.export.dicom_sr import dicom_sr_bytes, read_series_headers
from modic_core.export.documents import build_pdf_report, method_label, report_csv
from modic_core.ui.guard import guarded, safe_call
from modic_core.ui.session import short_study_id
from modic_core.export.style import CLASS_DESCRIPTIONS
from modic_core.ui.uploads import auto_pair, group_labels, list_upload_series, load_pair, series_option_label, upload_key
from modic_core.export.render import (
    Window,
    box_on_slice,
    compose_rgb,
    crop,
    crop_bounds,
    crop_figure,
    default_slice,
    slice_figure,
    slice_heatmap,
    slice_positions_mm,
    to_display,
    window_defaults,
    window_slider_range,
)
from modic_core.export.style import class_color

st.title("Case viewer")
st.caption("Detected intervertebral levels, their Modic grade and where the model looked.")

NONE = "—"


# --------------------------------------------------------------------------- input


def demo_input():
    cases = list_demo_cases()
    if not cases:
        st.error("No demo case is installed (the demo/ folder is missing).")
        return None, None
    names = [c.name for c in cases]
    by_name = {c.name: c for c in cases}
    name = st.selectbox("Demo case", names, key="cv_demo",
                        format_func=lambda n: f"{n} — {'real SPIDER study' if by_name[n].kind == 'spider2d' else 'synthetic phantom'}")
    case = by_name[name]
    st.caption(case.description)
    sr_source = (case.t1, None) if case.kind.endswith("dicom") else None
    with guarded("loading a demo case"):
        return rt.cached_demo_study(name), sr_source
    return None, None


def upload_input():
    files = st.file_uploader(
        "DICOM files, a zip of a study, or two NIfTI/MHA files (T1 and T2)", accept_multiple_files=True, key="cv_upload",
        help="Several series are paired automatically (sagittal T1 + sagittal T2); you can change the choice below.",
    )
    if not files:
        st.info("Upload a study to analyse it: all DICOM files of the sagittal T1 and T2 series (or a zip of the "
                "study folder), or two NIfTI/MHA files.")
        return None, None
    key = upload_key(files)
    cache = st.session_state.get("cv_upload_cache")
    if not cache or cache.get("key") != key:
        cache = {"key": key, "infos": None, "error": None, "studies": {}}
        st.session_state["cv_upload_cache"] = cache
        with st.spinner("Reading the upload…"), guarded("listing uploaded series") as g:
            cache["infos"] = list_upload_series(files)
        if not g.ok:
            cache["error"] = g.message
            return None, None
    if cache["error"]:
        st.error(cache["error"])
        return None, None
    infos = cache["infos"]
    with guarded("pairing uploaded series") as g:
        pairing = auto_pair(infos)
    if not g.ok:
        return None, None
    tag = hashlib.sha1(repr(key).encode()).hexdigest()[:8]
    options = list(range(len(infos)))
    groups = group_labels(infos)
    if any(groups):
        st.caption("The upload holds series of " + " and ".join(sorted(set(g for g in groups if g))) +
                   " (told apart by one-way hashes of their identifiers).")
    c1, c2 = st.columns(2)
    i1 = c1.selectbox("T1 series", options, index=pairing.t1, key=f"cv_t1_{tag}",
                      format_func=lambda i: series_option_label(infos[i], groups[i]))
    i2 = c2.selectbox("T2 series", options, index=pairing.t2, key=f"cv_t2_{tag}",
                      format_func=lambda i: series_option_label(infos[i], groups[i]))
    if pairing.confident and (i1, i2) == (pairing.t1, pairing.t2):
        st.caption(pairing.reason)
    elif (i1, i2) == (pairing.t1, pairing.t2):
        st.warning(pairing.reason)
    pair = (infos[i1].key, infos[i2].key)
    sr_source = (files, infos[i1].key) if infos[i1].kind == "dicom" else None
    if pair in cache["studies"]:
        return cache["studies"][pair], sr_source
    with st.spinner("Loading the two series…"), guarded("loading an uploaded pair"):
        study = load_pair(files, infos[i1], infos[i2])
        cache["studies"] = {pair: study}  # keep only the current pair
        return study, sr_source
    return None, None


source = st.radio("Input", ["Demo case", "Upload"], horizontal=True, key="cv_source", label_visibility="collapsed")
study, sr_source = demo_input() if source == "Demo case" else upload_input()
if study is None:
    st.stop()

# --------------------------------------------------------------------------- analysis

fp = rt.fingerprint_of(study)
sid = short_study_id(study, fp)
normalization, threshold = rt.current_settings()
nz, ny, nx = study.t1.shape
st.markdown(
    f"**Study** `{sid}` (hashed ID) · **T1:** {study.t1.meta.series_description or study.sources.get('t1', '—')} · "
    f"**T2:** {study.t2.meta.series_description or study.sources.get('t2', '—')} · "
    f"{nz} slice{'s' if nz != 1 else ''} of {nx}×{ny} px, {study.t1.spacing[2]:.3g}×{study.t1.spacing[1]:.3g} mm"
)
# The downloads sit right under the study they belong to. This slot is (re)drawn empty as soon as a
# new study is identified, before any analysis, so no button of the previous study stays clickable
# while the new one is analysed; it is filled at the end from the same report the page renders.
downloads_slot = st.empty()

report = None
ready, why = rt.models_ready(normalization)
if not ready:
    st.info(why)
else:
    with st.spinner(f"Analysing with {method_label(normalization)}…"), guarded("analysing a study") as g:
        report = rt.analyse(study, normalization, threshold, fingerprint=fp)
levels = list(report.levels) if report is not None else []
if report is not None:
    with guarded("placing T2 on T1"):
        study = rt.placed_study(study, fingerprint=fp)  # T2 where the alignment check put it
    for sentence in report.warnings:
        (st.warning if report.reliable else st.error)(sentence, icon=":material/warning:")
    al = report.alignment
    if al is not None:
        with st.expander(("T1/T2 alignment: " + ("checked" if al.ok else "FAILED")) + f" · {al.sentence()}",
                         expanded=not al.ok):
            st.caption("Discs are found on T1 and on T2 separately and matched; 'median distance' is how far apart "
                       "the matched disc centres lie once T2 is resampled onto T1. Below: T1 and T2 in alternating "
                       "tiles of the current slice. Where the two line up, vertebral edges continue across tiles.")
            if f"cv_show_checker_{fp}" not in st.session_state:
                st.session_state[f"cv_show_checker_{fp}"] = not al.ok
            st.toggle("Show the T1/T2 checkerboard below the controls", key=f"cv_show_checker_{fp}")

# --------------------------------------------------------------------------- viewer controls

ctl = st.columns([3, 1, 1, 2])
with ctl[0]:
    if nz > 1:
        pos = slice_positions_mm(study.t1)
        z = st.slider("Slice (T1 and T2 together)", 1, nz, value=default_slice(nz, levels) + 1, key=f"cv_z_{fp}",
                      format="%d", help="Both series share the T1 grid, so one slice number is one position in mm.") - 1
        st.caption(f"Slice {z + 1} of {nz} · {pos[z]:+.1f} mm from the middle slice")
    else:
        z = 0
        st.caption("Single-slice study (one mid-sagittal slice).")
show_boxes = ctl[1].toggle("Boxes", value=True, key="cv_boxes")
show_cam = ctl[2].toggle("Grad-CAM", value=True, key="cv_cam", disabled=report is None)
opacity = ctl[3].slider("Grad-CAM opacity", 0.0, 1.0, 0.45, 0.05, key="cv_opacity", disabled=report is None or not show_cam)

d1, d2 = window_defaults(study.t1.array), window_defaults(study.t2.array)
with st.expander("Window / level"):
    w = {}
    for name, vol, dflt in (("T1", study.t1, d1), ("T2", study.t2, d2)):
        lo, hi, step = window_slider_range(vol.array)
        a, b = st.slider(f"{name} displayed intensity range", lo, hi, (max(lo, round(dflt.low, 6)), min(hi, round(dflt.high, 6))),
                         step=step, key=f"cv_win_{name}_{fp}")
        w[name] = Window(a, b)
        st.caption(f"{name}: level {w[name].level:.4g}, width {w[name].width:.4g} (default from the 0.5th–99.5th "
                   "percentiles of the body)")
win1, win2 = w["T1"], w["T2"]

# --------------------------------------------------------------------------- images

focus_key = f"cv_focus_{fp}"
level_names = [lv.level for lv in levels]
if st.session_state.get(focus_key, NONE) not in [NONE, *level_names]:
    st.session_state[focus_key] = NONE
focused = st.session_state.get(focus_key, NONE)

if report is not None and report.alignment is not None and st.session_state.get(f"cv_show_checker_{fp}"):
    from modic_core.export.alignment_view import checkerboard

    st.image(checkerboard(study.t1.array[z], study.t2.array[z], tile_px=max(16, nx // 12)), clamp=True,
             caption=f"Checkerboard of T1 and T2, slice {z + 1}", width=min(640, 2 * nx))
heat = slice_heatmap(levels, z, (ny, nx)) if show_cam else None
g1 = to_display(study.t1.array[z], win1)
g2 = to_display(study.t2.array[z], win2)
spacing_yx = (study.t1.spacing[1], study.t1.spacing[2])
col1, col2 = st.columns(2)
with col1:
    st.plotly_chart(slice_figure(compose_rgb(g1, heat, opacity), levels, z=z, title="T1", spacing_yx=spacing_yx,
                                 show_boxes=show_boxes, highlight=None if focused == NONE else focused),
                    key="cv_fig_t1", config={"displaylogo": False})
with col2:
    st.plotly_chart(slice_figure(compose_rgb(g2, heat, opacity), levels, z=z, title="T2 (on the T1 grid)", spacing_yx=spacing_yx,
                                 show_boxes=show_boxes, highlight=None if focused == NONE else focused),
                    key="cv_fig_t2", config={"displaylogo": False})
st.caption("Box colour = predicted class: " + " · ".join(
    f"<span style='background:{class_color(c)};color:black;padding:0 4px'>{c}</span> {CLASS_DESCRIPTIONS[c]}"
    for c in ("MC0", "MC1", "MC2")) + ". Dotted: the level's slab does not include this slice.", unsafe_allow_html=True)

# --------------------------------------------------------------------------- table and focus

if report is not None:
    st.subheader("Per-level results")
    if not levels:
        st.warning(f"No intervertebral level reached the confidence threshold {threshold:.2f}. Lower it in the sidebar.")
    else:
        table = report.table()

        def _select_row() -> None:
            sel = st.session_state.get(f"cv_table_{fp}")
            rows = list(getattr(getattr(sel, "selection", None), "rows", []) or []) if sel is not None else []
            st.session_state[focus_key] = level_names[rows[0]] if rows and rows[0] < len(level_names) else NONE

        st.dataframe(
            table, hide_index=True, key=f"cv_table_{fp}", on_select=_select_row, selection_mode="single-row",
            column_config={
                "level": st.column_config.TextColumn("Level"),
                "confidence": st.column_config.NumberColumn("Confidence", format="%.2f"),
                **{c: st.column_config.ProgressColumn(c, min_value=0.0, max_value=1.0, format="%.2f")
                   for c in ("P(MC0)", "P(MC1)", "P(MC2)")},
                "prediction": st.column_config.TextColumn("Prediction"),
            },
        )
        st.selectbox("Focus on a level (or click a table row)", [NONE, *level_names], key=focus_key)
        focused = st.session_state.get(focus_key, NONE)
        if focused != NONE:
            lv = levels[level_names.index(focused)]
            zf = z if box_on_slice(lv, z) else int(round((lv.z_range[0] + lv.z_range[1]) / 2))
            b = crop_bounds(lv.box, (ny, nx))
            inner = (lv.box[0] - b[2], lv.box[1] - b[0], lv.box[2] - b[2], lv.box[3] - b[0])
            hf = slice_heatmap([lv], zf, (ny, nx))
            c1, c2, c3 = st.columns(3)
            color = class_color(lv.prediction)
            g1f, g2f = to_display(study.t1.array[zf], win1), to_display(study.t2.array[zf], win2)
            c1.plotly_chart(crop_figure(compose_rgb(crop(g1f, b)), title=f"T1 · {lv.level}", box_in_crop=inner, color=color,
                                        spacing_yx=spacing_yx), key="cv_crop_t1")
            c2.plotly_chart(crop_figure(compose_rgb(crop(g2f, b)), title=f"T2 · {lv.level}", box_in_crop=inner, color=color,
                                        spacing_yx=spacing_yx), key="cv_crop_t2")
            c3.plotly_chart(crop_figure(compose_rgb(crop(g1f, b), None if hf is None else crop(hf, b), max(opacity, 0.5)),
                                        title=f"Grad-CAM ({lv.prediction})", box_in_crop=inner, color=color,
                                        spacing_yx=spacing_yx), key="cv_crop_cam")
            probs = ", ".join(f"P({k}) = {v:.2f}" for k, v in lv.probabilities.items())
            st.markdown(f"**{lv.level}: {lv.prediction}** ({CLASS_DESCRIPTIONS.get(lv.prediction, '')}) · {probs} · "
                        f"detector confidence {lv.score:.2f} · slab slices {lv.z_range[0] + 1}–{lv.z_range[1] + 1}"
                        + ("" if hf is not None else " · no Grad-CAM on this slice"))

    # ----------------------------------------------------------------------- downloads
    with downloads_slot.container():
        d1c, d2c, d3c, _ = st.columns([1, 1, 1, 1])
        d1c.download_button("Per-level table (CSV)", report_csv(report, study_label=sid), file_name=f"modic_{sid}.csv",
                            mime="text/csv", key=f"cv_dl_csv_{fp}", on_click="ignore", icon=":material/table:")
        pdf = safe_call(lambda: build_pdf_report(study, report, study_label=sid, slice_index=z, window_t1=win1,
                                                 window_t2=win2, heatmap_opacity=max(opacity, 0.4), device=report.device),
                        "building the PDF report", fallback=b"")
        d2c.download_button("One-page report (PDF)", pdf, file_name=f"modic_{sid}.pdf", mime="application/pdf",
                            key=f"cv_dl_pdf_{fp}", on_click="ignore", icon=":material/picture_as_pdf:")
        if sr_source is not None and not report.reliable:
            d3c.caption("DICOM SR: not offered, the T1/T2 alignment check failed.")
        elif sr_source is not None:
            sr = safe_call(lambda: dicom_sr_bytes(report, study, read_series_headers(*sr_source)), "building the DICOM SR",
                           fallback=b"")
            d3c.download_button("Findings (DICOM SR)", sr, file_name=f"modic_{sid}_sr.dcm", mime="application/dicom",
                                key=f"cv_dl_sr_{fp}", on_click="ignore", icon=":material/folder_zip:",
                                help="Comprehensive 3D SR (TID 1500) referencing the T1 images, for PACS research use.")
        else:
            d3c.caption("DICOM SR: available when the T1 series is DICOM.")
    timings = " · ".join(f"{k.removesuffix('_s').replace('_', ' ')} {v:.2f} s" for k, v in (report.timings or {}).items())
    st.caption(f"Normalization: {method_label(report.normalization)} · threshold {report.threshold:.2f} · device "
               f"{report.device} · models: " + "; ".join(f"{k}: {v}" for k, v in report.weights.items())
               + (f" · timings (first run of each stage; later views reuse them): {timings}" if timings else ""))
