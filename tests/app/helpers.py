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
    """A plausible comparison file (a :class:`modic_core.schema.NormalizationComparison`), built with
    modic_core.evaluation.metrics on made-up labels (MC1 has 4 discs, so it is flagged "too few cases")."""
    from modic_core.schema import NormalizationComparison

    from modic_core.evaluation.metrics import classification_by_group, paired_bootstrap

    rng = np.random.default_rng(0)
    y = np.array([0] * 60 + [1] * 4 + [2] * 36)
    pids = [f"p{i // 5}" for i in range(len(y))]
    groups = ["SIEMENS" if i % 2 else "Philips" for i in range(len(y))]
    out = {"best_method": "zscore", "best_by": "mc0_vs_mc2 balanced accuracy", "reference": "zscore",
           "n_discs": int(len(y)), "n_patients": len(set(pids)), "notes": ["Pooled out-of-fold predictions of 5 folds."],
           "class_counts": {"MC0": 60, "MC1": 4, "MC2": 36}, "box_source_counts": {"ground truth": int(len(y))}, "methods": {}}
    preds = {}
    for k, m in enumerate(methods):
        flip = rng.random(len(y)) < (0.35 - 0.1 * k)
        preds[m] = np.where(flip, rng.integers(0, 3, len(y)), y)
    for m in methods:
        entry = {"metrics": _report(y, preds[m], pids),
                 "by_manufacturer": classification_by_group(y, preds[m], groups, patient_ids=pids, n_boot=50)}
        if m != "zscore":
            entry["paired"] = {k: paired_bootstrap(y, preds[m], preds["zscore"], pids, metric=k, n_boot=100)
                                         for k in ("balanced_accuracy", "mc0_vs_mc2_balanced_accuracy")}
        out["methods"][m] = entry
    return NormalizationComparison.body_from_dict(out).to_dict()


def default_method() -> str:
    """The sidebar's default normalization: the shipped comparison's best method, else z-score."""
    from modic_core.ui.comparison import shipped_best_method

    return shipped_best_method(default="zscore")


def make_detector_card():
    """A small detector card (:class:`modic_core.schema.DetectorCard`) with made-up cross-validation numbers."""
    from modic_core.schema import DetectionCV, DetectionReport, DetectorCard, DetectorData, DetectorTrainingConfig, Estimate

    rep = DetectionReport(n_images=2, n_gt=10, n_pred=11,
                          mean_iou=Estimate(value=0.8, ci_low=0.7, ci_high=0.85, display="0.800 (95% CI 0.700-0.850)"),
                          recall={"0.5": Estimate(value=0.9, display="0.900"), "0.7": Estimate(value=0.8, display="0.800")},
                          fp_per_image=Estimate(value=0.5, display="0.500"), level_accuracy=Estimate(value=0.9, display="0.900"))
    return DetectorCard(
        command="python -m modic_core.train.detector --cv 2", data=DetectorData(cohort="made-up", n_studies=2,
                                                                                   images="mid-sagittal T1", study_ids=["1", "2"]),
        config=DetectorTrainingConfig(n_folds=2), weights="detector.pt", sha256="ab" * 32, size_bytes=1,
        cross_validation=DetectionCV(default_threshold=0.5, by_sequence={"T1": {"0.5": rep}}),
        cross_validation_status="2-fold patient-level, complete", folds=[["1"], ["2"]])


def settle(page, ms: int = 600) -> None:
    """Wait until Streamlit is idle (no 'Running…' status widget), then a little more."""
    page.wait_for_timeout(300)
    try:
        page.locator("[data-testid='stStatusWidget']").wait_for(state="detached", timeout=60_000)
    except Exception:  # noqa: BLE001 - the widget may never have appeared
        pass
    page.wait_for_timeout(ms)


def choose_upload(page, *, tries: int = 3) -> None:
    """Browser tests: pick the "Upload" input source and wait until the file uploader is attached.

    On a loaded 2-core CI runner a click that lands while a script run is still finishing can be
    lost (CI once timed out waiting for the uploader); the click is retried after the page is idle.
    A repeated click is harmless: the radio keeps its value.
    """
    uploader = page.locator("[data-testid='stFileUploader'] input[type='file']")
    radio = page.locator("[data-testid='stRadio']").get_by_text("Upload", exact=True).first
    for attempt in range(tries):
        try:
            page.locator("[data-testid='stStatusWidget']").wait_for(state="detached", timeout=60_000)
        except Exception:  # noqa: BLE001 - the status widget may never have appeared
            pass
        try:
            radio.click(timeout=30_000)
        except Exception:  # noqa: BLE001
            _failure_shot(page, f"choose_upload_click_{attempt}")
            if attempt == tries - 1:
                raise
            continue
        try:
            uploader.wait_for(state="attached", timeout=30_000)
            return
        except Exception:  # noqa: BLE001 - retried; the last failure is raised
            _failure_shot(page, f"choose_upload_{attempt}")
            if attempt == tries - 1:
                raise


def _failure_shot(page, name: str) -> None:
    """A screenshot and the page's text under artifacts/browser/ when a browser step fails (for CI logs)."""
    import os

    folder = Path(os.environ.get("MODIC_ARTIFACTS", ROOT / "artifacts")) / "browser"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"failed_{name}.png"))
        print(f"--- page text at failure ({name}) ---\n" + page.inner_text("body")[:3000])
    except Exception as exc:  # noqa: BLE001 - diagnostics only
        print(f"no failure screenshot: {exc}")
