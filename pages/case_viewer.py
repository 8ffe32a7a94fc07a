"""Case viewer: a demo case or an uploaded T1/T2 pair, the detected levels, their Modic grades and Grad-CAM."""
from __future__ import annotations

import hashlib

import streamlit as st

from modic_core.export.labels import volume_label
from modic_core.datasets.demo import demo_truth, list_demo_cases
from modic_core.analysis.pairing_override import graded_anyway
from modic_core.ui import runtime as rt
from modic_core.export.dicom_sr import dicom_sr_bytes, read_series_headers
from modic_core.export.figure_png import figure_png
from modic_core.export.documents import build_pdf_report, error_pdf, method_label, report_csv
from modic_core.export.labels import study_label
from modic_core.ui.call_meaning import call_texts
from modic_core.ui.guard import guarded, safe_call
from modic_core.ui.naming import naming_panel
from modic_core.ui.longitudinal import earlier_results
from modic_core.ui.pacs_input import PACS_SOURCE, pacs_input, pacs_sources, store_report_button
from modic_core.ui.stored import STORED_SOURCE, stored_input, stored_key
from modic_core.ui.picker import NO_IDENTITY_NOTE, choose_pair, grade_anyway_gate, needs_choice, pair_differences
from modic_core.ui.uploads import auto_pair, group_labels, list_upload_series, load_pair, series_option_label, upload_key
from modic_core.ui.viewer import view_state, viewer
from modic_core.ui.review import review_panel
from modic_core.ui.viewonly import VIEW_ONLY_REASON, is_view_only, load_single
from modic_core.text import markdown_inert

st.title("Case viewer", help="Detected intervertebral levels, their Modic grade and where the model looked.")

NONE = "—"


# --------------------------------------------------------------------------- input


def demo_input():
    cases = list_demo_cases()
    if not cases:
        st.error("No demo case is installed (the demo/ folder is missing).")
        return None, None
    names = [c.name for c in cases]
    by_name = {c.name: c for c in cases}
    if st.session_state.get("cv_demo") not in names and st.session_state.get("cv_demo_kept") in names:
        st.session_state["cv_demo"] = st.session_state["cv_demo_kept"]  # back from another page: the case chosen before
    name = st.selectbox("Demo case", names, key="cv_demo", label_visibility="collapsed",
                        help="Demo case: " + " · ".join(f"{c.name}: {c.description}" for c in cases),
                        format_func=lambda n: f"{n} — {'real SPIDER study' if by_name[n].kind == 'spider2d' else 'synthetic phantom'}")
    st.session_state["cv_demo_kept"] = name  # widget state is dropped while another page is shown
    case = by_name[name]
    sr_source = (case.t1, None, case.t2, None) if case.kind.endswith("dicom") else None
    with guarded("loading a demo case"):
        return rt.cached_demo_study(name), sr_source
    return None, None


def _upload_changed() -> None:
    """The user added or removed files (not a page change): a study kept from before no longer applies."""
    if not st.session_state.get("cv_upload"):
        st.session_state.pop("cv_upload_cache", None)


def upload_input():
    files = st.file_uploader(
        "DICOM files, a zip of a study, or two NIfTI/MHA files (T1 and T2)", accept_multiple_files=True, key="cv_upload",
        help="Several series are paired automatically (sagittal T1 + sagittal T2); you can change the choice below.",
        on_change=_upload_changed,
    )
    if not files:
        kept = (st.session_state.get("cv_upload_cache") or {}).get("shown")
        if kept is not None:  # Streamlit drops the uploader's files while another page is shown
            c1, c2 = st.columns([4, 1])
            c1.info("Showing the study you uploaded before leaving this page. Upload files to replace it.")
            if c2.button("Clear the uploaded study", key="cv_upload_clear"):
                st.session_state.pop("cv_upload_cache", None)
                st.rerun()
            return kept
        st.info("Upload a study to analyse it: all DICOM files of the sagittal T1 and T2 series (or a zip of the "
                "study folder), or two NIfTI/MHA files.")
        return None, None
    key = upload_key(files)
    cache = st.session_state.get("cv_upload_cache")
    if not cache or cache.get("key") != key:
        cache = {"key": key, "infos": None, "error": None, "studies": {}, "failed": {}}
        st.session_state["cv_upload_cache"] = cache
        with st.spinner("Reading the upload…"), guarded("listing uploaded series") as g:
            cache["infos"] = list_upload_series(files)
        if not g.ok:
            cache["error"] = g.message
            return None, None
    if cache["error"]:
        st.error(markdown_inert(cache["error"]))
        return None, None
    infos = cache["infos"]
    if len(infos) == 1:  # one series: view it, never grade it
        if "single" not in cache["studies"]:
            with st.spinner("Loading the series…"), guarded("loading an uploaded series") as g:
                cache["studies"] = {"single": load_single(files, infos[0])}
            if not g.ok:
                return None, None
        cache["shown"] = (cache["studies"]["single"], None)
        return cache["shown"]
    if "pairing" not in cache:  # once per upload: a widget click does not pair again
        with guarded("pairing uploaded series") as g:
            cache["pairing"] = auto_pair(infos)
        if not g.ok:
            cache["error"] = g.message
            return None, None
    pairing = cache["pairing"]
    tag = hashlib.sha1(repr(key).encode()).hexdigest()[:8]
    groups = group_labels(infos)
    if any(groups):
        st.caption("The upload holds series of " + " and ".join(sorted(set(g for g in groups if g))) +
                   " (told apart by one-way hashes of their identifiers).")
    if needs_choice(infos):  # more than two series: the user picks and confirms, never paired silently
        chosen = choose_pair(files, infos, pairing, groups, cache=cache, tag=tag)
        if chosen is None:
            return None, None
        i1, i2 = chosen
    else:
        options = list(range(len(infos)))
        c1, c2 = st.columns(2)
        i1 = c1.selectbox("T1 series", options, index=pairing.t1, key=f"cv_t1_{tag}",
                          format_func=lambda i: series_option_label(infos[i], groups[i]))
        i2 = c2.selectbox("T2 series", options, index=pairing.t2, key=f"cv_t2_{tag}",
                          format_func=lambda i: series_option_label(infos[i], groups[i]))
        if any(i.kind != "dicom" for i in infos):
            st.info(NO_IDENTITY_NOTE)
        elif pairing.confident and (i1, i2) == (pairing.t1, pairing.t2):
            st.caption(pairing.reason)
        elif (i1, i2) == (pairing.t1, pairing.t2):
            st.warning(pairing.reason)
    pair = (infos[i1].key, infos[i2].key)
    sr_source = ((files, infos[i1].key) + ((files, infos[i2].key) if infos[i2].kind == "dicom" else (None, None))
                 if infos[i1].kind == "dicom" else None)
    if pair in cache["failed"]:  # a failed load is not tried again on every widget click
        st.error(cache["failed"][pair])
        cache["shown"] = None
        return None, None
    if pair not in cache["studies"]:
        with st.spinner("Loading the two series…"), guarded("loading an uploaded pair") as g:
            cache["studies"] = {pair: load_pair(files, infos[i1], infos[i2])}  # keep only the current pair
        if not g.ok:
            cache["failed"][pair] = g.message
            cache["shown"] = None
            return None, None
    differed = pair_differences(cache["studies"][pair])
    if differed and not grade_anyway_gate(files, infos[i1], infos[i2], differed, cache=cache, tag=tag):
        cache["shown"] = None
        return None, None
    cache["shown"] = (cache["studies"][pair], sr_source)  # also kept while another page is shown
    return cache["shown"]


SOURCES = ["Demo case", "Upload", STORED_SOURCE] + pacs_sources()  # "From PACS" when an archive is configured
if "cv_source" not in st.session_state and st.session_state.get("cv_source_kept") in SOURCES:
    st.session_state["cv_source"] = st.session_state["cv_source_kept"]  # back from another page
source_col, pick_col = st.columns([2, 3], vertical_alignment="center")  # one compact row: the picture comes first
source = source_col.radio("Input", SOURCES, horizontal=True, key="cv_source", label_visibility="collapsed")
st.session_state["cv_source_kept"] = source
with pick_col if source == "Demo case" else st.container():
    study, sr_source = {"Demo case": demo_input, "Upload": upload_input, STORED_SOURCE: stored_input,
                         PACS_SOURCE: pacs_input}[source]()
if study is None:
    st.stop()

# --------------------------------------------------------------------------- analysis

fp = rt.fingerprint_of(study)
sid = stored_key() if source == STORED_SOURCE else study_label(study, fp)  # a stored study: its store key, as the queue lists it
normalization, threshold = rt.current_settings()
view_only = is_view_only(study)
nz, ny, nx = study.t1.shape
# never a file name; the SeriesDescription is the file's text: drawn as text, never as markdown
series = (f"**Series:** {markdown_inert(volume_label(study.t1, study.t1.meta.sequence))}" if view_only else
          f"**T1:** {markdown_inert(volume_label(study.t1, 'T1'))} · **T2:** {markdown_inert(volume_label(study.t2, 'T2'))}")
st.markdown(f"**Study** `{sid}` (hashed ID) · {series} · "
            f"{nz} slice{'s' if nz != 1 else ''} of {nx}×{ny} px, {study.t1.spacing[2]:.3g}×{study.t1.spacing[1]:.3g} mm")
# The picture comes right under this one-line header (only the warnings come before it), then the downloads, then
# the alignment and naming expanders. The downloads slot is (re)drawn empty as soon as a new study is identified,
# before any analysis, so no button of the previous study stays clickable while the new one is analysed; it is
# filled at the end from the same report the page renders.
notes_slot = st.container()
picture_slot = st.container()
downloads_slot = st.empty()

report = None
levels: list = []
if view_only:
    notes_slot.info(VIEW_ONLY_REASON.format(label=markdown_inert(study.sources.get("t1", "one series"))), icon="👁️")
    if rt.detector_ready():
        with st.spinner("Finding the levels…"), guarded("detecting levels"):
            levels = rt.detect_only(study, threshold, fingerprint=fp)
            naming_note = rt.detect_only_warning(study, fingerprint=fp) if levels else None
            if naming_note:
                notes_slot.warning(naming_note, icon="⚠️")
    else:
        notes_slot.info("No detector weights are installed, so the levels are not marked.")
else:
    ready, why = rt.models_ready(normalization)
    if not ready:
        notes_slot.info(why)
    else:
        with st.spinner(f"Analysing with {method_label(normalization)}…"), guarded("analysing a study") as g:
            report = rt.analyse(study, normalization, threshold, fingerprint=fp)
            report = graded_anyway(report, differed=pair_differences(study))  # the user's click, on the report
placed = False
if report is not None:
    with guarded("placing T2 on T1"):
        shown = rt.placed_study(study, fingerprint=fp)  # T2 where the alignment check put it
        placed, study = shown.t2 is not study.t2, shown
    for sentence in report.warnings:
        (notes_slot.warning if report.reliable else notes_slot.error)(markdown_inert(sentence), icon="⚠️")  # may quote file values
    al = report.alignment
    if al is not None:
        with st.expander(("T1/T2 alignment: " + ("checked" if al.ok else "FAILED")) + f" · {al.sentence()}",
                         expanded=not al.ok):
            st.caption("Discs are found on T1 and on T2 separately and matched; 'median distance' is how far apart "
                       "the matched disc centres lie once T2 is resampled onto T1. Below: T1 and T2 in alternating "
                       "tiles of the current slice. Where the two line up, vertebral edges continue across tiles.")
            if f"cv_show_checker_{fp}" not in st.session_state:
                st.session_state[f"cv_show_checker_{fp}"] = not al.ok
            st.toggle("Show the T1/T2 checkerboard under the picture", key=f"cv_show_checker_{fp}")
    report = naming_panel(report, fp=fp)  # the user's level-name correction of this study, used from here on
    levels = list(report.levels)

# --------------------------------------------------------------------------- viewer

truth = None
if report is not None and source == "Demo case" and report.levels:
    with guarded("reading the demo case's true grades"):
        truth = demo_truth(st.session_state.get("cv_demo", ""), report.levels) or None

view = view_state(fp)
with picture_slot:
    viewer(study, levels, fp=fp, report=report, view_only=view_only, placed=placed,
           normalization=normalization, threshold=threshold, truth=truth)
if truth:
    picture_slot.caption("True grade (table column): this demo case is labelled. SPIDER demos: radiologists' grades of the whole "
               "3D scan (this is one mid-sagittal slice); phantoms: the lesions they were built with. Detected levels "
               "are matched to labels by box.")
earlier_results(report, fp=fp)  # a study from the PACS: this app's earlier grades of the patient, beside today's

# --------------------------------------------------------------------------- review (label store)

if report is not None and report.levels and not view_only:
    review_panel(study, report, fp=fp)  # a fragment: its clicks and saving rerun only the panel

# --------------------------------------------------------------------------- downloads (built when clicked)

if report is not None:
    meanings = call_texts(report.levels, method=report.normalization)  # what each call means (CV), CSV and PDF
    with downloads_slot.container():
        d1c, d2c, d3c, d4c = st.columns([1, 1, 1, 1])
        d1c.download_button("Per-level table (CSV)", safe_call(lambda: report_csv(report, study_label=sid, meanings=meanings), "building the CSV",
                                                               fallback=b""), file_name=f"modic_{sid}.csv",
                            mime="text/csv", key=f"cv_dl_csv_{fp}", on_click="ignore")

        # built when clicked, from the slice, windows and opacity on screen then (the viewer keeps `view` current)
        pdf = safe_call(lambda: build_pdf_report(study, report, study_label=sid, slice_index=view["z"], window_t1=view["win_t1"],
                                                 window_t2=view["win_t2"], heatmap_opacity=max(view["opacity"], 0.4),
                                                 device=report.device, meanings=meanings), "building the PDF report", on_error=error_pdf)  # a failed build: a PDF saying so, never 0 bytes
        d2c.download_button("Report (PDF)", pdf, file_name=f"modic_{sid}.pdf", mime="application/pdf",
                            key=f"cv_dl_pdf_{fp}", on_click="ignore", help="Built when you click: the slice and windows on screen.")
        png = safe_call(lambda: figure_png(study=study, levels=report.levels, z=view["z"], window_t1=view["win_t1"],
                                           window_t2=view["win_t2"], heat_opacity=view["opacity"], study_label=sid,
                                           method=method_label(report.normalization)), "building the figure", fallback=b"")
        d2c.download_button("Save figure (PNG)", png, file_name=f"modic_{sid}_slice{view['z'] + 1}.png", mime="image/png",
                            key=f"cv_dl_png_{fp}", on_click="ignore",
                            help="The view on screen (slice, windows, Grad-CAM opacity) as a picture for slides, 150 dpi.")
        if sr_source is not None and not report.reliable:
            d3c.caption("DICOM SR: not offered, the T1/T2 alignment check failed.")
        elif sr_source is not None:
            def _sr() -> bytes:
                t1_headers = read_series_headers(*sr_source[:2])
                t2_headers = read_series_headers(*sr_source[2:]) if sr_source[2] is not None else ()
                return dicom_sr_bytes(report, study, t1_headers, t2_headers=t2_headers)

            sr = safe_call(_sr, "building the DICOM SR", fallback=b"")
            d3c.download_button("Findings (DICOM SR)", sr, file_name=f"modic_{sid}_sr.dcm", mime="application/dicom",
                                key=f"cv_dl_sr_{fp}", on_click="ignore",
                                help="Comprehensive 3D SR (TID 1500) referencing the T1 and T2 images of each level's "
                                     "slab, for PACS research use.")
        else:
            d3c.caption("DICOM SR: available when the T1 series is DICOM.")
        store_report_button(d4c, report, study, sr_source, study_label=sid, fp=fp)  # a study from the PACS only
    timings = " · ".join(f"{k.removesuffix('_s').replace('_', ' ')} {v:.2f} s" for k, v in (report.timings or {}).items())
    st.caption(f"Normalization: {method_label(report.normalization)} · threshold {report.threshold:.2f} · device "
               f"{report.device} · models: " + "; ".join(f"{k}: {v}" for k, v in report.weights.items())
               + (f" · timings (first run of each stage; later views reuse them): {timings}" if timings else ""))
