"""Reading the shipped model records (``weights/detector.json``, ``weights/classifier_<method>.json``).

Each record is written by the training scripts (command, data, seed, sha256, metrics). The
model card shows them as found: every number comes from these files, none is typed in. An
absent or unreadable file is reported as "not trained yet".
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from modic_core.ui.comparison import COMPARISON_FILE, load_json, weights_dir

__all__ = ["ModelRecord", "model_records", "flatten_metrics", "comparison_record", "provenance_rows", "record_metrics",
           "metrics_rows"]

#: Where a training record may keep its evaluation, in order of preference.
METRIC_KEYS = ("metrics", "cross_validation", "evaluation", "cv_metrics", "report", "validation")

_SKIP_KEYS = {"per_gt", "bootstrap", "confusion_matrix_axes", "labels", "missing_predictions", "notes", "matching"}


class ModelRecord(dict):
    """A model's JSON record plus ``name``, ``path`` and ``present``."""

    @property
    def present(self) -> bool:
        return bool(self.get("_present"))


def model_records(folder: str | Path | None = None) -> list[ModelRecord]:
    """The detector's record then one per normalization method (registry order)."""
    from modic_core.normalization.methods import NORMALIZATIONS

    folder = Path(folder) if folder else weights_dir()
    names = [("detector", "detector.json")] + [(f"classifier ({m})", f"classifier_{m}.json") for m in NORMALIZATIONS]
    out = []
    for name, fname in names:
        data = load_json(folder / fname)
        rec = ModelRecord(data or {})
        rec["_name"] = name
        rec["_file"] = fname
        rec["_present"] = data is not None
        rec["_weights_present"] = (folder / fname.replace(".json", ".pt")).is_file()
        out.append(rec)
    return out


def comparison_record(folder: str | Path | None = None) -> dict[str, Any] | None:
    folder = Path(folder) if folder else weights_dir()
    return load_json(folder / COMPARISON_FILE)


def _fmt_number(v: Any) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def flatten_metrics(metrics: Any, prefix: str = "", *, max_rows: int = 80) -> list[tuple[str, str]]:
    """(name, text) rows of a metrics dict: estimates by their ``display`` text (CIs, "too few
    cases" flags), plain numbers as numbers; per-box lists and bootstrap settings are skipped."""
    rows: list[tuple[str, str]] = []

    def walk(obj: Any, path: str) -> None:
        if len(rows) >= max_rows:
            return
        if isinstance(obj, Mapping):
            if "display" in obj:
                rows.append((path, str(obj["display"])))
                return
            for k, v in obj.items():
                if str(k) in _SKIP_KEYS:
                    continue
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(obj, (int, float, str, bool)) or obj is None:
            if path:
                rows.append((path, "—" if obj is None else _fmt_number(obj)))
        elif isinstance(obj, list) and path.endswith("confusion_matrix"):
            rows.append((path, "; ".join(" ".join(str(x) for x in r) if isinstance(r, list) else str(r) for r in obj)))

    walk(metrics, prefix)
    return rows


def provenance_rows(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, text) of a model record's provenance: command, data, seed, sha256, and other scalars."""
    rows = []
    for key in ("command", "data", "seed", "sha256", "weights", "created", "git_commit", "epochs", "device",
                "cross_validation_status", "status"):
        if key in record and record[key] not in (None, ""):
            val = record[key]
            if isinstance(val, (list, tuple)):
                val = " ".join(str(v) for v in val)
            elif isinstance(val, Mapping):
                val = ", ".join(f"{k}={v}" for k, v in val.items() if not isinstance(v, (Mapping, list)))
            rows.append((key, str(val)))
    return rows


def record_metrics(record: Mapping[str, Any]) -> tuple[str, Any] | None:
    """(key, metrics) of the first non-empty evaluation section of a record, or None."""
    for key in METRIC_KEYS:
        val = record.get(key)
        if isinstance(val, Mapping) and val:
            return key, val
    return None


def metrics_rows(metrics: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Rows for the model card: a classification report as its headline scores (display texts with
    CIs, "too few cases" flags), anything else (e.g. a detection report) flattened."""
    if isinstance(metrics, Mapping) and "per_class" in metrics and "confusion_matrix" in metrics:
        rows: list[tuple[str, str]] = []
        for key in ("n_discs", "n_patients"):
            if key in metrics:
                rows.append((key.replace("n_", "number of "), str(metrics[key])))
        labels = [("balanced_accuracy", "balanced accuracy"), ("mc0_vs_mc2", "MC0-vs-MC2 balanced accuracy"),
                  ("macro_f1", "macro-F1"), ("weighted_f1", "weighted-F1"), ("cohen_kappa", "Cohen's kappa"),
                  ("accuracy", "accuracy")]
        for key, label in labels:
            est = metrics.get(key)
            if isinstance(est, Mapping) and "display" in est:
                rows.append((label, str(est["display"])))
        for cls, pc in metrics.get("per_class", {}).items():
            sens = pc.get("sensitivity", {})
            if "display" in sens:
                rows.append((f"sensitivity {cls} (n={pc.get('n_true', '?')})", str(sens["display"])))
        return rows
    if isinstance(metrics, Mapping) and "by_sequence" in metrics and "default_threshold" in metrics:
        # the detector's cross-validation summary (modic_core.train.detection_cv): headline rows
        t = f"{float(metrics['default_threshold']):g}"
        rows = []
        for seq, by_t in metrics["by_sequence"].items():
            r = by_t.get(t, {})
            for label, est in (("mean IoU", r.get("mean_iou")), ("discs with IoU >= 0.7", r.get("recall", {}).get("0.7")),
                               ("recall at IoU 0.5", r.get("recall", {}).get("0.5")),
                               ("false positives per image", r.get("fp_per_image")),
                               ("level names right", r.get("level_accuracy"))):
                if isinstance(est, Mapping) and "display" in est:
                    rows.append((f"{seq} slice, threshold {t}: {label}", str(est["display"])))
        fp = metrics.get("false_positive_locations_at_default_threshold")
        if isinstance(fp, Mapping):
            rows.append(("false positives: above the top graded disc / below L5-S1 / within the column",
                         f"{fp.get('above_top_graded_disc')} / {fp.get('below_lowest_graded_disc')} / "
                         f"{fp.get('within_graded_column')} (over {fp.get('images')} images)"))
        return rows
    return flatten_metrics(metrics)
