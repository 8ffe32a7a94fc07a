"""Fit and measure the conformal prediction sets of a shipped classifier.

    python -m modic_core.train.conformal --cv runs/classifier/zscore        # after the CV run
    python -m modic_core.train.conformal --rescore                          # from the shipped OOF file only

Inputs: the out-of-fold predictions of ``python -m modic_core.train.classifier`` (``cv_predictions.csv``
with raw logits and ``fold<k>_synthetic_mc1.csv``: held-out MC0 crops with a synthetic MC1 lesion),
copied to ``weights/conformal_oof_<method>.csv`` so that ``--rescore`` needs nothing else, and the
shift-test predictions of :mod:`modic_core.train.conformal_shift` (``weights/conformal_shift_predictions.csv``).

Outputs:

* ``weights/classifier_<method>.json`` gets ``conformal`` (:class:`~modic_core.schema.ConformalRecord`): the
  chosen score and, per grade, the calibration scores of all out-of-fold predictions, temperature-scaled
  with the shipped temperature (what inference produces); MC1 from the synthetic lesions and the real MC1 discs;
* ``weights/conformal.json`` (:class:`~modic_core.schema.ConformalEvaluation`): nested CV metrics per score
  (each fold's sets calibrated -- temperature included -- on the other folds only), by maker and field strength,
  the risk-coverage curve, the shift tests before/after recalibration on a few target patients, and the
  in-sample "uncertain" threshold the sets replace.

The rule choosing the score (:data:`SCORE_RULE`) and the shift-test protocol were fixed before the first run.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from modic_core.classification.conformal import DEFAULT_COVERAGE, SCORES
from modic_core.evaluation.calibration import fit_temperature, nested_calibrated, softmax
from modic_core.evaluation.conformal import calibration_from, nested_p_values, risk_coverage, set_metrics, sets_from
from modic_core.classification.conformal import p_values, quantiles
from modic_core.schema import ClassifierCard, ConformalEvaluation, ConformalRecord, SetMetrics
from modic_core.train.classifier import LOGIT_COLUMNS, field_strength_group, scanner_group
from modic_core.evaluation.metrics import mc0_vs_mc2_balanced_accuracy

__all__ = ["SCORE_RULE", "SHIFT_PROTOCOL", "choose_score", "evaluate", "main"]

SCORE_RULE = ("Fixed in advance: among the scores whose nested 90 % sets cover at least 0.89 of real MC0/MC2 discs overall "
              "and at least 0.85 within each scanner maker and each grade, the one with the larger share of single-grade "
              "sets; a tie (within 0.005) goes to LAC, the simpler score. If no score meets the coverage, the one with the "
              "highest smallest coverage.")
SHIFT_PROTOCOL = ("Fixed in advance: per direction, one model trained on two thirds of the source group's patients, "
                  "temperature and sets calibrated on the other third (plus synthetic MC1 lesions painted into it), "
                  "measured on every disc of the held-out group. 'After': the same model with its MC0/MC2 calibration "
                  "replaced by {k} patients of the held-out group (drawn at random {draws} times, seeded), measured on "
                  "the rest of the held-out group. Added after seeing how much the 15-patient draws spread: the same "
                  "with {k2} patients.")
VARIANT_RULE = ("Fixed in advance: a training variant replaces the shipped classifier only if its nested 90 % sets keep "
                "coverage >= 0.89 and its share of single-grade sets is higher than the shipped configuration's (same folds, seeds and data) with a paired "
                "patient-bootstrap 95 % CI of the difference above zero.")
RISK_TARGETS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.925, 0.95, 0.975)
RECAL_PATIENTS = (15, 30)  # 15 fixed in advance; 30 added after seeing the spread of the 15-patient draws
RECAL_DRAWS = 20


def oof_table(cv_dir: Path) -> pd.DataFrame:
    """CV rows (role "cv") and synthetic-MC1 rows (role "synthetic_mc1", log-probabilities as logits) in one table."""
    cv = pd.read_csv(cv_dir / "cv_predictions.csv", dtype={"study_id": str})
    keep = ["study_id", "level", "modic", "fold", "manufacturer", "field_strength_t", *LOGIT_COLUMNS]
    cv = cv[keep].assign(role="cv")
    frames = [cv]
    for k in sorted(cv["fold"].unique()):
        syn = pd.read_csv(cv_dir / f"fold{k}_synthetic_mc1.csv")
        logp = np.log(np.clip(syn[["p_mc0", "p_mc1", "p_mc2"]].to_numpy(dtype=np.float64), 1e-12, 1.0))
        s = pd.DataFrame({"study_id": "", "level": "", "modic": 1, "fold": k, "manufacturer": "", "field_strength_t": np.nan,
                          "role": "synthetic_mc1"}, index=range(len(syn)))
        for j, c in enumerate(LOGIT_COLUMNS):
            s[c] = logp[:, j]
        frames.append(s)
    out = pd.concat(frames, ignore_index=True)
    out[LOGIT_COLUMNS] = out[LOGIT_COLUMNS].round(5)
    return out


def choose_score(metrics: dict[str, SetMetrics], by_maker: dict[str, dict[str, SetMetrics]]) -> str:
    """The score by :data:`SCORE_RULE`."""
    def floor(name: str) -> float:
        m = metrics[name]
        vals = [m.coverage.value, *[e.value for e in m.coverage_by_grade.values()],
                *[g.coverage.value for g in by_maker[name].values()]]
        return min(v for v in vals if v is not None)

    ok = [s for s in metrics if metrics[s].coverage.value >= 0.89 and floor(s) >= 0.85]
    if not ok:
        return max(metrics, key=floor)
    best = max(ok, key=lambda s: metrics[s].singleton_share.value)
    if "lac" in ok and metrics[best].singleton_share.value - metrics["lac"].singleton_share.value <= 0.005:
        return "lac"
    return best


def _groups(df: pd.DataFrame, column: str, fn) -> np.ndarray:
    return np.array([fn(v) for v in df[column]])


def _shift(shift: pd.DataFrame, *, score: str, coverage: float, n_boot: int) -> dict:
    out: dict = {"protocol": SHIFT_PROTOCOL.format(k=RECAL_PATIENTS[0], k2=RECAL_PATIENTS[1], draws=RECAL_DRAWS), "directions": []}
    for (grouping, source), d in shift.groupby(["grouping", "source"], sort=True):
        cal, tgt, syn = (d[d["role"] == r] for r in ("calibration", "target", "synthetic_mc1"))
        t = fit_temperature(cal[LOGIT_COLUMNS].to_numpy(), cal["modic"].to_numpy(dtype=int))
        pc, pt, ps = (softmax(x[LOGIT_COLUMNS].to_numpy(dtype=np.float64) / t) for x in (cal, tgt, syn))
        yc, yt = cal["modic"].to_numpy(dtype=int), tgt["modic"].to_numpy(dtype=int)
        c = calibration_from(np.concatenate([pc, ps]), np.concatenate([yc, np.ones(len(ps), int)]), score=score)
        before = set_metrics(sets_from(p_values(pt, c), coverage, pt), yt, patient_ids=tgt["study_id"].tolist(), n_boot=n_boot)
        # after: MC0/MC2 calibration from a few target patients (MC1 still from the source's synthetic lesions)
        pids = np.array(sorted(tgt["study_id"].unique()))
        after = [_recalibrated(pt, yt, tgt, ps, pids, k=k, score=score, coverage=coverage) for k in RECAL_PATIENTS]
        targets = sorted(set(tgt["group"]))
        out["directions"].append({
            "grouping": grouping, "source": source, "target": ", ".join(targets), "temperature": round(t, 4),
            "n_calibration_discs": int(len(cal)), "n_target_discs": int(((yt == 0) | (yt == 2)).sum()),
            "n_target_patients": int(len(pids)), "before": before.to_dict(), "after": after,
        })
    return out


def _recalibrated(pt: np.ndarray, yt: np.ndarray, tgt: pd.DataFrame, ps: np.ndarray, pids: np.ndarray, *, k: int, score: str,
                  coverage: float) -> dict:
    """Sets on the held-out group with the MC0/MC2 calibration taken from ``k`` of its patients (drawn
    :data:`RECAL_DRAWS` times, seeded), measured on its other patients: mean and spread over the draws."""
    rng = np.random.default_rng(0)
    draws = []
    for _ in range(RECAL_DRAWS):
        pick = set(rng.choice(pids, size=min(k, len(pids) - 1), replace=False).tolist())
        m = tgt["study_id"].isin(pick).to_numpy()
        cm = (yt[m] == 0) | (yt[m] == 2)
        c2 = calibration_from(np.concatenate([pt[m][cm], ps]), np.concatenate([yt[m][cm], np.ones(len(ps), int)]), score=score)
        r = set_metrics(sets_from(p_values(pt[~m], c2), coverage, pt[~m]), yt[~m], n_boot=0)
        draws.append((r.coverage.value, min(e.value for e in r.coverage_by_grade.values()), r.singleton_share.value,
                      r.singleton_accuracy.value))
    a = np.array(draws, dtype=np.float64)
    return {"coverage_mean": round(float(a[:, 0].mean()), 4), "coverage_min": round(float(a[:, 0].min()), 4),
            "coverage_p10": round(float(np.percentile(a[:, 0], 10)), 4),
            "worst_grade_coverage_mean": round(float(a[:, 1].mean()), 4),
            "singleton_share_mean": round(float(a[:, 2].mean()), 4),
            "singleton_accuracy_mean": round(float(np.nanmean(a[:, 3])), 4), "draws": RECAL_DRAWS, "patients": k}


def evaluate(oof: pd.DataFrame, *, temperature: float, coverage: float = DEFAULT_COVERAGE, shift: pd.DataFrame | None = None,
             n_boot: int = 500, command: str = "", method: str = "zscore", old_flag: dict | None = None) -> tuple[ConformalEvaluation, ConformalRecord]:
    """The evaluation document and the card's record from the OOF table (:func:`oof_table`)."""
    cv = oof[oof["role"] == "cv"].reset_index(drop=True)
    syn = oof[oof["role"] == "synthetic_mc1"].reset_index(drop=True)
    y, folds, pid = cv["modic"].to_numpy(dtype=int), cv["fold"].to_numpy(dtype=int), cv["study_id"].astype(str).tolist()
    z = cv[LOGIT_COLUMNS].to_numpy(dtype=np.float64)
    zs = syn[LOGIT_COLUMNS].to_numpy(dtype=np.float64)
    nested, ps_nested, syn_folds = _nested_probs(cv, syn)
    fold_ids = sorted(set(folds.tolist()))
    makers = _groups(cv, "manufacturer", scanner_group)
    fields = _groups(cv, "field_strength_t", field_strength_group)
    per_score, by_maker, by_field, pvals = {}, {}, {}, {}
    for score in SCORES:
        pv = nested_p_values(nested, y, folds, score=score, extra_probs=ps_nested, extra_y=np.ones(len(ps_nested), int),
                             extra_folds=syn_folds)
        pvals[score] = pv
        sets = sets_from(pv, coverage, nested)
        syn_sets = []
        for k in fold_ids:  # synthetic lesions of fold k, calibrated without fold k
            cal = folds != k
            c = calibration_from(np.concatenate([nested[cal], ps_nested[syn_folds != k]]),
                                 np.concatenate([y[cal], np.ones(int((syn_folds != k).sum()), int)]), score=score)
            syn_sets += sets_from(p_values(ps_nested[syn_folds == k], c), coverage, ps_nested[syn_folds == k])
        per_score[score] = set_metrics(sets, y, patient_ids=pid, n_boot=n_boot, synthetic_sets=syn_sets)
        by_maker[score] = {g: set_metrics([s for s, m in zip(sets, makers == g) if m], y[makers == g],
                                          patient_ids=[p for p, m in zip(pid, makers == g) if m], n_boot=n_boot)
                           for g in sorted(set(makers))}
        by_field[score] = {g: set_metrics([s for s, m in zip(sets, fields == g) if m], y[fields == g],
                                          patient_ids=[p for p, m in zip(pid, fields == g) if m], n_boot=n_boot)
                           for g in sorted(set(fields))}
    chosen = choose_score(per_score, by_maker)
    notes = [
        "Nested: each fold's temperature and calibration scores come from the other four folds only.",
        "MC1: calibrated on synthetic MC1 lesions painted into held-out MC0 crops plus the real MC1 discs "
        f"({int((y == 1).sum())}); the coverage guarantee for MC1 is one for synthetic lesions, not measured on real MC1.",
        "The shipped sets use the final model (trained on all discs) with calibration scores from the five fold models' "
        "held-out predictions: the usual cross-conformal approximation (the final model is assumed to score like the fold models).",
    ]
    doc = ConformalEvaluation(
        command=command, method=method, coverage=coverage, scores=per_score, chosen_score=chosen, rule=SCORE_RULE,
        by_manufacturer=by_maker[chosen], by_field_strength=by_field[chosen],
        risk_coverage=risk_coverage(pvals[chosen], y, RISK_TARGETS, nested),
        shift=_shift(shift, score=chosen, coverage=coverage, n_boot=n_boot) if shift is not None and len(shift) else {},
        old_flag=old_flag or {}, notes=notes, n_discs=int(len(cv)), n_patients=int(cv["study_id"].nunique()),
    )
    # the shipped record: all OOF rows with the shipped temperature
    p_all = softmax(z / temperature)
    ps_all = softmax(zs / temperature)
    cal = calibration_from(np.concatenate([p_all, ps_all]), np.concatenate([y, np.ones(len(ps_all), int)]), score=chosen)
    rec = ConformalRecord(
        score=chosen, classes=list(cal.classes), calibration_scores={k: list(v) for k, v in cal.calibration_scores.items()},
        coverage=coverage, fitted_on=f"{len(cv)} out-of-fold predictions of {cv['study_id'].nunique()} studies (5 folds) and "
                                     f"{len(syn)} synthetic MC1 lesions in held-out MC0 crops",
        rule=SCORE_RULE, mondrian="grade", temperature=round(float(temperature), 6), n_synthetic_mc1=int(len(syn)),
        makers=sorted(set(makers) - {"unknown"}), field_strengths=sorted(set(fields) - {"unknown"}),
        quantiles=quantiles(cal.calibration_scores, coverage),
    )
    return doc, rec


def _nested_probs(cv: pd.DataFrame, syn: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nested temperature scaling: the CV rows of fold k and its synthetic-MC1 rows divided by the temperature
    fitted on the other folds. Returns (CV probabilities, synthetic probabilities, the synthetic rows' folds)."""
    y, folds = cv["modic"].to_numpy(dtype=int), cv["fold"].to_numpy(dtype=int)
    nested, temps = nested_calibrated(cv[LOGIT_COLUMNS].to_numpy(dtype=np.float64), y, folds)
    sf = syn["fold"].to_numpy()
    zs = syn[LOGIT_COLUMNS].to_numpy(dtype=np.float64)
    ps = np.zeros((len(syn), 3))
    for i, k in enumerate(sorted(set(folds.tolist()))):
        ps[sf == k] = softmax(zs[sf == k] / temps[i])
    return nested, ps, sf


def _nested_sets(oof: pd.DataFrame, *, score: str, coverage: float) -> tuple[pd.DataFrame, list[tuple[str, ...]]]:
    """The CV rows of an OOF table and their nested sets (temperature and calibration from the other folds)."""
    cv = oof[oof["role"] == "cv"].sort_values(["study_id", "level"]).reset_index(drop=True)
    syn = oof[oof["role"] == "synthetic_mc1"].reset_index(drop=True)
    y, folds = cv["modic"].to_numpy(dtype=int), cv["fold"].to_numpy(dtype=int)
    nested, ps, sf = _nested_probs(cv, syn)
    pv = nested_p_values(nested, y, folds, score=score, extra_probs=ps, extra_y=np.ones(len(ps), int), extra_folds=sf)
    return cv, sets_from(pv, coverage, nested)


def compare_variant(ref: pd.DataFrame, var: pd.DataFrame, *, score: str, coverage: float, n_boot: int = 1000, seed: int = 0) -> dict:
    """Nested set metrics of a training variant and its paired patient-bootstrap differences to the reference
    (single-grade share, coverage, single-grade accuracy, MC0-vs-MC2 balanced accuracy of the top grade)."""
    rcv, rsets = _nested_sets(ref, score=score, coverage=coverage)
    vcv, vsets = _nested_sets(var, score=score, coverage=coverage)
    if list(zip(rcv.study_id, rcv.level)) != list(zip(vcv.study_id, vcv.level)):
        raise ValueError("the variant's CV discs differ from the reference's: not paired")
    y = rcv["modic"].to_numpy(dtype=int)
    sel = (y == 0) | (y == 2)
    pid = rcv["study_id"].astype(str).to_numpy()

    def ind(sets):
        size = np.array([len(s) for s in sets])
        cov = np.array([("MC0", "MC1", "MC2")[t] in s for s, t in zip(sets, y)])
        return size == 1, cov

    rs, rc = ind(rsets)
    vs, vc = ind(vsets)
    rz, vz = rcv[LOGIT_COLUMNS].to_numpy(dtype=np.float64), vcv[LOGIT_COLUMNS].to_numpy(dtype=np.float64)

    def stats(ix):
        ix = ix[sel[ix]]
        out = {"singleton_share": vs[ix].mean() - rs[ix].mean(), "coverage": vc[ix].mean() - rc[ix].mean()}
        a, b = rs[ix], vs[ix]
        out["singleton_accuracy"] = (vc[ix][b].mean() if b.any() else np.nan) - (rc[ix][a].mean() if a.any() else np.nan)
        v, r = (mc0_vs_mc2_balanced_accuracy(y[ix], proba=z[ix]).value for z in (vz, rz))  # MC0 vs MC2 by the larger logit
        out["mc0_vs_mc2"] = (np.nan if v is None else v) - (np.nan if r is None else r)
        return out

    point = stats(np.arange(len(y)))
    rng = np.random.default_rng(seed)
    uniq, inv = np.unique(pid, return_inverse=True)
    members = [np.flatnonzero(inv == g) for g in range(len(uniq))]
    boots = {k: [] for k in point}
    for _ in range(n_boot):
        pick = rng.integers(0, len(uniq), len(uniq))
        b = stats(np.concatenate([members[g] for g in pick]))
        for k, v in b.items():
            if np.isfinite(v):
                boots[k].append(v)
    diffs = {k: {"diff": round(float(point[k]), 4), "ci_low": round(float(np.percentile(boots[k], 2.5)), 4),
                 "ci_high": round(float(np.percentile(boots[k], 97.5)), 4)} for k in point}
    m = set_metrics(vsets, y, patient_ids=pid.tolist(), n_boot=0)
    adopt = (m.coverage.value >= 0.89) and diffs["singleton_share"]["ci_low"] > 0
    return {"metrics": m.to_dict(), "paired_to_shipped": diffs, "passes_rule": bool(adopt)}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", default="zscore")
    ap.add_argument("--cv", default="", help="the classifier's CV run folder (runs/classifier/<method>); omit with --rescore")
    ap.add_argument("--rescore", action="store_true", help="read the shipped weights/conformal_oof_<method>.csv instead")
    ap.add_argument("--weights", default="weights")
    ap.add_argument("--coverage", type=float, default=DEFAULT_COVERAGE)
    ap.add_argument("--n-boot", type=int, default=500)
    ap.add_argument("--out", default="", help="evaluation JSON (default weights/conformal.json)")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=RUN_FOLDER",
                    help="a training variant's CV run folder (runs/<x>/<method>) to compare with the shipped model; its OOF "
                         "table is copied to weights/conformal_variants_oof.csv (--rescore reads it back); the training "
                         "command of each variant is read from weights/conformal_variants_commands.json (name -> command)")
    args = ap.parse_args(argv)
    w = Path(args.weights)
    oof_path = w / f"conformal_oof_{args.method}.csv"
    if args.rescore:
        oof = pd.read_csv(oof_path, dtype={"study_id": str}, keep_default_na=False, na_values=[""])
        oof["study_id"] = oof["study_id"].fillna("").astype(str)
    else:
        if not args.cv:
            ap.error("give --cv RUN_FOLDER or --rescore")
        oof = oof_table(Path(args.cv))
        oof.to_csv(oof_path, index=False)
    card_path = w / f"classifier_{args.method}.json"
    card = ClassifierCard.load(card_path)
    if card.calibration is None:
        raise SystemExit(f"{card_path} has no temperature calibration")
    shift_path = w / "conformal_shift_predictions.csv"
    # the shift tests train z-score models (train/conformal_shift.py): they describe no other method
    shift = pd.read_csv(shift_path, dtype={"study_id": str}) if shift_path.is_file() and args.method == "zscore" else None
    unc = card.calibration.uncertainty
    old = {"threshold": card.calibration.uncertain_below, "rule": card.calibration.threshold_rule,
           "share_flagged": unc.rate.display if unc and unc.rate else None,
           "accuracy_not_flagged": unc.accuracy_rest.display if unc and unc.accuracy_rest else None}
    command = "python -m modic_core.train.conformal " + " ".join(argv)
    doc, rec = evaluate(oof, temperature=card.calibration.temperature, coverage=args.coverage, shift=shift,
                        n_boot=args.n_boot, command=command, method=args.method, old_flag=old)
    var_path = w / "conformal_variants_oof.csv"
    if args.variant:
        frames = []
        for spec in args.variant:
            name, folder = spec.split("=", 1)
            frames.append(oof_table(Path(folder)).assign(variant=name))
        pd.concat(frames, ignore_index=True).to_csv(var_path, index=False)
    if var_path.is_file():
        variants = pd.read_csv(var_path, dtype={"study_id": str}, keep_default_na=False, na_values=[""])
        variants["study_id"] = variants["study_id"].fillna("").astype(str)
        cmd_path = w / "conformal_variants_commands.json"
        commands = json.loads(cmd_path.read_text()) if cmd_path.is_file() else {}
        doc.variants = {"rule": VARIANT_RULE, "results": {
            name: {"command": commands.get(name, ""), **compare_variant(oof, v.drop(columns="variant"), score=doc.chosen_score,
                                                                        coverage=args.coverage, n_boot=args.n_boot)}
            for name, v in variants.groupby("variant", sort=False)}}
    doc.save(Path(args.out) if args.out else w / "conformal.json")
    card.conformal = rec
    card.save(card_path)
    m = doc.scores[doc.chosen_score]
    print(f"score {doc.chosen_score}: coverage {m.coverage.display}; singletons {m.singleton_share.display}, "
          f"right {m.singleton_accuracy.display}; MC1 in set {m.mc1_in_set.display}")
    for s, mm in doc.scores.items():
        print(s, {g: e.display for g, e in mm.coverage_by_grade.items()}, "single", mm.singleton_share.display,
              "acc", mm.singleton_accuracy.display, "size", mm.mean_size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
