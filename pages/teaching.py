"""Teaching: cases whose truth is known (real SPIDER levels, synthetic MC1 painted on real anatomy, phantom
levels), a quiz (grade first, then see the truth and the model), where the model fails and why, and the
synthetic phantom explorer."""
from __future__ import annotations

import streamlit as st

from modic_core.ui import runtime as rt
from modic_core.ui.quiz import GRADES, QuizScore, case_figures, catalogue_rows, model_reading, quiz_cases, quiz_label
from modic_core.ui.teaching_cases import (
    CATALOGUE_NORMALIZATION,
    CATALOGUE_THRESHOLD,
    TeachingCase,
    case_box,
    case_label,
    case_level,
    case_slice,
    case_study,
    cases,
)
from modic_core.export.documents import method_label
from modic_core.ui.guard import guarded
from modic_core.ui.comparison import load_comparison
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

QUIZ, BROWSE, PHANTOM = "Quiz", "Case browser", "Synthetic phantom explorer"
GROUPS = {
    "Real studies (SPIDER)": dict(source="real", role="example"),
    "Lesion-inserted (real anatomy + synthetic MC1)": dict(source="inserted", role="example"),
    "Synthetic phantom": dict(source="phantom", role="example"),
    "Where the model fails, and why": dict(role="failure"),
}

st.title("Teaching: Modic changes")
mode = st.radio("Mode", [QUIZ, BROWSE, PHANTOM], horizontal=True, key="tp_mode")


@st.cache_resource(show_spinner="Preparing the case…", max_entries=16)
def teaching_study(key: str, _case: TeachingCase):
    """The case's study (a demo study, with the lesion painted in for an inserted case), built once per process."""
    return case_study(_case)


def case_report(case: TeachingCase):
    """The report of the case's study with the catalogue's settings (cached by the session's analysis store)."""
    return analysed_or_stop(teaching_study(case.key, case), CATALOGUE_NORMALIZATION, CATALOGUE_THRESHOLD, what="case")


def analysed_or_stop(study, normalization: str, threshold: float, *, what: str):
    """The study's report; the page stops with a sentence when the models are missing or the analysis fails."""
    ready, why = rt.models_ready(normalization)
    if not ready:
        st.info(why)
        st.stop()
    report = None
    with st.spinner(f"Analysing the {what}…"), guarded(f"analysing a teaching {what}"):
        report = rt.analyse(study, normalization, threshold, fingerprint=rt.fingerprint_of(study))
    if report is None:
        st.stop()
    return study, report


def show_images(case: TeachingCase, study, level=None, *, key: str) -> None:
    figs = case_figures(study, case_box(case), case_slice(case), level=level)
    for col, fig, name in zip(st.columns(3), figs, ("t1", "t2", "cam")):
        col.plotly_chart(fig, key=f"{key}_{name}")


def show_reading(case: TeachingCase, *, key: str) -> None:
    """Truth, the model's grade, set and probabilities, the Grad-CAM and, for a failure case, why."""
    study, report = case_report(case)
    level = case_level(case, report.levels)
    seen = model_reading(case, level)
    if seen["found"]:
        st.markdown(f"Truth: **{case.truth}** · model: **{seen['prediction']}** "
                    f"({'right' if seen['right'] else 'wrong'}) · prediction set: **{seen['set']}** · {seen['probabilities']}")
    else:
        st.markdown(f"Truth: **{case.truth}** · model: the detector found no region at this level "
                    f"(threshold {CATALOGUE_THRESHOLD:.2f}).")
    if case.insertion is not None:
        st.caption(f"Lesion inserted: {case.insertion.text} (Modic type 1, painted on a level graded MC0).")
    if case.role == "failure":
        st.error(f"**Where the model fails, and why.** {case.why}")
    elif case.why:
        st.caption(case.why)
    if not seen["as_catalogued"]:
        st.warning(f"The installed model reads this case differently from the catalogue's run "
                   f"({case.measured.text}): the weights have changed since the catalogue was checked.")
    show_images(case, study, level, key=key)
    st.caption(f"Graded with {method_label(CATALOGUE_NORMALIZATION)} at detector threshold {CATALOGUE_THRESHOLD:.2f}, "
               "the settings the catalogue was checked with (the sidebar's choice applies to the other pages). "
               "Grad-CAM shows which voxels raised the score of the predicted class most: a rough guide to where "
               "the model looked, not a segmentation of the lesion.")


if mode == QUIZ:
    st.caption("Pick a case, look at the level in the box and grade it yourself. Nothing of the model is shown "
               "until you press Check. Some cases are real levels with a synthetic lesion painted in, and some are "
               "ones the model gets wrong; both are named after the check.")
    pool = quiz_cases()
    i = st.selectbox("Case", range(len(pool)), format_func=lambda k: quiz_label(k, pool[k]), key="tq_case")
    case = pool[int(i)]
    done = st.session_state.setdefault("tq_done", {})
    score = st.session_state.setdefault("tq_score", QuizScore())
    pictures = st.container()  # the level to grade, or after Check the model's reading
    answer = st.radio("Your grade", GRADES, index=None, horizontal=True, key=f"tq_answer_{i}",
                      disabled=case.key in done)
    if st.button("Check", key="tq_check", disabled=answer is None or case.key in done, type="primary"):
        done[case.key] = answer
        st.session_state["tq_score"] = score.add(key=case.key, right=answer == case.truth)
        st.rerun()  # redraw with the answer locked
    if case.key in done:
        mine = done[case.key]
        with pictures:
            (st.success if mine == case.truth else st.error)(
                f"Your grade: **{mine}** — {'right' if mine == case.truth else 'the truth is ' + case.truth}. "
                f"This was {case_label(case)}.")
            show_reading(case, key="tq_read")
    else:
        with pictures:
            show_images(case, teaching_study(case.key, case), key="tq_img")
    st.markdown(f"**Score:** {score.text}")
    st.stop()

if mode == BROWSE:
    group = st.radio("Cases", list(GROUPS), horizontal=True, key="tb_group")
    chosen = cases(**GROUPS[group])
    if GROUPS[group].get("role") == "failure":
        st.caption("Cases whose truth is known and that the shipped model misreads: never teaching material on their "
                   "own, each with what the model says and the likely reason.")
        st.dataframe(catalogue_rows(chosen), hide_index=True, key="tb_failures")
    else:
        st.caption("Cases whose truth is known and that the shipped model reads right (checked by the tests).")
    case = st.selectbox("Case", chosen, format_func=case_label, key=f"tb_case_{list(GROUPS).index(group)}")
    show_reading(case, key="tb_read")
    st.stop()

st.warning("**SYNTHETIC PHANTOM — not a patient.** Computer-generated images for teaching the textbook signal of each "
           "Modic type; the anatomy and signal are simplified. Nothing on this page is a diagnosis.",
           icon=":material/science:")


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

st.subheader("What the model makes of the phantom")
st.warning("**Not teaching material for the model.** The phantom is outside what the model learned from real SPIDER "
           "slices: it calls most normal phantom levels MC2 and the phantom's MC2 MC1, and it has no MC3 class. The "
           "signal chart above is the lesson; the grade below shows a model failing (Case browser → \"Where the model "
           "fails, and why\").", icon=":material/report:")
normalization, threshold = rt.current_settings()
study, report = analysed_or_stop(ph.to_study(), normalization, threshold, what="phantom")


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
