"""Cohort comparison: the shipped normalization comparison, and the same scores on a user's labelled cohort."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import streamlit as st

from modic_core.batch.local import run_cohort
from modic_core import settings
from modic_core.io.csv_safe import escape_frame
from modic_core.ui import runtime as rt
from modic_core.schema import CohortMetrics
from modic_core.ui.comparison import (
    DEFAULT_RULE,
    MethodResult,
    best_method,
    calibration_table,
    comparison_methods,
    default_statement,
    group_table,
    confusion_matrix_figure,
    group_chart,
    load_comparison,
    metric_chart,
    paired_chart,
    sensitivity_chart,
    starred_method,
    summary_table,
)
from modic_core.export.documents import method_label
from modic_core.ui.agreement import agreement_section
from modic_core.ui.guard import guarded
from modic_core.ui.uploads import check_upload_size, resolve_server_folder

st.title("Cohort comparison")
st.caption("How the intensity-normalization methods compare (Cina et al. 2024, Brain & Spine 4:102738), "
           "with 95% confidence intervals from a patient-level bootstrap.")


def show_results(methods: list[MethodResult], *, best: str | None, key: str) -> None:
    """Table, score charts, sensitivities, confusion matrices and the per-scanner breakdown."""
    st.dataframe(summary_table(methods, best=best).drop(columns=["key"]), hide_index=True, key=f"{key}_table")
    paired = paired_chart(methods)
    if paired is not None:
        st.plotly_chart(paired, key=f"{key}_paired")
    st.plotly_chart(metric_chart(methods, best=best), key=f"{key}_metrics")
    st.plotly_chart(sensitivity_chart(methods), key=f"{key}_sens")
    st.markdown("**Confusion matrices** (rows = true class, columns = predicted; share of each true class). "
                "Grey rows: too few cases of that class for a meaningful share.")
    with_report = [m for m in methods if m.report]
    for start in range(0, len(with_report), 3):
        cols = st.columns(3)
        for col, m in zip(cols, with_report[start:start + 3]):
            col.plotly_chart(confusion_matrix_figure(m.report, title=m.label + (" ★" if m.name == best else "")),
                             key=f"{key}_cm_{m.name}")
    group_cols = sorted({c for m in methods for c in m.groups})
    if group_cols:
        st.markdown("**By scanner**")
        c1, c2 = st.columns(2)
        col = c1.radio("Group by", group_cols, horizontal=True, key=f"{key}_group",
                       format_func=lambda c: {"manufacturer": "manufacturer", "field_strength_t": "field strength (T)"}.get(c, c))
        metric = c2.radio("Score", ["balanced_accuracy", "mc0_vs_mc2"], horizontal=True, key=f"{key}_gmetric",
                          format_func=lambda m: {"balanced_accuracy": "balanced accuracy", "mc0_vs_mc2": "MC0-vs-MC2"}[m])
        st.plotly_chart(group_chart(methods, col, metric=metric), key=f"{key}_groups")
        st.dataframe(group_table(methods, column=col), hide_index=True, key=f"{key}_group_table")
        st.caption("95% CIs from a patient-level bootstrap within each group. \"too few cases\": fewer than 10 discs in "
                   "the group, or fewer than 10 MC0 or MC2 discs for the MC0-vs-MC2 score; such scores are not measurements.")
    cal = calibration_table(methods)
    if len(cal):
        st.markdown("**Calibration and uncertain levels** (out-of-fold; ECE after scaling and uncertainty figures nested "
                    "over the folds; model card: reliability diagrams)")
        st.dataframe(cal, hide_index=True, key=f"{key}_calibration")
    notes = sorted({n for m in methods if m.report for n in m.report.notes or []})
    for n in notes:
        st.caption(f"Note: {n}")


# --------------------------------------------------------------------------- the shipped comparison

st.header("Shipped comparison")
with guarded("showing the shipped comparison"):
    comp = load_comparison()  # a file of another version: SchemaError, shown as a message by guarded()
    methods = comparison_methods(comp)
    if comp is None or not methods:
        st.info("The normalization comparison has not been computed yet (weights/normalization_comparison.json is not "
                "installed), so there is nothing to show here. No numbers are shown until it exists.")
    else:
        best = starred_method(comp)  # only a method that beat z-score by the rule gets the star
        default = best_method(comp, default="")
        facts = [f"{comp.n_discs} discs"]
        if best:
            facts.append(f"best method: **{method_label(best)}** ★")
        elif default:
            facts.append(f"default method: **{method_label(default)}**")
        st.markdown(" · ".join(facts))
        st.info(default_statement(comp))
        st.caption(f"Rule: {DEFAULT_RULE}")
        for note in comp.notes:
            st.caption(f"Note: {note}")
        show_results(methods, best=best or None, key="shipped")

# --------------------------------------------------------------------------- a user's cohort

st.header("Run on your own labelled cohort")
st.markdown(
    "A cohort is a folder (or a zip of one) with `studies.csv` (study_id, t1, t2 — image paths relative to the "
    "folder — and optionally manufacturer, field_strength_t) and `levels.csv` (study_id, level, modic 0–3, "
    "optionally the box x0, y0, x1, y1). Studies are analysed with the normalization and threshold chosen in the sidebar."
)
normalization, threshold = rt.current_settings()
ready, why = rt.models_ready(normalization)
if not ready:
    st.info(why)
server_folders = settings.allowed_server_folders()
if server_folders:
    kind = st.radio("Cohort source", ["Zip upload", "Folder on the server"], horizontal=True, key="cc_kind")
else:
    kind = "Zip upload"
    st.caption("Reading cohort folders on the server is off. An administrator can allow it for chosen folders "
               "by setting MODIC_SERVER_FOLDERS (folders separated by ':') before starting the app.")
folder = None
upload = None
if kind == "Folder on the server":
    folder = st.text_input("Cohort folder (path on the machine running this app)", key="cc_folder",
                           placeholder=str(server_folders[0] / "my_cohort"),
                           help="Allowed: inside " + ", ".join(f.name or str(f) for f in server_folders))
else:
    upload = st.file_uploader("Zip of a cohort folder", type=["zip"], key="cc_zip")
go = st.button("Analyse the cohort", type="primary", disabled=not ready or not (folder or upload), key="cc_go")

if go:
    bar = st.progress(0.0, text="Starting…")

    def progress(i: int, n: int, sid: str) -> None:
        bar.progress(i / n if n else 1.0, text=f"Study {i + 1} of {n}" if i < n else f"Done: {n} studies")

    with guarded("analysing a cohort") as g, tempfile.TemporaryDirectory(prefix="modic_cohort_") as tmp:
        if upload is not None:
            check_upload_size([upload])
            src = Path(tmp) / "cohort.zip"
            src.write_bytes(upload.getvalue())
        else:
            src = resolve_server_folder(str(folder), server_folders)
        run = run_cohort(src, normalization=normalization, threshold=threshold, progress=progress,
                         analysis_factory=rt.get_store().factory)
        raw = run.report(n_boot=500) if run.has_labels else None
        report = CohortMetrics.body_from_dict(raw, source="the cohort's metrics") if raw else None
        st.session_state["cc_result"] = {
            "predictions": run.predictions(), "status": run.status_frame(), "report": report,
            "normalization": normalization, "threshold": threshold,
        }
    if not g.ok:
        bar.empty()

res = st.session_state.get("cc_result")
if res:
    st.subheader(f"Your cohort · {method_label(res['normalization'])} · threshold {res['threshold']:.2f}")
    status = res["status"]
    n_ok = int((status["status"] == "ok").sum()) if len(status) else 0
    st.markdown(f"{len(status)} studies analysed, {n_ok} without error, {len(res['predictions'])} levels detected.")
    bad = status[status["status"] != "ok"] if len(status) else status
    if len(bad):
        st.warning(f"{len(bad)} studies could not be analysed:")
        st.dataframe(bad[["study_id", "status", "message"]], hide_index=True, key="cc_bad")
    rep: CohortMetrics | None = res["report"]
    if rep is not None and rep.classification is not None:
        mine = [MethodResult(res["normalization"], method_label(res["normalization"]), rep.classification,
                             groups=rep.by_group)]
        st.caption(f"Scored discs: {rep.classification.n_discs} · MC3 excluded: {rep.n_mc3_excluded} · "
                   f"labelled discs without a prediction: {rep.n_missing_predictions}")
        show_results(mine, best=None, key="user")
    elif rep is not None:
        st.info("No labelled disc could be matched to a prediction, so no score can be computed.")
    else:
        st.info("The cohort has no labels (levels.csv with a modic column), so only the predictions are shown.")
    st.dataframe(res["predictions"], hide_index=True, key="cc_preds")
    c1, c2, _ = st.columns([1, 1, 2])
    c1.download_button("Predictions (CSV)", escape_frame(res["predictions"]).to_csv(index=False).encode(), file_name="cohort_predictions.csv",
                       mime="text/csv", key="cc_dl_csv", on_click="ignore")
    if rep:
        c2.download_button("Metrics report (JSON)", json.dumps(rep.to_dict(), indent=1).encode(), file_name="cohort_metrics.json",
                           mime="application/json", key="cc_dl_json", on_click="ignore")

# --------------------------------------------------------------------------- reviewer agreement (label store)

agreement_section()
