"""Cross-validate one classifier per normalization method on the same folds and compare them.

    python -m modic_core.train.compare --cohort PATH/TO/spider2d

For every method in :data:`modic_core.NORMALIZATIONS` (or ``--methods a,b``): patient-level
5-fold CV with the same folds and seeds, then the final model on all discs (unless
``--skip-final``). Writes ``weights/normalization_comparison.json`` and ``.csv``: per method the
pooled CV report (per-class sensitivity with "too few cases" flags, balanced accuracy, macro- and
weighted-F1, kappa, MC0-vs-MC2 balanced accuracy, patient-bootstrap 95 % CIs), paired bootstrap
differences to ``zscore`` and breakdowns by manufacturer and field strength (a
:class:`modic_core.schema.NormalizationComparison`). Resumable: finished folds are read back from
``runs/classifier/<method>/``. Hyperparameters: :class:`modic_core.schema.ClassifierTrainingConfig`.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from modic_core.schema import ClassificationReport, ClassifierTrainingConfig, MethodComparison, NormalizationComparison, PairedDiff
from modic_core.train.classifier import (
    _NormCache,
    add_config_args,
    config_from_args,
    cv_metrics,
    default_folds,
    prepare_cohort,
    run_method,
    train_final,
)
from modic_core.train.common import save_json, set_threads

__all__ = ["compare_methods", "summarize", "main"]

REFERENCE = "zscore"
PAIRED_METRICS = ("balanced_accuracy", "mc0_vs_mc2_balanced_accuracy", "macro_f1", "weighted_f1", "cohen_kappa")


def _y(cv: pd.DataFrame):
    return cv["modic"].to_numpy(), cv["prediction"].to_numpy(), cv[["p_mc0", "p_mc1", "p_mc2"]].to_numpy()


def summarize(cvs: dict[str, pd.DataFrame], *, n_boot: int = 1000, meta: dict | None = None) -> NormalizationComparison:
    """The comparison document from each method's CV predictions; ``meta``: its provenance fields
    (command, cohort, config, folds, excluded_discs, minutes_per_method)."""
    from modic_core.evaluation.metrics import classification_by_group, paired_bootstrap

    key = ["study_id", "level"]
    methods = {}
    ref = cvs.get(REFERENCE)
    for name, cv in cvs.items():
        rep = cv_metrics(cv, n_boot=n_boot)  # before sorting: keeps cv.attrs (synthetic-MC1 predictions)
        cv = cv.sort_values(key).reset_index(drop=True)
        yt, yp, pr = _y(cv)
        paired = None
        if ref is not None and name != REFERENCE:
            r = ref.sort_values(key).reset_index(drop=True)
            if list(zip(r.study_id, r.level)) == list(zip(cv.study_id, cv.level)):
                _, yr, prr = _y(r)
                paired = {
                    m: PairedDiff.from_dict(paired_bootstrap(yt, yp, yr, cv["study_id"].tolist(), metric=m, proba_a=pr,
                                                             proba_b=prr, n_boot=n_boot))
                    for m in PAIRED_METRICS
                }
        by_man = classification_by_group(yt, yp, cv["manufacturer"].fillna("unknown").tolist(), proba=pr,
                                          patient_ids=cv["study_id"].tolist(), n_boot=200)
        fs = cv["field_strength_t"].map(lambda v: "unknown" if pd.isna(v) else f"{float(v):g} T").tolist()
        by_fs = classification_by_group(yt, yp, fs, proba=pr, patient_ids=cv["study_id"].tolist(), n_boot=200)
        methods[name] = MethodComparison(
            metrics=rep, paired=paired,
            by_manufacturer={str(g): ClassificationReport.from_dict(v) for g, v in by_man.items()},
            by_field_strength={str(g): ClassificationReport.from_dict(v) for g, v in by_fs.items()},
        )
    best = max(methods, key=lambda m: methods[m].metrics.mc0_vs_mc2.value or -1)
    any_cv = next(iter(cvs.values()))
    return NormalizationComparison(
        methods=methods,
        best_method=best,
        best_by="mc0_vs_mc2 balanced accuracy (pooled cross-validated predictions)",
        reference=REFERENCE,
        n_discs=int(len(any_cv)),
        n_patients=int(any_cv["study_id"].nunique()),
        class_counts={f"MC{k}": int(v) for k, v in any_cv["modic"].value_counts().sort_index().items()},
        box_source_counts={str(k): int(v) for k, v in any_cv["box_source"].value_counts().items()},
        notes=[
            "MC1 has only a handful of real discs: its sensitivity is flagged 'too few cases' and is not a measurement.",
            "MC3 discs are excluded from training and scoring (listed in excluded_discs).",
            "Single mid-sagittal 8-bit slices (SPIDER export); no external validation.",
        ],
        **(meta or {}),
    )


def comparison_table(doc: NormalizationComparison) -> pd.DataFrame:
    rows = []
    for name, e in doc.methods.items():
        m = e.metrics
        row = {"method": name}
        for k in ("balanced_accuracy", "macro_f1", "weighted_f1", "cohen_kappa", "mc0_vs_mc2"):
            est = getattr(m, k)
            row[k] = est.value
            row[k + "_ci"] = f"{est.ci_low}-{est.ci_high}"
        for c in ("MC0", "MC1", "MC2"):
            s = m.sensitivity(c)
            row[f"sensitivity_{c}"] = s.display if s.too_few else s.value
        p = (e.paired or {}).get("mc0_vs_mc2_balanced_accuracy")
        row["diff_mc0_vs_mc2_vs_zscore"] = None if p is None else p.diff
        rows.append(row)
    return pd.DataFrame(rows)


def compare_methods(args) -> NormalizationComparison:
    from modic_core.normalization.methods import NORMALIZATIONS

    methods = [m for m in (args.methods.split(",") if args.methods else NORMALIZATIONS)]
    cfg: ClassifierTrainingConfig = config_from_args(args)
    runs = Path(args.runs)
    studies, excluded = prepare_cohort(args.cohort, cache_path=runs / "detector_boxes.json")
    folds = default_folds(studies, n_folds=cfg.n_folds, seed=cfg.seed)
    save_json(folds, runs / "folds.json")
    cvs, minutes = {}, {}
    for m in methods:
        t0 = time.time()
        cache = _NormCache()
        cvs[m] = run_method(m, studies, folds=folds, cfg=cfg, out_dir=runs / m, cache=cache)
        exists = (Path(args.weights) / f"classifier_{m}.pt").exists()
        if (not args.skip_final and not exists) or args.retrain_final:
            train_final(m, studies, cfg=cfg, weights_dir=Path(args.weights), cache=cache, cv=cvs[m],
                        argv=["--normalization", m, "--cohort", str(args.cohort), "--epochs", str(cfg.epochs),
                              "--seed", str(cfg.seed), "--synthetic-mc1", str(cfg.synthetic_mc1)],
                        excluded=excluded, cohort=str(args.cohort))
        minutes[m] = round((time.time() - t0) / 60, 1)
        print(f"{m}: done in {minutes[m]} min", flush=True)
    doc = summarize(cvs, n_boot=args.n_boot, meta={
        "command": "python -m modic_core.train.compare " + " ".join(sys.argv[1:]),
        "cohort": str(args.cohort), "config": cfg, "folds": folds, "excluded_discs": excluded, "minutes_per_method": minutes,
    })
    out = Path(args.weights)
    doc.save(out / "normalization_comparison.json")
    comparison_table(doc).to_csv(out / "normalization_comparison.csv", index=False)
    return doc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(ap)
    ap.add_argument("--methods", default="", help="comma list (default: every registered method)")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--skip-final", action="store_true")
    ap.add_argument("--retrain-final", action="store_true")
    args = ap.parse_args(argv)
    set_threads()
    doc = compare_methods(args)
    print(comparison_table(doc).to_string(index=False))
    print("best:", doc.best_method)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
