"""Teaching: synthetic phantoms with a chosen Modic change, its T1/T2 signal, and what the model makes of it."""
from __future__ import annotations

import streamlit as st

from modic_core.ui import runtime as rt
from modic_core.export.documents import method_label
from modic_core.ui.guard import guarded
from modic_core.export.style import CLASS_DESCRIPTIONS, class_color
from modic_core.ui.teaching import (
    ENDPLATES,
    EXPECTED_SIGNAL,
    TEACHING_LEVELS,
    match_level,
    mc1_note,
    signal_chart,
    signal_summary,
    teaching_phantom,
    truth_summary,
    truth_table,
)
from modic_core.export.render import (
    compose_rgb,
    crop,
    crop_bounds,
    crop_figure,
    slice_figure,
    slice_heatmap,
    to_display,
    window_defaults,
)

st.title("Teaching: Modic changes on a synthetic spine")
st.warning("**SYNTHETIC PHANTOM — not a patient.** Computer-generated images for teaching; the anatomy and signal are "
           "simplified. Nothing on this page is a diagnosis.", icon=":material/science:")


@st.cache_resource(show_spinner="Generating the phantom…", max_entries=16)
def phantom(level: str, grade: int, endplate: str, seed: int):
    return teaching_phantom(level, grade, endplate, seed=seed)


c1, c2, c3, c4 = st.columns([1, 1.4, 1.2, 0.8])
level = c1.selectbox("Level", TEACHING_LEVELS, index=TEACHING_LEVELS.index("L4-L5"), key="tp_level")
grade = c2.radio("Modic change", [0, 1, 2, 3], index=2, horizontal=True, key="tp_grade", format_func=lambda g: f"MC{g}")
endplate = c3.radio("Endplate", list(ENDPLATES), index=2, horizontal=True, key="tp_endplate", disabled=grade == 0)
seed = c4.number_input("Anatomy", min_value=1, max_value=50, value=11, step=1, key="tp_seed",
                       help="Another seed gives another synthetic spine and scanner.")
st.info(EXPECTED_SIGNAL[int(grade)])


@st.cache_data(show_spinner=False)
def real_mc1_count() -> int | None:
    from modic_core.ui.comparison import load_comparison

    try:
        comp = load_comparison()
    except Exception:  # noqa: BLE001 - an unreadable file: the note says "a handful"
        return None
    return None if comp is None else (comp.class_counts or {}).get("MC1")


ph = None
with guarded("generating a teaching phantom"):
    ph = phantom(level, int(grade), endplate, int(seed))
if ph is None:
    st.stop()

truth = ph.level(level)
z = (truth.z_range[0] + truth.z_range[1]) // 2
if truth.lesion_z_range:
    z = (truth.lesion_z_range[0] + truth.lesion_z_range[1]) // 2
ny, nx = ph.t1.shape[1:]
g1 = to_display(ph.t1.array[z], window_defaults(ph.t1.array))
g2 = to_display(ph.t2.array[z], window_defaults(ph.t2.array))


class _Truth:  # draws the true level like a detection, labelled "truth"
    def __init__(self, lv):
        self.level, self.box, self.z_range = lv.level, lv.box, lv.z_range
        self.prediction = f"MC{lv.modic}" if lv.modic < 3 else "MC3"
        self.probabilities = {}


left, right = st.columns([2, 1])
with left:
    a, b = st.columns(2)
    a.plotly_chart(slice_figure(compose_rgb(g1), [_Truth(truth)], z=z, title=f"T1 (synthetic) · truth {_Truth(truth).prediction} at {level}",
                                height=420), key="tp_t1")
    b.plotly_chart(slice_figure(compose_rgb(g2), [_Truth(truth)], z=z, title="T2 (synthetic)", height=420), key="tp_t2")
with right:
    summary = signal_summary(ph, level)
    st.plotly_chart(signal_chart(summary), key="tp_signal")
    if summary["n_lesion_voxels"]:
        st.caption(f"Median signal of the lesion relative to normal vertebral marrow: T1 {summary['T1']['ratio']:.2f}×, "
                   f"T2 {summary['T2']['ratio']:.2f}×.")

st.subheader("What the model predicts")
normalization, threshold = rt.current_settings()
ready, why = rt.models_ready(normalization)
if not ready:
    st.info(why)
    st.stop()
report = None
with st.spinner("Analysing the phantom…"), guarded("analysing a teaching phantom"):
    study = ph.to_study()
    report = rt.analyse(study, normalization, threshold, fingerprint=rt.fingerprint_of(study))
if report is None:
    st.stop()


def show_truth_table() -> None:
    st.markdown("**Truth beside prediction at every level of this phantom**")
    table = truth_table(ph.levels, report.levels)
    st.dataframe(table, hide_index=True, key="tp_truth")
    st.caption(truth_summary(table) + " " + mc1_note(real_mc1_count()))


lv = match_level(report.levels, truth.box)
if lv is None:
    show_truth_table()
    st.warning(f"The detector found no region overlapping {level} at the threshold {threshold:.2f}. "
               "Try a lower threshold in the sidebar.")
    st.stop()
probs = " · ".join(f"P({k}) = {v:.2f}" for k, v in lv.probabilities.items())
verdict = ("correct" if lv.prediction == f"MC{grade}" else
           "no MC3 class in the model" if grade == 3 else "differs from the truth")
st.markdown(f"Truth: **MC{grade}** at {level} · model ({method_label(normalization)}): "
            f"<span style='background:{class_color(lv.prediction)};color:black;padding:0 4px'>**{lv.prediction}**</span> "
            f"({verdict}) · {probs} · detected as {lv.level}, confidence {lv.score:.2f}", unsafe_allow_html=True)
st.caption(CLASS_DESCRIPTIONS.get(lv.prediction, ""))
show_truth_table()
zf = z if lv.z_range[0] <= z <= lv.z_range[1] else (lv.z_range[0] + lv.z_range[1]) // 2
bounds = crop_bounds(lv.box, (ny, nx))
inner = (lv.box[0] - bounds[2], lv.box[1] - bounds[0], lv.box[2] - bounds[2], lv.box[3] - bounds[0])
heat = slice_heatmap([lv], zf, (ny, nx))
g1f = to_display(ph.t1.array[zf], window_defaults(ph.t1.array))
g2f = to_display(ph.t2.array[zf], window_defaults(ph.t2.array))
c1, c2, c3 = st.columns(3)
color = class_color(lv.prediction)
c1.plotly_chart(crop_figure(compose_rgb(crop(g1f, bounds)), title="T1", box_in_crop=inner, color=color), key="tp_c1")
c2.plotly_chart(crop_figure(compose_rgb(crop(g2f, bounds)), title="T2", box_in_crop=inner, color=color), key="tp_c2")
c3.plotly_chart(crop_figure(compose_rgb(crop(g1f, bounds), None if heat is None else crop(heat, bounds), 0.6),
                            title=f"Grad-CAM ({lv.prediction})", box_in_crop=inner, color=color), key="tp_c3")
st.caption("Grad-CAM shows which voxels raised the score of the predicted class most; it is a rough guide to where the "
           "model looked, not a segmentation of the lesion.")
