"""Cross-validate one classifier per normalization method on the same folds and compare them.

    python -m modic_core.train.compare --cohort PATH/TO/spider2d

For every method in :data:`modic_core.NORMALIZATIONS` (or ``--methods a,b``): patient-level
5-fold CV with the same folds and seeds, then the final model on all discs (unless
``--skip-final``). Writes ``weights/normalization_comparison.json`` and ``.csv``: per method the
pooled CV report (per-class sensitivity with "too few cases" flags, balanced accuracy, macro- and
weighted-F1, kappa, MC0-vs-MC2 balanced accuracy, patient-bootstrap 95 % CIs), paired bootstrap
differences to ``zscore``, breakdowns by scanner maker and field strength, temperature-scaling
calibration with ECE and reliability bins and the "uncertain" level figures (a
:class:`modic_core.schema.NormalizationComparison`); the default method by the rule of
:mod:`modic_core.evaluation.method_choice`. Studies with ``t2_aligned`` = False are left out. Resumable: finished folds are read back from
``runs/classifier/<method>/``. Hyperparameters: :class:`modic_core.schema.ClassifierTrainingConfig`.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from modic_core.schema import ClassificationReport, ClassifierTrainingConfig, MethodComparison, NormalizationComparison
from modic_core.evaluation.method_choice import DEFAULT_RULE, REFERENCE, choose_default
from modic_core.train.classifier import (
    NormCache,
    add_config_args,
    config_from_args,
    cv_calibration,
    cv_metrics,
    default_folds,
    prepare_cohort,
    run_method,
    scanner_breakdowns,
    train_final,
)
from modic_core.schema import write_json_atomic
from modic_core.train.common import set_threads

from modic_core import settings
from modic_core.logs import configure_logging, get_logger
from modic_core.evaluation.metrics import paired_bootstrap
from modic_core.normalization.methods import NORMALIZATIONS
from modic_core.schema import ClassifierCard, sha256_file

__all__ = ["compare_methods", "summarize", "main"]

LOGGER = get_logger(__name__)

PAIRED_METRICS = ("balanced_accuracy", "mc0_vs_mc2_balanced_accuracy", "macro_f1", "weighted_f1", "cohen_kappa")


def _y(cv: pd.DataFrame):
    return cv["modic"].to_numpy(), cv["prediction"].to_numpy(), cv[["p_mc0", "p_mc1", "p_mc2"]].to_numpy()


def summarize(cvs: dict[str, pd.DataFrame], *, n_boot: int = 1000, meta: dict | None = None) -> NormalizationComparison:
    """The comparison document from each method's CV predictions; ``meta``: its provenance fields
    (command, cohort, config, folds, excluded_discs, minutes_per_method)."""
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
                    m: paired_bootstrap(yt, yp, yr, cv["study_id"].tolist(), metric=m, proba_a=pr, proba_b=prr, n_boot=n_boot)
                    for m in PAIRED_METRICS
                }
        groups = scanner_breakdowns(cv)
        methods[name] = MethodComparison(
            metrics=rep, paired=paired, by_manufacturer=groups["by_manufacturer"],
            by_field_strength=groups["by_field_strength"], calibration=cv_calibration(cv, n_boot=min(n_boot, 500)),
        )
    doc = NormalizationComparison(methods=methods, best_method=REFERENCE, best_by=DEFAULT_RULE, reference=REFERENCE,
                                  n_discs=0, n_patients=0, class_counts={}, box_source_counts={}, notes=[])
    choice = choose_default(doc, reference=REFERENCE)
    any_cv = next(iter(cvs.values()))
    return NormalizationComparison(
        methods=methods,
        best_method=choice.method,
        best_by=DEFAULT_RULE,
        default_method=choice.method,
        default_rule=DEFAULT_RULE,
        methods_differ=choice.differs,
        reference=REFERENCE,
        n_discs=int(len(any_cv)),
        n_patients=int(any_cv["study_id"].nunique()),
        class_counts={f"MC{k}": int(v) for k, v in any_cv["modic"].value_counts().sort_index().items()},
        box_source_counts={str(k): int(v) for k, v in any_cv["box_source"].value_counts().items()},
        notes=[
            "MC1 has only a handful of real discs: its sensitivity is flagged 'too few cases' and is not a measurement.",
            "MC3 discs are excluded from training and scoring (listed in excluded_discs), and so are all discs of the "
            "studies whose T2 does not line up with the T1 (t2_aligned = False in studies.csv).",
            choice.reason,
            "Calibration: one temperature per method fitted on the out-of-fold predictions; the ECE after scaling and the "
            "uncertainty figures are nested (each fold scaled and thresholded with values fitted on the other folds). "
            "The shipped final model (trained on all discs) uses the temperature fitted on all folds.",
            "Single mid-sagittal 8-bit slices (SPIDER export); no external validation.",
        ],
        **(meta or {}),
    )


def _score_row(m: ClassificationReport) -> dict:
    row = {"discs": m.n_discs, "patients": m.n_patients}
    for k in ("balanced_accuracy", "macro_f1", "weighted_f1", "cohen_kappa", "mc0_vs_mc2"):
        est = getattr(m, k)
        row[k] = None if est is None else est.value
        row[k + "_ci"] = None if est is None or est.ci_low is None else f"{est.ci_low:.3f}-{est.ci_high:.3f}"
        row[k + "_too_few"] = bool(est is not None and est.too_few)
    for c in ("MC0", "MC1", "MC2"):
        s = m.sensitivity(c)
        row[f"sensitivity_{c}"] = None if s is None else (s.display if s.too_few else s.value)
    return row


def comparison_table(doc: NormalizationComparison) -> pd.DataFrame:
    """One row per method and group: ``group`` = "all", then "manufacturer: <maker>" and
    "field strength: <T>" (every score with its 95 % CI and "too few cases" flag), plus for "all" the
    paired difference to z-score, the calibration (temperature, ECE before/after) and the uncertain-level figures."""
    rows = []
    for name, e in doc.methods.items():
        row = {"method": name, "group": "all", **_score_row(e.metrics)}
        p = (e.paired or {}).get("mc0_vs_mc2_balanced_accuracy")
        row["diff_mc0_vs_mc2_vs_zscore"] = None if p is None else p.diff
        row["diff_mc0_vs_mc2_vs_zscore_ci"] = None if p is None or p.ci_low is None else f"{p.ci_low:+.3f} to {p.ci_high:+.3f}"
        row["default"] = name == (doc.default_method or doc.best_method)
        cal = e.calibration
        if cal is not None:
            row.update({"temperature": cal.temperature, "ece_before": cal.ece_before, "ece_after": cal.ece_after,
                        "uncertain_below": cal.uncertain_below})
            u = cal.uncertainty
            if u is not None:
                row.update({"uncertain_rate": u.rate.value if u.rate else None,
                            "accuracy_not_uncertain": u.accuracy_rest.value if u.accuracy_rest else None,
                            "mc0_vs_mc2_not_uncertain": u.mc0_vs_mc2_rest.value if u.mc0_vs_mc2_rest else None})
        rows.append(row)
        for label, groups in (("manufacturer", e.by_manufacturer), ("field strength", e.by_field_strength)):
            for g, rep in (groups or {}).items():
                rows.append({"method": name, "group": f"{label}: {g}", **_score_row(rep)})
    return pd.DataFrame(rows)


def attach_calibration(weights_dir: Path, method: str, cv: pd.DataFrame, *, calibration=None) -> bool:
    """Write the calibration and scanner breakdowns of ``cv`` into the existing card of ``method``
    (weights not retrained); the loader reads the card's calibration when its sha256 names the weights.
    False when there is no card or it belongs to other weights."""
    card_path, pt = weights_dir / f"classifier_{method}.json", weights_dir / f"classifier_{method}.pt"
    if not card_path.is_file() or not pt.is_file():
        return False
    card = ClassifierCard.load(card_path)
    if card.sha256 != sha256_file(pt):
        return False
    card.calibration = calibration or cv_calibration(cv)
    groups = scanner_breakdowns(cv)
    card.by_manufacturer, card.by_field_strength = groups["by_manufacturer"], groups["by_field_strength"]
    card.save(card_path)
    return True


def compare_methods(args) -> NormalizationComparison:
    methods = [m for m in (args.methods.split(",") if args.methods else NORMALIZATIONS)]
    cfg: ClassifierTrainingConfig = config_from_args(args)
    runs = Path(args.runs)
    studies, excluded = prepare_cohort(args.cohort, cache_path=runs / "detector_boxes.json")
    folds = default_folds(studies, n_folds=cfg.n_folds, seed=cfg.seed)
    write_json_atomic(folds, runs / "folds.json")
    cvs, minutes = {}, {}
    for m in methods:
        t0 = time.time()
        cache = NormCache()
        cvs[m] = run_method(m, studies, folds=folds, cfg=cfg, out_dir=runs / m, cache=cache)
        exists = (Path(args.weights) / f"classifier_{m}.pt").exists()
        if (not args.skip_final and not exists) or args.retrain_final:
            train_final(m, studies, cfg=cfg, weights_dir=Path(args.weights), cache=cache, cv=cvs[m],
                        argv=["--normalization", m, "--cohort", str(args.cohort), "--epochs", str(cfg.epochs),
                              "--seed", str(cfg.seed), "--synthetic-mc1", str(cfg.synthetic_mc1),
                              *(["--intensity-aug", str(cfg.intensity_aug)] if cfg.intensity_aug else [])],
                        excluded=excluded, cohort=str(args.cohort))
        elif not args.skip_final:
            attach_calibration(Path(args.weights), m, cvs[m])
        minutes[m] = round((time.time() - t0) / 60, 1)
        LOGGER.info("%s: done in %s min", m, minutes[m])
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
    configure_logging(debug=settings.debug())
    set_threads()
    doc = compare_methods(args)
    print(comparison_table(doc).to_string(index=False))
    print("default:", doc.default_method, "(differs from z-score by the rule)" if doc.methods_differ else "(methods do not differ)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
