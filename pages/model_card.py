"""Model card: intended use, data provenance, the shipped models' records and metrics, known limits.

Every number about model performance on this page is read from the JSON files shipped in
``weights/``; none is typed in.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from modic_core.ui.comparison import (
    DEFAULT_RULE,
    best_method,
    calibration_table,
    comparison_methods,
    default_statement,
    group_table,
    load_comparison,
    reliability_chart,
    starred_method,
    summary_table,
)
from modic_core.detection.levels import ANCHOR_SURE
from modic_core.export.documents import method_label
from modic_core.ui.guard import guarded
from modic_core.ui.modelinfo import (card_headline, gradcam_chart, load_gradcam_audit, load_simulated_site, metrics_rows, model_records,
                                     provenance_rows, simulated_site_chart, simulated_site_frame, simulated_site_intro)
from modic_core.export.style import NOTICE_DETAIL
from modic_core.ui.versions import model_in_use_section

st.title("Model card")
with guarded("reading the headline figures"):
    opening = card_headline()
    if opening is None:
        st.info("The plain-language summary appears once the normalization comparison "
                "(weights/normalization_comparison.json) and the detector's record are installed and readable "
                "(the sections below say which is not).")
    else:
        st.markdown(opening[0])
        st.caption("Cross-validated figures behind it (as in the README; details in the tables below):")
        st.markdown(opening[1])
with guarded("reading the model in use"):
    model_in_use_section()  # the label store's active version (Model versions page), with its before/after

st.header("Intended use")
st.markdown(
    "- **What it does:** finds the intervertebral levels on a paired sagittal T1/T2 lumbar MRI (Faster R-CNN), grades "
    "each level as **MC0** (no Modic change), **MC1** or **MC2** with a small 3D CNN, and shows Grad-CAM maps of "
    "where the classifier looked. It compares intensity-normalization methods as in Cina et al. 2024 "
    "(*Brain & Spine* 4:102738).\n"
    "- **For:** research, method comparison and teaching by spine surgeons, radiologists and engineers.\n"
    "- **Not for:** diagnosis, treatment decisions, triage or any clinical use. Results must not enter a patient record.\n"
    f"- {NOTICE_DETAIL}"
)

st.header("Data provenance")
st.markdown(
    "- **Source:** SPIDER lumbar spine MRI dataset — J.W. van der Graaf et al., \"Lumbar spine segmentation in MR "
    "images: a dataset and a public benchmark\", *Scientific Data* 11:264 (2024), doi:10.1038/s41597-024-03090-w; "
    "data on Zenodo (doi:10.5281/zenodo.10159290). Licence: **CC BY 4.0**.\n"
    "- **Subset used:** 153 studies with paired sagittal T1 and T2 series and per-disc Modic grades (the classifiers use the 145 whose T2 lines up with T1); from each series "
    "a **single mid-sagittal slice**, exported as **8-bit** images (min-max stretched). Disc boxes come from a "
    "third-party annotation of the same slices and exist for a subset of the studies (the detector's record below "
    "lists how many it was trained on).\n"
    "- **Bundled demo cases:** three of these studies (credited in `demo/README.md`) and a synthetic phantom."
)

st.header("Shipped models")
with guarded("reading the model records"):
    records = model_records()
    overview = pd.DataFrame([{
        "model": r.name,
        "weights installed": "yes" if r.weights_present else "no",
        "training record": r.file if r.present else "unreadable (see below)" if r.error else "not trained yet",
    } for r in records])
    st.dataframe(overview, hide_index=True, key="mc_overview")
    for r in records:
        if r.error:
            st.error(r.error)
    present = [r for r in records if r.present]
    if not present and not any(r.error for r in records):
        st.info("No model has been trained yet: no training record (weights/detector.json, weights/classifier_<method>.json) "
                "is installed. Metrics will appear here once they exist; none are shown before.")
    for r in present:
        with st.expander(f"{r.name} — {r.file}", expanded=r.name == "detector"):
            st.dataframe(pd.DataFrame(provenance_rows(r.card), columns=["field", "value"]), hide_index=True,
                         key=f"mc_prov_{r.file}")
            rows = metrics_rows(r.card)
            if rows:
                st.markdown("**Cross-validated metrics** (95% CIs where given)")
                st.dataframe(pd.DataFrame(rows, columns=["metric", "value"]), hide_index=True, key=f"mc_metrics_{r.file}")
            else:
                status = getattr(r.card, "cross_validation_status", None)
                st.caption("This record holds no metrics yet" + (f" (cross-validation: {status})." if status else "."))

st.header("Normalization comparison")
comp = None
with guarded("reading the normalization comparison"):
    comp = load_comparison()
    methods = comparison_methods(comp)
    if comp is None or not methods:
        st.info("The comparison (weights/normalization_comparison.json) has not been computed yet.")
    else:
        best = starred_method(comp)
        if best:
            st.markdown(f"Best method in the shipped comparison: **{method_label(best)}** ★.")
        st.markdown(default_statement(comp))
        st.caption(f"Rule: {DEFAULT_RULE}")
        st.dataframe(summary_table(methods, best=best).drop(columns=["key"]), hide_index=True, key="mc_comparison")
        st.markdown("**By scanner** (maker and field strength; 95% CIs; \"too few cases\" where a group is too small)")
        st.dataframe(group_table(methods), hide_index=True, key="mc_groups")
        cal = calibration_table(methods)
        if len(cal):
            st.markdown("**Calibration** (temperature scaling on out-of-fold predictions; ECE with 15 equal-width bins of "
                        "the top-label probability; after scaling and the uncertain-level figures are nested over the folds)")
            st.dataframe(cal, hide_index=True, key="mc_calibration")
            with_cal = [m for m in methods if m.calibration is not None]
            names = [m.name for m in with_cal]
            default = best_method(comp)  # the sidebar's default method: the diagram opens on it
            pick = st.selectbox("Reliability diagram of", names, key="mc_rel_method", format_func=lambda n: method_label(n),
                                index=names.index(default) if default in names else 0)
            chosen = next(m for m in with_cal if m.name == pick)
            st.plotly_chart(reliability_chart(chosen.calibration), key="mc_reliability")
            st.caption("Old \"uncertain\" flag's rule (replaced by prediction sets): " + chosen.calibration.threshold_rule)
        else:
            st.caption("No calibration in the shipped comparison yet (it is written by the next "
                       "`python -m modic_core.train.compare` run).")
        st.caption("Details and charts: Cohort comparison page.")

st.header("Prediction sets: what the model cannot rule out")
with guarded("reading the prediction-set evaluation"):
    from modic_core.evaluation.summary import conformal_table, risk_coverage_table, shift_table, variants_table
    from modic_core.ui.modelinfo import SET_MEANING, load_conformal, risk_coverage_chart

    conf = load_conformal()
    if conf is None:
        st.info("The prediction sets have not been calibrated on this installation (weights/conformal.json is absent): "
                "levels show no grade set.")
    else:
        st.markdown(SET_MEANING)
        st.markdown(conformal_table(conf))
        st.markdown("**Risk-coverage** (nested cross-validation): a lower coverage gives more single grades, each less often right.")
        st.plotly_chart(risk_coverage_chart(conf), key="mc_risk_coverage")
        st.markdown(risk_coverage_table(conf))
        if conf.shift:
            st.markdown("**Under scanner shift** (a model that never saw the tested group):")
            st.markdown(shift_table(conf))
        if conf.variants:
            st.markdown("**Training changes tried for more single grades** (same cross-validation, paired by patient):")
            st.markdown(variants_table(conf))
        for note in conf.notes:
            st.caption(note)
        st.caption(f"Measured by `{conf.command}`.")

st.header("Explanations: do the heat maps point at the marrow?")
with guarded("reading the Grad-CAM audit"):
    from modic_core.evaluation.summary import gradcam_table

    cam_audit = load_gradcam_audit()
    if cam_audit is None:
        st.info("The Grad-CAM audit (weights/gradcam_audit.json) has not been run on this installation: heat maps are "
                "scaled per level.")
    else:
        st.markdown("Modic changes lie in the vertebral marrow beside the endplates. On real boxed discs, each explanation "
                    "variant's map is split into the disc band (middle of the disc region), the two marrow bands above and "
                    "below it and the rest of the crop. ★ = the variant the app shows.")
        st.plotly_chart(gradcam_chart(cam_audit), key="mc_gradcam")
        st.markdown(gradcam_table(cam_audit))
        st.caption("Measured by `python -m modic_core.train.gradcam_audit`. Heat-map colour scale: each method's maps are "
                   "divided by one fixed value measured there for its weights, so a colour means the same in every level "
                   "and study.")

st.header("T1/T2 pairing check")
st.markdown(
    "Before grading, every study is checked: series of **different patients are refused**; different studies, dates "
    "or patient age/sex give a warning. Then the discs are found on T1 and on T2 separately and matched: a T2 is "
    "*aligned* when at least 4 discs (or all, if fewer were found) match within 4 mm and their median distance is at "
    "most 3 mm (the rule the SPIDER-derived training data used). If the headers do not share a frame of reference, or "
    "the check fails, T2 is moved so that its discs meet the T1's (translation only) and measured again. A failed check "
    "is a red warning: the grades are marked unreliable and no DICOM SR is offered. Levels whose region lies less than "
    "75 % inside the T2 field of view are not graded."
)
with guarded("reading the pairing audit"):
    from modic_core.evaluation.summary import pairing_table
    from modic_core.schema import PairingAudit
    from modic_core.settings import weights_dir

    audit_path = weights_dir() / "pairing_audit.json"
    if audit_path.is_file():
        audit = PairingAudit.load(audit_path)
        st.markdown(pairing_table(audit))
        passed = ", ".join(audit.not_aligned_pairs.get("passed_on_header", [])) or "none"
        st.caption(f"Measured on the {audit.n_studies} SPIDER-derived pairs by `python -m modic_core.train.pairing_audit`. "
                   "Limits: single-slice exports carry no through-plane position, so a T2 taken in another parasagittal "
                   f"plane passes when its vertebrae line up in-plane (cohort 'not aligned' pairs that passed: {passed}); "
                   "multi-slice series get a through-plane check; rotations are not corrected.")
    else:
        st.info("The pairing audit has not been run on this installation.")

st.header("Level names on a scanner maker the detector never saw")
with guarded("reading the leave-one-maker-out check"):
    from modic_core.evaluation.summary import transfer_flag_table, transfer_table
    from modic_core.schema import DetectorTransfer
    from modic_core.settings import weights_dir

    transfer_path = weights_dir() / "detector_transfer.json"
    if transfer_path.is_file():
        st.markdown("The detector's recipe trained on one maker's boxed studies (Philips or Siemens) and scored on the "
                    "other's, next to the 5-fold cross-validation of the same studies, at detector confidence 0.5. "
                    "*IoU* is the overlap of a detected box with the reference box (intersection over union). A *false "
                    "positive in the graded column* is a detected region between the top and bottom graded discs that "
                    "matches no reference disc. The L5-S1 columns count the images whose graded discs include L5-S1; "
                    "'L5-S1 wrong, not flagged' counts those where L5-S1 was not named right (or its box overlaps the "
                    "reference by IoU < 0.5) while the report did not say 'level naming uncertain'.")
        transfer = DetectorTransfer.load(transfer_path)
        st.markdown(transfer_table(transfer))
        st.markdown("What the low-anchor flag changes (an L5-S1 anchor scored below the cut-off still names the levels "
                    "but flags the naming uncertain; the cut-off was chosen after these runs, so its gain here is in-sample):")
        st.markdown(transfer_flag_table(transfer))
        sizes = " or ".join(str(g["train_studies"]) for g in transfer.groups.values())
        st.caption(f"Measured by `python -m modic_core.train.detector_transfer`. The one-maker models saw fewer studies "
                   f"({sizes}) than the 5-fold CV models ({transfer.five_fold_cv_train_studies}), so part of the drop is "
                   "the smaller training set.")
    else:
        st.info("The leave-one-maker-out check has not been run on this installation.")

st.header("Known limits")
n_mc1 = comp.class_counts.get("MC1") if comp is not None else None
mc1_text = f"{n_mc1} discs in the evaluated data" if n_mc1 is not None else "4 discs in the SPIDER labels used"
st.markdown(
    f"- **MC1 is very rare** ({mc1_text}): no sensitivity or other per-class number is reported for MC1 "
    "(shown as \"too few cases\"); balanced accuracy and macro-F1, which average over classes, are unstable because of it. "
    "The MC0-vs-MC2 balanced accuracy does not depend on MC1.\n"
    "- **MC3 is excluded**: discs graded Modic type 3 were left out of training and scoring; the model has no MC3 class.\n"
    "- **8-bit, single-slice data**: trained on one mid-sagittal slice per series, min-max stretched to 8 bits. Full "
    "DICOM series (16-bit, many slices) are handled by classifying the central slices, which the model never saw in training.\n"
    "- **No external validation yet**: all figures are cross-validated on one public dataset (few scanners and sites).\n"
    "- **Level names** are fixed once per study for every threshold: boxes off the disc column and duplicates are "
    "dropped; the detector has a class of its own for the L5-S1 region (the disc on the sacrum), and names count "
    "upward from the region it scores highest as L5-S1, leaving a gap for a missed disc (docs/level_names.md). "
    "When no region scores as L5-S1, the lowest confident disc is taken as L5-S1 and the naming is flagged uncertain. "
    "**Transitional vertebrae** (lumbarised S1, sacralised L5) cannot be told from a lumbar field of view: the count "
    "assumes five lumbar vertebrae, like SPIDER's own numbering. The report says 'level naming uncertain' when L5-S1 "
    f"was not found or found with low confidence (below {ANCHOR_SURE:g}), when a region between two discs was taken for a "
    "vertebral body, or when few discs, a gap or irregular spacing were found; the viewer lets the user shift or rename levels.\n"
    "- **Grad-CAM** is a coarse explanation of the classifier, not a lesion segmentation."
)

st.header("Citation")
st.markdown(
    "Cina A, et al. *Brain & Spine* 4 (2024) 102738 — intensity normalization for Modic change classification. "
    "van der Graaf JW, et al. *Sci Data* 11, 264 (2024) — SPIDER dataset (CC BY 4.0)."
)

st.header("A simulated site: fine-tuning on 20 reviewed studies")
site = load_simulated_site()
if site is None:
    st.info("The simulated site has not been run on this installation (`python -m modic_core.train.simulated_site`).")
else:
    st.markdown(simulated_site_intro(site))
    st.plotly_chart(simulated_site_chart(site), key="mc_simulated_site")
    st.dataframe(pd.DataFrame(simulated_site_frame(site)), hide_index=True, key="mc_simulated_site_table")
    st.caption(f"From `weights/simulated_site.json` ({site.command}); docs/labels.md explains the choices.")
