"""Score disc-level predictions against labels: ``python -m modic_core.evaluation``.

Usage::

    python -m modic_core.evaluation PREDICTIONS.csv LABELS.csv [--studies STUDIES.csv]
        [--json out.json] [--n-boot 1000] [--seed 0]

Prints the classification and detection report with patient-bootstrap 95% CIs
and writes it as JSON (``--json``). Exit status 0, or 2 for unusable input.

PREDICTIONS.csv -- one row per predicted disc:

- ``study_id``   study (= patient) identifier, matched as text;
- ``level``      disc level name as in the labels ("L4-L5", "L5-S1", "T12-L1", ...);
- ``prediction`` predicted class: 0/1/2 or "MC0"/"MC1"/"MC2";
- ``p_mc0, p_mc1, p_mc2`` optional class probabilities (used for MC0-vs-MC2);
- ``score``      optional detection confidence;
- ``x0, y0, x1, y1`` optional predicted disc box in T1 pixel coordinates
  (x = column, y = row); rows with a box take part in the detection report.

If a (study_id, level) pair occurs more than once, the row with the highest
``score`` (else the first) is scored for classification; all boxed rows count
for detection. A level the analysis found but could not grade (``prediction``
"not graded": the T2 series does not cover it) may have empty or ``nan``
probabilities; it is left out of the metrics and counted (``n_not_graded``,
listed in ``not_graded_levels``; a labelled one also counts as a labelled disc
without a grade, ``n_missing_predictions``).

LABELS.csv -- the ``levels.csv`` format of spider2d: ``study_id, level, modic``
(0 none, 1, 2, 3) and optional ``x0, y0, x1, y1`` (ground-truth box, T1 pixels);
other columns are ignored. A (study_id, level) pair given twice is refused with the
line numbers when the two rows differ (grade, box or scanner columns); identical
copies are counted once (``n_duplicate_labels``, with a note). Optional ``manufacturer`` / ``field_strength_t``
columns (or ``--studies STUDIES.csv``, spider2d's studies.csv, joined on
study_id) give a breakdown by scanner.

Rules: discs with modic == 3 are left out of the three-class scores and counted
(``n_mc3_excluded``); labelled discs without a prediction are left out and
counted (``n_missing_predictions``, listed in ``missing_predictions``);
predictions without a label row are counted (``n_unlabelled_predictions``).
Detection uses every labelled box (MC3 included) and every predicted box on
studies that have ground-truth boxes.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from pydantic_core import to_jsonable_python

from modic_core import settings
from modic_core.cli_args import n_boot as n_boot_arg, seed as seed_arg
from modic_core.errors import InputError
from modic_core.evaluation.metrics import CLASS_NAMES, classification_by_group, classification_report, detection_report, parse_class
from modic_core.schema import ClassificationReport, CohortSetMetrics

#: The prediction written for a level that was found but not graded.
NOT_GRADED = "not graded"

__all__ = ["collapse_duplicate_labels", "evaluate", "evaluate_files", "format_report", "main", "not_graded_sentence", "read_labels",
           "read_predictions"]

BOX = ["x0", "y0", "x1", "y1"]
PROBA = ["p_mc0", "p_mc1", "p_mc2"]
GROUP_COLUMNS = ("manufacturer", "field_strength_t")


def _read_csv(path: str | Path, required: Sequence[str], what: str, *, prepare=None):
    """A predictions / labels / studies CSV as text cells (IDs such as "NA" kept), numeric columns converted
    (``prepare(df)`` first, on the text cells)."""
    # lazy: modic_core.datasets.tables pulls in pandas; only the table path needs it
    from modic_core.datasets.tables import numeric_column, read_text_csv

    path = Path(path)
    df = read_text_csv(path, f"The {what} file '{path.name}'")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(f"The {what} file '{path.name}' lacks the column(s) {missing}; see `python -m modic_core.evaluation -h`.")
    if prepare is not None:
        df = prepare(df)
    for col in (*PROBA, "score", *BOX, "field_strength_t"):
        if col in df.columns:
            df[col] = numeric_column(df, col, f"The {what} file '{path.name}'")
    return df


def _has_box(df) -> Any:
    import pandas as pd  # lazy: pandas is heavy; only the table path needs it

    if not all(c in df.columns for c in BOX):
        return pd.Series(False, index=df.index)
    return df[BOX].apply(pd.to_numeric, errors="coerce").notna().all(axis=1)


def _is_not_graded(predictions) -> Any:
    return predictions.astype(str).str.strip().str.lower() == NOT_GRADED


def _blank_ungraded_probabilities(df):
    """Text cells ``nan`` in the probability columns of not-graded rows made empty (a level without a
    grade has no probabilities; pandas and older batch CSVs write ``nan``). Graded rows stay strict."""
    ungraded = _is_not_graded(df["prediction"])
    for col in PROBA:
        if col in df.columns:
            nan_text = df[col].astype(str).str.strip().str.lower() == "nan"
            df.loc[ungraded & nan_text, col] = ""
    return df


def read_predictions(path: str | Path):
    """Predictions CSV as a DataFrame with an int ``label`` column (see module docstring)."""
    df = _read_csv(path, ["study_id", "level", "prediction"], "predictions", prepare=_blank_ungraded_probabilities)
    try:  # levels the analysis could not grade (e.g. outside the T2 field of view) get label -1
        df["label"] = [-1 if str(v).strip().lower() == NOT_GRADED else parse_class(v) for v in df["prediction"]]
    except ValueError as exc:
        raise InputError(f"The predictions file '{Path(path).name}': {exc}.") from None
    df["has_box"] = _has_box(df)
    return df


def read_labels(path: str | Path, studies: str | Path | None = None):
    """Labels CSV (spider2d levels.csv format), optionally joined with studies.csv."""
    # lazy: modic_core.datasets.tables pulls in pandas; only the table path needs it
    from modic_core.datasets.tables import numeric_column

    df = _read_csv(path, ["study_id", "level", "modic"], "labels")
    modic = numeric_column(df, "modic", f"The labels file '{Path(path).name}'", allowed=(0, 1, 2, 3))
    if modic.isna().any():
        raise InputError(f"The labels file '{Path(path).name}': the modic column must hold 0, 1, 2 or 3 for every disc.")
    df["modic"] = modic.astype(int)
    df, n_dup = collapse_duplicate_labels(df, f"The labels file '{Path(path).name}'")
    if studies is not None:
        st = _read_csv_studies(studies)
        df = df.drop(columns=[c for c in GROUP_COLUMNS if c in df.columns and c in st.columns]).merge(st, on="study_id", how="left")
    df["has_box"] = _has_box(df)
    df.attrs["n_duplicate_labels"] = n_dup
    return df


def collapse_duplicate_labels(df, what: str, *, line_numbers: bool = True):
    """``df`` with identical repeats of a (study_id, level) row dropped, and how many were dropped.

    InputError naming the study, level and (``line_numbers``: ``df`` is a file's rows in order, header
    = line 1) the lines when two rows of one disc differ in what is scored (``modic``, the box, the
    scanner columns): a clinician expects one grade per disc, and a guess between two would be hidden.
    """
    key = ["study_id", "level"]
    dup = df.duplicated(key, keep=False)
    if not dup.any():
        return df, 0
    cols = [c for c in ("modic", *BOX, *GROUP_COLUMNS) if c in df.columns]
    values = df[cols].astype(str)
    lines = df.index.to_series() + 2
    for (sid, level), group in df[dup].groupby(key, sort=False):
        if len(values.loc[group.index].drop_duplicates()) > 1:
            at = f" (lines {', '.join(str(int(n)) for n in lines.loc[group.index])})" if line_numbers else ""
            raise InputError(f"{what} gives study {sid}, level {level} more than once with different values{at}; "
                             "keep one row per disc.")
    out = df.drop_duplicates(key, keep="first")
    return out, int(len(df) - len(out))


def _read_csv_studies(path: str | Path):
    st = _read_csv(path, ["study_id"], "studies")
    return st[["study_id", *[c for c in GROUP_COLUMNS if c in st.columns]]].drop_duplicates("study_id")


def _dedupe_predictions(pred):
    if "score" in pred.columns:
        import pandas as pd  # lazy: pandas is heavy; only the table path needs it

        pred = pred.assign(_s=pd.to_numeric(pred["score"], errors="coerce").fillna(-np.inf))
        pred = pred.sort_values("_s", ascending=False, kind="stable").drop(columns="_s")
    return pred.drop_duplicates(["study_id", "level"], keep="first")


def _boxes(df, level_col: str = "level") -> list[dict[str, Any]]:
    rows = df[df["has_box"]]
    out = []
    for _, r in rows.iterrows():
        rec = {"image_id": r["study_id"], "box": tuple(float(r[c]) for c in BOX), "level": r[level_col]}
        if "score" in r and r["score"] == r["score"]:
            rec["score"] = float(r["score"])
        out.append(rec)
    return out


def evaluate(pred, labels, *, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> dict[str, Any]:
    """Full report from prediction and label DataFrames: a dict whose ``classification``, ``by_group`` and
    ``detection`` entries are records of :mod:`modic_core.schema` (``CohortMetrics.body_from_dict`` types the
    whole; ``pydantic_core.to_jsonable_python`` gives plain JSON)."""
    report: dict[str, Any] = {"n_label_rows": int(len(labels)), "n_prediction_rows": int(len(pred))}
    mc3 = labels["modic"] == 3
    report["n_mc3_excluded"] = int(mc3.sum())
    lab = labels[~mc3]
    uniq = _dedupe_predictions(pred)
    report["n_duplicate_predictions"] = int(len(pred) - len(uniq))
    report["n_duplicate_labels"] = int(labels.attrs.get("n_duplicate_labels", 0))
    ungraded = uniq[uniq["label"] < 0]
    report["n_not_graded"] = int(len(ungraded))  # found but not graded (T2 does not cover them): not scored
    report["not_graded_levels"] = [f"{s}:{l}" for s, l in zip(ungraded["study_id"], ungraded["level"])][:200]
    uniq = uniq[uniq["label"] >= 0]
    keep_cols = ["study_id", "level", "label", *[c for c in (*PROBA, *SET_COLUMNS) if c in uniq.columns]]
    joined = lab.merge(uniq[keep_cols], on=["study_id", "level"], how="left", indicator=True)
    missing = joined[joined["_merge"] == "left_only"]
    report["n_missing_predictions"] = int(len(missing))
    report["missing_predictions"] = [f"{s}:{l}" for s, l in zip(missing["study_id"], missing["level"])][:200]
    labelled_keys = set(zip(labels["study_id"], labels["level"]))
    report["n_unlabelled_predictions"] = int(sum((s, l) not in labelled_keys for s, l in zip(uniq["study_id"], uniq["level"])))
    scored = joined[joined["_merge"] == "both"]
    report["classification"] = None
    report["by_group"] = {}
    if len(scored):
        y_true = scored["modic"].astype(int).to_numpy()
        y_pred = scored["label"].astype(int).to_numpy()
        proba = None
        if all(c in scored.columns for c in PROBA):
            p = scored[PROBA].apply(lambda s: s.astype(float)).to_numpy()
            proba = p if np.isfinite(p).all() else None
        pid = scored["study_id"].tolist()
        kw = dict(n_boot=n_boot, seed=seed, level=level)
        report["classification"] = classification_report(y_true, y_pred, proba=proba, patient_ids=pid, **kw)
        for col in GROUP_COLUMNS:
            if col in scored.columns:
                groups = [_group_value(v) for v in scored[col]]
                report["by_group"][col] = classification_by_group(y_true, y_pred, groups, proba=proba, patient_ids=pid, **kw)
    report["prediction_sets"] = _set_report(scored, n_boot=n_boot, seed=seed) if len(scored) else None
    gt_boxes, pred_boxes = _boxes(labels), _boxes(pred)
    report["detection"] = (
        detection_report(gt_boxes, pred_boxes, n_boot=n_boot, seed=seed, level=level) if gt_boxes and pred_boxes else None
    )
    report["notes"] = [f"CIs: {int(level * 100)}% percentile bootstrap over patients (study ids), {n_boot} resamples, seed {seed}."]
    if report["n_duplicate_labels"]:
        report["notes"].append(f"{_count(report['n_duplicate_labels'], 'label row')} repeated a disc with identical values "
                               "and counted once.")
    return report


SET_COLUMNS = ("prediction_set", "set_coverage")


def _set_report(scored, *, n_boot: int, seed: int) -> CohortSetMetrics | None:
    """How the predictions' conformal sets did against the labels (``prediction_set`` cells such as ``MC0|MC2``):
    coverage, single-grade share and accuracy on MC0/MC2 discs (:func:`modic_core.evaluation.conformal.set_metrics`),
    and the coverage the sets were made at; None when the predictions carry no sets."""
    import pandas as pd  # lazy: pandas is heavy; only the table path needs it

    # lazy: modic_core.analysis.report, modic_core.evaluation.conformal pull in torch; only the model path needs it
    from modic_core.analysis.report import SET_SEPARATOR
    from modic_core.evaluation.conformal import set_metrics

    if "prediction_set" not in scored.columns:
        return None
    cells = scored["prediction_set"].fillna("").astype(str).str.strip()
    has = cells != ""
    if not has.any():
        return None
    sets = [tuple(g.strip() for g in c.split(SET_SEPARATOR) if g.strip()) for c in cells[has]]
    m = set_metrics(sets, scored.loc[has, "modic"].astype(int).to_numpy(), patient_ids=scored.loc[has, "study_id"].tolist(),
                    n_boot=n_boot, seed=seed)
    cov = pd.to_numeric(scored.loc[has, "set_coverage"], errors="coerce").dropna().unique() if "set_coverage" in scored.columns else []
    return CohortSetMetrics(**dict(m), target_coverage=[float(v) for v in sorted(cov)], n_levels_with_sets=int(has.sum()))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def not_graded_sentence(n: int) -> str:
    """The summary line of the levels found but not graded: "N levels not graded (T2 does not cover them), ..."."""
    return f"{_count(n, 'level')} not graded (T2 does not cover {'it' if n == 1 else 'them'}), excluded from the metrics"


def _group_value(v: Any) -> Any:
    if isinstance(v, str) and not v:
        return None
    if isinstance(v, float):
        if math.isnan(v):
            return None
        return f"{v:g}"
    return v


def evaluate_files(
    predictions: str | Path, labels: str | Path, *, studies: str | Path | None = None, n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    report = evaluate(read_predictions(predictions), read_labels(labels, studies), n_boot=n_boot, seed=seed)
    report["inputs"] = {"predictions": Path(predictions).name, "labels": Path(labels).name, "studies": Path(studies).name if studies else None}
    return report


# --------------------------------------------------------------------------- text output


def _class_lines(c: ClassificationReport, indent: str = "  ") -> list[str]:
    lines = [f"{indent}discs: {c.n_discs} from {c.n_patients} patients"]
    cm = c.confusion_matrix
    lines.append(f"{indent}confusion matrix (rows true, columns predicted):")
    lines.append(f"{indent}        " + "".join(f"{n:>7}" for n in CLASS_NAMES))
    for name, row in zip(CLASS_NAMES, cm):
        lines.append(f"{indent}  {name:>5} " + "".join(f"{v:>7d}" for v in row))
    for key, label in [
        ("balanced_accuracy", "balanced accuracy"),
        ("macro_f1", "macro-F1"),
        ("weighted_f1", "weighted-F1"),
        ("accuracy", "accuracy"),
        ("cohen_kappa", "Cohen's kappa"),
    ]:
        lines.append(f"{indent}{label:<20} {getattr(c, key).display}")
    m = c.mc0_vs_mc2
    lines.append(f"{indent}{'MC0-vs-MC2 bal. acc.':<20} {m.display}  (MC0 n={m.n_mc0}, MC2 n={m.n_mc2}, from {m.source})")
    lines.append(f"{indent}per class:")
    for name in CLASS_NAMES:
        pc = c.per_class[name]
        lines.append(
            f"{indent}  {name} (true n={pc.n_true}, predicted n={pc.n_pred}): sensitivity {pc.sensitivity.display}; "
            f"specificity {pc.specificity.display}; precision {pc.precision.display}"
        )
    return lines


def format_report(report: dict[str, Any]) -> str:
    """Human-readable text of :func:`evaluate`'s report."""
    lines = ["Modic change classification", "=" * 27]
    lines.append(
        f"MC3 discs excluded: {report['n_mc3_excluded']}; labelled discs without prediction: "
        f"{report['n_missing_predictions']}; predictions without label: {report['n_unlabelled_predictions']}; "
        f"duplicate predictions: {report['n_duplicate_predictions']}"
    )
    if report.get("n_not_graded"):
        lines.append(not_graded_sentence(report["n_not_graded"]))
    c = report["classification"]
    lines += _class_lines(c) if c else ["  no disc could be scored"]
    for col, groups in report.get("by_group", {}).items():
        lines.append(f"\nBy {col}:")
        for g, rep in groups.items():
            lines.append(
                f"  {g}: n={rep.n_discs} balanced accuracy {rep.balanced_accuracy.display}; "
                f"MC0-vs-MC2 {rep.mc0_vs_mc2.display}"
            )
    ps = report.get("prediction_sets")
    if ps:
        target = ", ".join(f"{100 * v:g} %" for v in ps.target_coverage) or "not recorded"
        lines += ["", "Prediction sets (MC0/MC2 discs; sets made at " + target + ")", "=" * 27,
                  f"  coverage             {ps.coverage.display}",
                  *[f"  coverage {g:<11} {e.display}" for g, e in ps.coverage_by_grade.items()],
                  f"  single-grade sets    {ps.singleton_share.display}",
                  f"  single grade right   {ps.singleton_accuracy.display}",
                  f"  MC1 in the set       {ps.mc1_in_set.display}"]
    d = report.get("detection")
    lines += ["", "Disc detection", "=" * 14]
    if d:
        lines.append(f"  images: {d.n_images}, GT boxes: {d.n_gt}, predicted boxes: {d.n_pred} (ignored on unlabelled images: {d.n_pred_ignored})")
        lines.append(f"  mean IoU             {d.mean_iou.display}  (median {d.median_iou:.3f})" if d.median_iou is not None else "")
        for t, e in d.recall.items():
            lines.append(f"  recall @ IoU {t:<7} {e.display}")
        lines.append(f"  FP per image         {d.fp_per_image.display}  (unmatched at IoU >= {d.fp_iou:g})")
        lines.append(f"  level naming acc.    {d.level_accuracy.display}")
    else:
        lines.append("  no boxes in labels and/or predictions")
    lines += ["", *[f"Note: {n}" for n in report.get("notes", [])]]
    if c:
        lines += [f"Note: {n}" for n in c.notes or []]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m modic_core.evaluation", description=__doc__.split("\n\n")[0])
    ap.add_argument("predictions", help="predictions CSV (study_id, level, prediction, p_mc0..p_mc2, [score, x0..y1])")
    ap.add_argument("labels", help="labels CSV in spider2d levels.csv format (study_id, level, modic, [x0..y1])")
    ap.add_argument("--studies", help="studies.csv with manufacturer / field_strength_t, joined on study_id")
    ap.add_argument("--json", dest="json_out", help="write the report as JSON here")
    ap.add_argument("--n-boot", type=n_boot_arg, default=1000, help=f"bootstrap resamples over patients (default 1000, at most {settings.MAX_N_BOOT})")
    ap.add_argument("--seed", type=seed_arg, default=0, help="bootstrap seed, 0 to 2**32 - 1 (default 0)")
    args = ap.parse_args(argv)
    try:
        report = evaluate_files(args.predictions, args.labels, studies=args.studies, n_boot=args.n_boot, seed=args.seed)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_report(report))
    if args.json_out:
        try:
            Path(args.json_out).write_text(json.dumps(to_jsonable_python(report), indent=1, allow_nan=False))
        except OSError:
            print(f"error: the report could not be written to '{Path(args.json_out).name}'; choose another --json path.", file=sys.stderr)
            return 2
        print(f"\nwrote {args.json_out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
