"""Markdown tables of the shipped results, read from the JSON files the training and benchmark
scripts wrote (``python -m modic_core.evaluation.summary``). The pages in ``docs/`` quote this output verbatim (``tests/evaluation/test_summary.py``)."""
from __future__ import annotations

from pathlib import Path

from modic_core.evaluation.method_choice import DEFAULT_RULE, choose_default
from modic_core.schema import (BatchScaling, Benchmark, BrowserBenchmark, ConformalEvaluation, DetectorCard, DetectorTransfer, Estimate, GradcamAudit, GradingExperiments, LearningCurve,
                               NamingAudit, NormalizationComparison, PairingAudit, RobustnessCheck, SetMetrics, SyntheticMC1)
from modic_core.settings import project_root

__all__ = ["detector_table", "comparison_table_md", "bench_table", "pairing_table", "naming_table", "transfer_table", "transfer_flag_table", "batch_scaling_tables", "browser_table", "gradcam_table",
           "learning_curve_table", "conformal_table", "shift_table", "risk_coverage_table", "variants_table", "main"]

ROOT = project_root()


def _d(e: Estimate | None) -> str:
    if not e:
        return "n/a"
    if e.too_few:
        return e.display or "too few cases"
    return e.display or ("n/a" if e.value is None else f"{e.value:.3f}")


def detector_table(card: DetectorCard) -> str:
    cv = card.cross_validation
    if not cv:
        return "Detector cross-validation: not run yet."
    lines = [f"Detector, patient-level {len(card.folds)}-fold cross-validation on {card.data.n_studies} boxed studies "
             f"(threshold {cv.default_threshold}; status: {card.cross_validation_status}):", "",
             "| image | mean IoU | discs with IoU >= 0.7 | recall at IoU 0.5 | false positives / image | level names right |",
             "|---|---|---|---|---|---|"]
    for seq, r in cv.at_default().items():
        lines.append(f"| {seq} | {_d(r.mean_iou)} | {_d(r.recall.get('0.7'))} | {_d(r.recall.get('0.5'))} | "
                     f"{_d(r.fp_per_image)} | {_d(r.level_accuracy)} |")
    return "\n".join(lines)


def _syn(s: SyntheticMC1 | None) -> str:
    return "not measured" if not s else f"{s.sensitivity:.3f} (n={s.n})"


def comparison_table_md(doc: NormalizationComparison) -> str:
    lines = [f"Classifier per normalization, pooled 5-fold patient-level cross-validation ({doc.n_discs} discs, "
             f"{doc.n_patients} patients; classes {doc.class_counts}; regions from {doc.box_source_counts}):", "",
             "| method | MC0 vs MC2 balanced acc. | sens. MC0 | sens. MC1 | sens. MC2 | balanced acc. (3 classes) | macro-F1 | weighted-F1 | kappa | MC0-vs-MC2 diff. to zscore | synthetic-MC1 sens. |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, e in doc.methods.items():
        m = e.metrics
        p = (e.paired or {}).get("mc0_vs_mc2_balanced_accuracy")
        diff = "reference" if p is None else f"{p.diff:+.3f} ({p.ci_low:+.3f} to {p.ci_high:+.3f})"
        lines.append(f"| {name} | {_d(m.mc0_vs_mc2)} | {_d(m.sensitivity('MC0'))} | {_d(m.sensitivity('MC1'))} | "
                     f"{_d(m.sensitivity('MC2'))} | {_d(m.balanced_accuracy)} | {_d(m.macro_f1)} | "
                     f"{_d(m.weighted_f1)} | {_d(m.cohen_kappa)} | {diff} | {_syn(m.synthetic_mc1)} |")
    lines.append("")
    choice = choose_default(doc)
    lines.append(f"Default method: **{choice.method}**. {choice.reason} Rule: {DEFAULT_RULE}")
    groups = [(name, label, g, rep) for name, e in doc.methods.items()
              for label, reps in (("maker", e.by_manufacturer), ("field strength", e.by_field_strength))
              for g, rep in (reps or {}).items()]
    if groups:
        lines += ["", "By scanner (MC0-vs-MC2 balanced accuracy, patient-bootstrap 95 % CI within the group; "
                  "\"too few cases\" below 10 MC0 or MC2 discs):", "",
                  "| method | grouped by | group | discs | MC0 vs MC2 balanced acc. | balanced acc. (3 classes) |", "|---|---|---|---|---|---|"]
        lines += [f"| {name} | {label} | {g} | {rep.n_discs} | {_d(rep.mc0_vs_mc2)} | {_d(rep.balanced_accuracy)} |"
                  for name, label, g, rep in groups]
    cals = [(name, e.calibration) for name, e in doc.methods.items() if e.calibration is not None]
    if cals:
        lines += ["", "Calibration (temperature scaling on out-of-fold predictions; ECE: 15 equal-width bins, top label; "
                  "after scaling nested over the folds). The last four columns are the old in-sample \"uncertain\" flag "
                  "(top probability below a threshold), kept for comparison: the app now flags a level uncertain when its "
                  "prediction set holds more than one grade (next table).", "",
                  "| method | temperature | ECE before | ECE after | old flag: below | old flag: levels flagged | old flag: accuracy of the rest | old flag: MC0 vs MC2 of the rest |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, c in cals:
            u = c.uncertainty
            lines.append(f"| {name} | {c.temperature:.2f} | {c.ece_before:.3f} | {c.ece_after:.3f} | {c.uncertain_below:.2f} | "
                         f"{_d(u.rate) if u else '—'} | {_d(u.accuracy_rest) if u else '—'} | {_d(u.mc0_vs_mc2_rest) if u else '—'} |")
    return "\n".join(lines)


def bench_table(doc: Benchmark) -> str:
    c = doc.cpu
    rows = [("load 15-slice DICOM pair", c.load_dicom_15_slice_pair), ("load spider2d .mha pair", c.load_spider2d_mha_pair),
            ("detection, one slice", c.detection_single_slice), ("detection, 15-slice study (3 central slices)", c.detection),
            ("whole analyze (15-slice pair)", c.analyze_15_slice), ("threshold change", c.threshold_change),
            (f"normalization switch (slowest: zscore to {c.normalization_switch.to or '?'})", c.normalization_switch)]
    lines = [f"Benchmark ({doc.machine.cpu_count} CPU cores, torch {doc.machine.torch}, commit {doc.commit}):", "",
             "| step | median | min-max |", "|---|---|---|"]
    for n, t in rows:
        lines.append(f"| {n} | {t.median_s * 1000:.0f} ms | {t.min_s * 1000:.0f}-{t.max_s * 1000:.0f} ms |")
    n4 = c.normalization_switch_per_method.get("n4_zscore")
    if n4:
        lines.append(f"| normalization switch to n4_zscore (N4 bias correction) | {n4.median_s * 1000:.0f} ms | "
                     f"{n4.min_s * 1000:.0f}-{n4.max_s * 1000:.0f} ms |")
    for name, t in (("T1/T2 alignment check, header placement passes", c.alignment_header),
                    ("T1/T2 alignment check with a repair (T2 moved 45 mm)", c.alignment_repair)):
        if t is not None:
            lines.append(f"| {name} | {t.median_s * 1000:.0f} ms | {t.min_s * 1000:.0f}-{t.max_s * 1000:.0f} ms |")
    lines.append(f"| peak RSS with all models loaded | {c.peak_rss_gb_after_all_models:.2f} GB | |")
    if doc.cohort_throughput.studies_per_minute is not None:
        lines.append(f"| batch mode throughput | {doc.cohort_throughput.studies_per_minute} studies/min | |")
    return "\n".join(lines)


def pairing_table(doc: PairingAudit) -> str:
    """The alignment check on a cohort, as a Markdown table."""
    a, n, s = doc.aligned_pairs, doc.not_aligned_pairs, doc.table_shift
    ids = lambda xs: ", ".join(str(x) for x in xs) or "none"  # noqa: E731
    rows = [
        ("pairs the cohort marks aligned: passed (no false alarm)", f"{a['passed']} of {a['n']} ({100 * a['passed'] / max(1, a['n']):.1f} %); false alarms: {ids(a['false_alarms'])}"),
        ("pairs the cohort marks NOT aligned: flagged", f"{len(n['flagged'])} of {n['n']} ({ids(n['flagged'])})"),
        ("pairs the cohort marks NOT aligned: re-aligned by disc correspondence", f"{len(n['repaired'])} ({ids(n['repaired'])})"),
        ("pairs the cohort marks NOT aligned: passed on their header", f"{len(n.get('passed_on_header', []))} ({ids(n.get('passed_on_header', []))})"),
        ("random table moves (20-110 mm head-foot) undone", f"{s['recovered']} of {s['n']}; error median {s['median_error_mm']:.2f} mm, 95th percentile {s['p95_error_mm']:.2f} mm"),
        *[(f"wrong pairs made from every study: {label}, flagged", f"{w['flagged']} of {w['n']}" + (f"; missed: {ids(w['missed'])}" if w["missed"] else ""))
          for key, label in (("swapped", "T1 and T2 swapped (unnamed files)"), ("upside_down", "T2 pixels upside down, header unchanged"),
                             ("near_identical", "T2 = T1 with one pixel changed"))
          for w in [(doc.wrong_pairs or {}).get(key)] if w],
        ("time of the check (median, 2 CPU cores)", f"{1000 * doc.seconds['check_median']:.0f} ms on the header; {1000 * doc.seconds['check_with_repair_median']:.0f} ms with a repair"),
    ]
    return "\n".join(["| alignment check | result |", "|---|---|", *[f"| {k} | {v} |" for k, v in rows]])


def naming_table(doc: NamingAudit) -> str:
    """The level-naming rules side by side (names right at threshold 0.5, false positives inside
    the graded column per image, names unchanged across thresholds 0.3-0.9), as a Markdown table."""
    rule_label = {"count_up": "count up from the lowest box", "name_regions": "disc column, lowest confident disc = L5-S1",
                  "anchor": "disc column, counted from the detected L5-S1 (app)"}
    lines = ["| detector outputs | rule | image | names right (0.5) | FP in column / image (0.5) | names same across thresholds |",
             "|---|---|---|---|---|---|"]
    for part, label in (("cross_validation", "CV held-out folds"), ("held_out", "unseen boxed studies")):
        for rule in rule_label:
            for seq in ("T1", "T2"):
                r = getattr(doc, part).get(rule, {}).get(seq)
                if r is None:
                    continue
                t = r["by_threshold"]["0.5"]
                lines.append(f"| {label} ({r['images']} studies) | {rule_label[rule]} | {seq} | {t['names_right']:.3f} (n={t['discs_matched']}) | "
                             f"{t['fp_in_column_per_image']:.2f} | {r['names_same_across_thresholds']:.3f} |")
    return "\n".join(lines)


def _other_makers(doc: DetectorTransfer) -> str:
    return "the other maker" if len(doc.makers) == 2 else "the other makers"


def transfer_table(doc: DetectorTransfer) -> str:
    """Leave-one-maker-out detector check next to the 5-fold CV on the same studies, as a Markdown
    table (threshold 0.5; L5-S1 columns count images whose graded discs include L5-S1)."""
    lines = ["| test maker (studies) | trained on | image | discs boxed at IoU >= 0.7 | level names right | "
             "false positives in the graded column / image | L5-S1 found | L5-S1 named right | naming flagged uncertain | "
             "L5-S1 wrong, not flagged |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for maker, g in doc.groups.items():
        for part, label in (("left_out", f"{_other_makers(doc)} only ({g['train_studies']} studies)"),
                            ("five_fold_cv", f"5-fold CV, both makers ({doc.five_fold_cv_train_studies} studies)")):
            for seq in ("T1", "T2"):
                r = g[part][seq]
                n = r["images_with_l5s1"]
                lines.append(f"| {maker} ({g['test_studies']}) | {label} | {seq} | {r['iou_ge_0.7']} | {r['names_right']} | "
                             f"{r['fp_in_column_per_image']:.2f} | {r['l5s1_found']}/{n} | {r['l5s1_named_right']}/{n} | "
                             f"{r['naming_flagged_uncertain']}/{n} | {r['l5s1_wrong_not_flagged']}/{n} |")
    return "\n".join(lines)


def transfer_flag_table(doc: DetectorTransfer) -> str:
    """What the low-anchor flag (an L5-S1 anchor scored below ``ANCHOR_SURE``) changes in the
    leave-one-maker-out check, as a Markdown table."""
    # lazy: modic_core.detection.levels pulls in torch; only the model path needs it
    from modic_core.detection.levels import ANCHOR_SURE

    lines = [f"| test maker | trained on | image | L5-S1 wrong, not flagged: without the low-anchor flag | with it | "
             f"L5-S1 right, flagged only by it | L5-S1 scores of the wrong anchors (none where no anchor was found) | "
             f"right L5-S1 anchors scoring >= {ANCHOR_SURE:g} |",
             "|---|---|---|---|---|---|---|---|"]
    for maker, g in doc.groups.items():
        for part, label in (("left_out", f"{_other_makers(doc)} only"), ("five_fold_cv", "5-fold CV")):
            for seq in ("T1", "T2"):
                r = g[part][seq]
                n = r["images_with_l5s1"]
                scores = ", ".join(f"{v:.2f}" for v in r["anchor_scores_of_wrong_l5s1"]) or "none"
                lines.append(f"| {maker} | {label} | {seq} | {r['l5s1_wrong_not_flagged_without_low_anchor_flag']}/{n} | "
                             f"{r['l5s1_wrong_not_flagged']}/{n} | {r['l5s1_right_flagged_only_by_low_anchor']}/{n} | {scores} | "
                             f"{r['right_l5s1_anchor_at_least_sure']}/{r['right_l5s1_with_anchor']} |")
    return "\n".join(lines)


def batch_scaling_tables(doc: BatchScaling) -> str:
    """Throughput of the two batch engines and the per-study cost split, as Markdown tables."""
    lines = [f"Batch engines ({doc.machine.cpu_count} CPU cores, commit {doc.commit}):", "",
             "| cohort (generated phantoms) | engine | wall time | studies/min | peak memory per worker |", "|---|---|---|---|---|"]
    for name, c in doc.cohorts.items():
        shape = " x ".join(str(v) for v in c.get("shape", []))
        for eng, f in c.get("engines", {}).items():
            mem = (f"actors {' / '.join(str(m) for m in f['actor_peak_mb'])} MB, read tasks {f.get('read_worker_peak_mb', '?')} MB"
                   if "actor_peak_mb" in f else f"{f.get('driver_peak_mb', '?')} MB (the one process)")
            spm = f"{f['studies_per_minute']}" + (f" ({f['studies_per_minute_after_startup']} after Ray start-up)"
                                                  if "studies_per_minute_after_startup" in f else "")
            lines.append(f"| {c['studies']} {name.replace('_', '-')} ({shape}) | {eng} | {f['wall_s']} s | {spm} | {mem} |")
    lines += ["", "| cohort | read + pair | detect (+ alignment check) | classify (+ report) | write | total s/study | studies per CPU core-hour |",
              "|---|---|---|---|---|---|---|"]
    for name, c in doc.cost_split_s.items():
        per_hour = doc.projection.get(name, {}).get("studies_per_cpu_core_hour", "?")
        lines.append(f"| {name.replace('_', '-')} | {c['read']} | {c['detect']} | {c['classify']} | {c['write']} | {c['total']} | {per_hour} |")
    return "\n".join(lines)


def browser_table(doc: BrowserBenchmark) -> str:
    """Case-viewer latency in Chromium (input to settled page), as a Markdown table."""
    lines = [f"Browser latency (Chromium, {doc.cpu_count} CPU cores, load average {doc.load_average[0]:.1f} at the start, commit {doc.commit}):",
             "", "| interaction | median | min-max | target |", "|---|---|---|---|"]
    for name, t in doc.interactions.items():
        lines.append(f"| {name.replace('_', ' ')}{f' ({t.note})' if t.note else ''} | {t.median_ms:.0f} ms | {t.min_ms:.0f}-{t.max_ms:.0f} ms | "
                     f"{t.target_ms:.0f} ms ({'met' if t.within_target else 'missed'}) |")
    return "\n".join(lines)


def gradcam_table(doc: GradcamAudit, method: str | None = None) -> str:
    """Where each explanation variant puts its mass on real MC2 and MC0 discs (the rule method's classifier), and the choice."""
    method = method or doc.rule_method
    b = doc.bands
    area = b.get("mean_area_share", {})
    lines = [f"Grad-CAM evidence audit ({method} classifier, explaining the predicted class; {doc.cohort.get('n_discs')} boxed discs "
             f"of {doc.cohort.get('n_studies')} aligned studies; disc band = middle {b.get('disc_fraction')} of the box height, "
             f"marrow bands = the box rows above and below it + {b.get('margin_mm')} mm; an even map would give marrow "
             f"{area.get('marrow', float('nan')):.3f}, disc {area.get('disc', float('nan')):.3f}, outside "
             f"{area.get('outside', float('nan')):.3f}; patient-bootstrap 95 % CIs):", "",
             "| variant | discs | marrow share | disc share | outside share | marrow mass > disc mass | denser in marrow than disc (per pixel) |",
             "|---|---|---|---|---|---|---|"]
    for v in doc.variants:
        for group in ("MC2", "MC0"):
            r = doc.row(method, v, group)
            if r is not None:
                star = " (shipped)" if v == doc.chosen else ""
                lines.append(f"| {v}{star} | {group} (n={r.n_discs}) | {_d(r.marrow)} | {_d(r.disc)} | {_d(r.outside)} | "
                             f"{_d(r.marrow_over_disc)} | {_d(r.marrow_denser)} |")
    lines += ["", f"Shipped variant: **{doc.chosen}**. {doc.reason}. Rule: {doc.rule}"]
    return "\n".join(lines)


def robustness_table(doc: RobustnessCheck) -> str:
    """Grade agreement per method (rows) and intensity change (columns) for each source, as Markdown
    tables; cells below the target are marked."""
    out = []
    for source in dict.fromkeys(r.source for r in doc.rows):
        rows = [r for r in doc.rows if r.source == source]
        transforms = list(dict.fromkeys(r.transform for r in rows))
        n = max(r.n_levels for r in rows)
        out += [f"Source: {source} ({max(r.n_studies for r in rows)} studies, {n} levels); target {doc.target:.2f}:", "",
                "| method | " + " | ".join(transforms) + " |", "|---|" + "---|" * len(transforms)]
        for m in dict.fromkeys(r.method for r in rows):
            cells = []
            for t in transforms:
                r = next((r for r in rows if r.method == m and r.transform == t), None)
                v = None if r is None else r.agreement.value
                cells.append("" if v is None else f"{v:.2f}" + (" (below)" if v < doc.target else ""))
            out.append(f"| {m} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out).rstrip()
def experiments_table(doc: GradingExperiments) -> str:
    """Flip TTA, seed ensemble and multi-task heads against the single model (same patient-level CV), as a Markdown
    table, then the adopted variants (by the document's rule) and the multi-task loss weight when it was run."""
    def ci(lo, hi):
        return "" if lo is None else f" ({lo:.3f}-{hi:.3f})"

    lines = ["| variant | MC0 vs MC2 balanced acc. (95% CI) | difference to single (95% CI) | MC0/MC2 called MC1 | ECE before temperature |",
             "|---|---|---|---|---|"]
    for name, r in doc.results.items():
        diff = "reference" if r.diff_to_single is None else f"{r.diff_to_single:+.3f} ({r.diff_ci_low:+.3f} to {r.diff_ci_high:+.3f})"
        lines.append(f"| {name} | {r.mc0_vs_mc2_balanced_accuracy:.3f}{ci(r.ci_low, r.ci_high)} | {diff} | "
                     f"{100 * r.mc0_mc2_called_mc1:.1f} % | {r.ece_uncalibrated:.3f} |")
    lines += ["", f"Adopted (paired CI excludes zero): {', '.join(doc.adopted) or 'none'}."]
    if doc.aux_weight is not None:
        lines[-1] += f" Multi-task auxiliary loss weight: {doc.aux_weight:g} (fixed before the run)."
    return "\n".join(lines)


def learning_curve_table(doc: LearningCurve) -> str:
    """MC0-vs-MC2 balanced accuracy per share of the training patients (nested subsets, same held-out discs), as a
    Markdown table, then the paired 1.0-minus-0.5 difference, the slope per doubling and the extrapolation sentence."""
    def mean(xs):
        return f"{sum(xs) / len(xs):.0f} ({min(xs)}-{max(xs)})"

    many = doc.draws > 1
    lines = ["| share of training patients | training patients / fold | training discs / fold | MC0 vs MC2 balanced acc. (95% CI) | "
             "difference to 1.0 (95% CI) | MC0/MC2 called MC1 |" + (f" balanced acc. of the {doc.draws} subset draws |" if many else ""),
             "|---|---|---|---|---|---|" + ("---|" if many else "")]
    for p in doc.points:
        e, d = p.mc0_vs_mc2, p.diff_to_full
        diff = "reference" if d is None else f"{d.diff:+.3f} ({d.ci_low:+.3f} to {d.ci_high:+.3f})"
        draws = (" " + ", ".join(f"{v:.3f}" for v in p.ba_by_draw) + " |") if many else ""
        lines.append(f"| {p.fraction:g} | {mean(p.n_train_patients)} | {mean(p.n_train_discs)} | {e.value:.3f} ({e.ci_low:.3f}-{e.ci_high:.3f}) | "
                     f"{diff} | {100 * p.mc0_mc2_called_mc1:.1f} % |{draws}")
    lines.append("")
    h, s = doc.full_vs_half, doc.slope_per_doubling
    first = ", first draw" if many else ""
    if h is not None:
        lines.append(f"Full minus half the training patients (the last doubling, paired{first}): {h.diff:+.3f} ({h.ci_low:+.3f} to {h.ci_high:+.3f})."
                     + (f" Each draw: {', '.join(f'{v:+.3f}' for v in doc.full_vs_half_by_draw)}." if doc.full_vs_half_by_draw else ""))
    if s is not None:
        lines.append(f"Slope per doubling of the training discs (least squares over the {len(doc.points)} points{first}): {s.value:+.3f} "
                     f"({s.ci_low:+.3f} to {s.ci_high:+.3f})."
                     + (f" Each draw: {', '.join(f'{v:+.3f}' for v in doc.slope_by_draw)}." if doc.slope_by_draw else ""))
    lines += [doc.extrapolation, f"Check: {doc.reference}."]
    head, prose = lines[:len(doc.points) + 3], lines[len(doc.points) + 3:]
    return "\n".join(head + "\n\n".join(prose).splitlines())  # one paragraph per sentence


def conformal_table(doc: ConformalEvaluation) -> str:
    """Prediction sets on the patient-level CV (nested), per score and for the chosen score by maker and field
    strength, as a Markdown table; then the chosen score and its rule."""
    def row(label: str, group: str, m: SetMetrics) -> str:
        g = m.coverage_by_grade
        return (f"| {label} | {group} | {m.n} | {m.coverage.display} | {g['MC0'].display if 'MC0' in g else '—'} | "
                f"{g['MC2'].display if 'MC2' in g else '—'} | {m.singleton_share.display} | {m.singleton_accuracy.display} | "
                f"{m.mean_size:.2f} | {100 * (m.mc1_in_set.value or 0):.1f} % |")

    pct = f"{100 * doc.coverage:g} %"
    lines = [f"| score | discs | MC0/MC2 discs | coverage ({pct} sets) | coverage MC0 | coverage MC2 | single-grade sets | "
             "single grade right | mean set size | MC1 in the set |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, m in doc.scores.items():
        lines.append(row(name + (" ★" if name == doc.chosen_score else ""), "all", m))
    for group in (doc.by_manufacturer, doc.by_field_strength):
        for g, m in group.items():
            lines.append(row(doc.chosen_score, g, m))
    m = doc.scores[doc.chosen_score]
    lines += ["", f"Chosen score: {doc.chosen_score} ({doc.rule}) Real MC1 discs: {m.real_mc1_covered} of {m.n_real_mc1} in their set "
                  f"(too few to measure); synthetic MC1 lesions in their set: "
                  f"{'—' if m.synthetic_mc1_coverage is None else f'{100 * m.synthetic_mc1_coverage:.1f} %'}."]
    return "\n".join(lines)


def shift_table(doc: ConformalEvaluation) -> str:
    """The shift tests: sets calibrated on the source group measured on the held-out group, before and after
    replacing the MC0/MC2 calibration with a few held-out-group patients, as a Markdown table."""
    dirs = (doc.shift or {}).get("directions", [])
    ks = [a["patients"] for a in dirs[0]["after"]] if dirs else []
    lines = ["| trained and calibrated on | tested on | MC0/MC2 discs | coverage (source calibration) | worst grade | "
             "single-grade sets | single grade right | "
             + " | ".join(f"coverage, recalibrated on {k} of its patients (mean; lowest of {dirs[0]['after'][0]['draws']} draws)"
                          for k in ks) + " |", "|---|---|---|---|---|---|---|" + "---|" * len(ks)]
    for d in dirs:
        b = SetMetrics.from_dict(d["before"])
        worst = min(e.value for e in b.coverage_by_grade.values())
        after = " | ".join(f"{a['coverage_mean']:.3f} ({a['coverage_min']:.3f})" for a in d["after"])
        lines.append(f"| {d['source']} | {d['target']} | {d['n_target_discs']} | {b.coverage.display} | {worst:.3f} | "
                     f"{b.singleton_share.display} | {b.singleton_accuracy.display} | {after} |")
    if doc.shift:
        lines += ["", doc.shift.get("protocol", "")]
    return "\n".join(lines)


def variants_table(doc: ConformalEvaluation) -> str:
    """Training variants against the reference (the shipped configuration's CV rerun: same folds and seeds; nested 90 % sets), paired patient-bootstrap
    differences, as a Markdown table; then the rule."""
    v = doc.variants or {}
    lines = ["| variant | coverage | single-grade sets | single grade right | single-grade share minus reference (95% CI) | "
             "coverage minus reference (95% CI) | MC0-vs-MC2 balanced acc. minus reference (95% CI) | passes the rule |",
             "|---|---|---|---|---|---|---|---|"]

    def d(x: dict) -> str:
        return f"{x['diff']:+.3f} ({x['ci_low']:+.3f} to {x['ci_high']:+.3f})"

    for name, r in v.get("results", {}).items():
        m, p = SetMetrics.from_dict(r["metrics"]), r["paired_to_shipped"]
        lines.append(f"| {name} | {m.coverage.value:.3f} | {m.singleton_share.value:.3f} | {m.singleton_accuracy.value:.3f} | "
                     f"{d(p['singleton_share'])} | {d(p['coverage'])} | {d(p['mc0_vs_mc2'])} | {'yes' if r['passes_rule'] else 'no'} |")
    if v:
        lines += ["", v.get("rule", "")]
    return "\n".join(lines)


def risk_coverage_table(doc: ConformalEvaluation) -> str:
    """The risk-coverage curve of the chosen score (nested CV) as a Markdown table."""
    lines = ["| target coverage | achieved | single-grade sets | single grade right | mean set size |", "|---|---|---|---|---|"]
    for p in doc.risk_coverage:
        acc = "—" if p.singleton_accuracy is None else f"{p.singleton_accuracy:.3f}"
        lines.append(f"| {100 * p.target:g} % | {p.coverage:.3f} | {p.singleton_share:.3f} | {acc} | {p.mean_size:.2f} |")
    return "\n".join(lines)


def main() -> int:
    sources = ((DetectorCard, ROOT / "weights" / "detector.json", detector_table),
               (NormalizationComparison, ROOT / "weights" / "normalization_comparison.json", comparison_table_md),
               (Benchmark, ROOT / "benchmarks" / "latest.json", bench_table),
               (PairingAudit, ROOT / "weights" / "pairing_audit.json", pairing_table),
               (NamingAudit, ROOT / "weights" / "naming_audit.json", naming_table),
               (DetectorTransfer, ROOT / "weights" / "detector_transfer.json", transfer_table),
               (DetectorTransfer, ROOT / "weights" / "detector_transfer.json", transfer_flag_table),
               (BatchScaling, ROOT / "benchmarks" / "batch_scaling.json", batch_scaling_tables),
               (BrowserBenchmark, ROOT / "benchmarks" / "browser.json", browser_table),
               (GradcamAudit, ROOT / "weights" / "gradcam_audit.json", gradcam_table),
               (RobustnessCheck, ROOT / "weights" / "robustness.json", robustness_table),
               (GradingExperiments, ROOT / "weights" / "grading_experiments.json", experiments_table),
               (LearningCurve, ROOT / "weights" / "learning_curve.json", learning_curve_table),
               (ConformalEvaluation, ROOT / "weights" / "conformal.json", conformal_table),
               (ConformalEvaluation, ROOT / "weights" / "conformal.json", shift_table),
               (ConformalEvaluation, ROOT / "weights" / "conformal.json", risk_coverage_table),
               (ConformalEvaluation, ROOT / "weights" / "conformal.json", variants_table))
    for cls, path, fn in sources:
        print(fn(cls.load(path)) if Path(path).is_file() else "(not available yet)")
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

