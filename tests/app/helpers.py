"""Helpers shared by the dashboard tests: paths, demo uploads, a plausible comparison file."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
PHANTOM = ROOT / "demo" / "phantom_dicom"
APP = str(ROOT / "app.py")


def phantom_files(which: tuple[str, ...] = ("t1", "t2")) -> list[tuple[str, bytes, str]]:
    """The demo phantom's DICOM files as (name, bytes, mime) uploads."""
    out = []
    for series in which:
        for f in sorted((PHANTOM / series).glob("*.dcm")):
            out.append((f"{series}_{f.name}", f.read_bytes(), "application/dicom"))
    return out


def phantom_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for series in ("t1", "t2"):
            for f in sorted((PHANTOM / series).glob("*.dcm")):
                zf.write(f, f"study/{series}/{f.name}")
    return buf.getvalue()


def _report(y_true, y_pred, pids, proba=None):
    from modic_core.evaluation.metrics import classification_report

    return classification_report(y_true, y_pred, proba=proba, patient_ids=pids, n_boot=100, seed=0)


def make_comparison(methods=("none", "percentile", "zscore")) -> dict:
    """A plausible comparison file in the layout of ``modic_core.train.compare.summarize``, built with
    modic_core.evaluation.metrics on made-up labels (MC1 has 4 discs, so it is flagged "too few cases")."""
    from modic_core.evaluation.metrics import classification_by_group, paired_bootstrap

    rng = np.random.default_rng(0)
    y = np.array([0] * 60 + [1] * 4 + [2] * 36)
    pids = [f"p{i // 5}" for i in range(len(y))]
    groups = ["SIEMENS" if i % 2 else "Philips" for i in range(len(y))]
    out = {"best_method": "zscore", "n_discs": int(len(y)), "notes": ["Pooled out-of-fold predictions of 5 folds."],
           "class_counts": {"MC0": 60, "MC1": 4, "MC2": 36}, "methods": {}}
    preds = {}
    for k, m in enumerate(methods):
        flip = rng.random(len(y)) < (0.35 - 0.1 * k)
        preds[m] = np.where(flip, rng.integers(0, 3, len(y)), y)
    for m in methods:
        entry = {"metrics": _report(y, preds[m], pids),
                 "by_manufacturer": classification_by_group(y, preds[m], groups, patient_ids=pids, n_boot=50)}
        if m != "zscore":
            entry["paired_vs_zscore"] = {k: paired_bootstrap(y, preds[m], preds["zscore"], pids, metric=k, n_boot=100)
                                         for k in ("balanced_accuracy", "mc0_vs_mc2_balanced_accuracy")}
        out["methods"][m] = entry
    return out


def default_method() -> str:
    """The sidebar's default normalization: the shipped comparison's best method, else z-score."""
    from modic_core.ui.comparison import COMPARISON_FILE, best_method, load_json, weights_dir

    return best_method(load_json(weights_dir() / COMPARISON_FILE), default="zscore")
