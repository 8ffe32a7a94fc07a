"""Speed and memory benchmark of the whole product, as the app uses it (``make bench``).

    python -m modic_core.bench.benchmark [--repeats 5] [--json benchmarks/latest.json]

Prints medians and spreads (min-max) over repeated runs of: loading a paired study (15-slice
DICOM phantom pair, spider2d .mha pair); detection; classification per normalization method
(with and without Grad-CAM); the whole ``analyze`` of a fresh study; a threshold change and a
normalization switch through the same caching the app uses; peak resident memory of this process
after loading every model; cohort throughput of the batch mode. Runs on the CPU and, when torch
sees a GPU, on it too. Targets (2-core CPU): analyze of a 15-slice pair < 2 s, threshold change
< 50 ms, normalization switch < 0.5 s, peak memory < 2 GB.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import time
from typing import Callable
import dataclasses

import torch
import numpy as np

from modic_core import settings
from modic_core.analysis.alignment import ALIGN_THRESHOLD, check_alignment
from modic_core.analysis.analyze import StudyAnalysis, models_available
from modic_core.batch.local import run_cohort
from modic_core.bench.normalization import run_benchmark
from modic_core.classification import load_classifier
from modic_core.datasets.demo import demo_dir
from modic_core.datasets.synthetic import make_phantom
from modic_core.detection import load_detector
from modic_core.pairing.study import load_study, resample_to
from modic_core.schema import Benchmark
from modic_core.volume import Volume

__all__ = ["run", "main"]

TARGETS = {"analyze_15_slice_s": 2.0, "threshold_change_s": 0.05, "normalization_switch_s": 0.5, "peak_rss_gb": 2.0}
# N4 bias-field correction alone takes seconds on a 15-slice study; its switch is reported apart.


def _time(fn: Callable[[], object], repeats: int, setup: Callable[[], object] | None = None) -> dict:
    ts = []
    for _ in range(repeats):
        if setup:
            setup()
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return {"median_s": round(statistics.median(ts), 4), "min_s": round(min(ts), 4), "max_s": round(max(ts), 4), "n": repeats}


def _rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024  # Linux: KiB


def _bench_device(device: str, repeats: int) -> dict:
    root = demo_dir()
    dicom = (root / "phantom_dicom" / "t1", root / "phantom_dicom" / "t2")
    spider = next((p / "t1.mha", p / "t2.mha") for p in sorted((root / "cohort" / "studies").iterdir()))
    out: dict = {"device": device}
    out["load_dicom_15_slice_pair"] = _time(lambda: load_study(*dicom), repeats)
    out["load_spider2d_mha_pair"] = _time(lambda: load_study(*spider), repeats)
    study = load_study(*dicom)
    det = load_detector(device=device)
    methods = [m for m, ok in models_available().items() if ok and m != "detector"]
    for m in methods:  # every model resident, for the peak-memory figure
        load_classifier(m, device=device)
    out["methods"] = methods
    out["detection"] = _time(lambda: det.detect(study.t1), repeats)
    single = load_study(*spider)
    out["detection_single_slice"] = _time(lambda: det.detect(single.t1), repeats)

    def fresh() -> StudyAnalysis:
        sa = StudyAnalysis(study, detector=det)
        sa.detections()
        return sa

    per = {}
    for m in methods:
        holder = {}
        per[m] = {
            "without_gradcam": _time(lambda h=holder, m=m: h["sa"].classification(m, gradcam=False), repeats,
                                     lambda h=holder: h.update(sa=fresh())),
            "with_gradcam": _time(lambda h=holder, m=m: h["sa"].classification(m, gradcam=True), repeats,
                                  lambda h=holder: h.update(sa=fresh())),
        }
    out["classification_per_method"] = per
    ref = "zscore" if "zscore" in methods else methods[0]
    out["analyze_15_slice"] = _time(lambda: StudyAnalysis(study, detector=det).report(ref, 0.5), repeats)
    sa = StudyAnalysis(study, detector=det)
    sa.report(ref, 0.5)
    thr = iter([0.3, 0.7] * repeats)
    out["threshold_change"] = _time(lambda: sa.report(ref, next(thr)), repeats)
    switches = {}
    for other in [m for m in methods if m != ref]:
        switches[other] = _time(lambda other=other: sa.report(other, 0.5), repeats, lambda other=other: sa.forget(other))
    out["normalization_switch_per_method"] = switches
    fast = {m: t for m, t in switches.items() if m != "n4_zscore"} or switches
    worst = max(fast, key=lambda m: fast[m]["median_s"])
    out["normalization_switch"] = dict(fast[worst], to=worst, note="slowest switch from zscore, N4 excluded (listed apart)")
    out.update(_bench_alignment(study, det, repeats))
    out["peak_rss_gb_after_all_models"] = round(_rss_gb(), 3)
    return out


def _bench_alignment(study, det, repeats: int) -> dict:
    """The T1/T2 alignment check on the 15-slice pair: as stored (header passes), and with its T2
    moved 45 mm head-foot under another frame of reference (the check must move it back)."""
    t1_regions = det.detect(study.t1).filter(ALIGN_THRESHOLD)  # known from detection in an analysis
    n = study.t2_native
    meta = dataclasses.replace(n.meta, frame_of_reference_uid="moved")
    moved = Volume(n.array, n.spacing, tuple(np.add(n.origin, (0.0, 0.0, -45.0))), n.direction.copy(), meta)
    shifted = dataclasses.replace(study, t2=resample_to(moved, study.t1), t2_native=moved)
    t1 = dataclasses.replace(study.t1, meta=dataclasses.replace(study.t1.meta, frame_of_reference_uid="t1"))
    shifted = dataclasses.replace(shifted, t1=t1)
    return {
        "alignment_header": _time(lambda: check_alignment(study, det, t1_detections=t1_regions), repeats),
        "alignment_repair": _time(lambda: check_alignment(shifted, det, t1_detections=t1_regions), repeats),
    }


def _bench_cohort() -> dict:
    folder = demo_dir() / "cohort"
    run_cohort(folder, normalization=settings.DEFAULT_NORMALIZATION, threshold=settings.DEFAULT_THRESHOLD)  # warm-up: models loaded, caches filled
    t0 = time.perf_counter()
    res = run_cohort(folder, normalization=settings.DEFAULT_NORMALIZATION, threshold=settings.DEFAULT_THRESHOLD)
    dt = time.perf_counter() - t0
    n = len(res.status)
    return {"cohort": "demo/cohort", "studies": n, "seconds": round(dt, 3), "studies_per_minute": round(60 * n / dt, 1),
            "ok": sum(s["status"] == "ok" for s in res.status)}


def run(*, repeats: int = 5) -> dict:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    doc = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "commit": _git_commit(),
        "machine": {"cpu_count": __import__("os").cpu_count(), "torch_threads": torch.get_num_threads(),
                    "python": platform.python_version(), "torch": torch.__version__,
                    "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
        "targets": TARGETS,
        "cpu": _bench_device("cpu", repeats),
    }
    if torch.cuda.is_available():
        doc["gpu"] = _bench_device("cuda", repeats)
    doc["cohort_throughput"] = _bench_cohort()
    doc["normalization_15x512x512"] = run_benchmark(shape=(15, 512, 512), repeats=repeats)
    make_phantom(seed=0)  # warm imports
    doc["synthetic_phantom_15x256x256"] = _time(lambda: make_phantom(seed=1), repeats)  # the tests' and demos' generator
    c = doc["cpu"]
    doc["target_check"] = {
        "analyze_15_slice_s": [c["analyze_15_slice"]["median_s"], c["analyze_15_slice"]["median_s"] < TARGETS["analyze_15_slice_s"]],
        "threshold_change_s": [c["threshold_change"]["median_s"], c["threshold_change"]["median_s"] < TARGETS["threshold_change_s"]],
        "normalization_switch_s": [c["normalization_switch"]["median_s"], c["normalization_switch"]["median_s"] < TARGETS["normalization_switch_s"]],
        "peak_rss_gb": [c["peak_rss_gb_after_all_models"], c["peak_rss_gb_after_all_models"] < TARGETS["peak_rss_gb"]],
    }
    return doc


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5).stdout.strip() or None
    except Exception:  # noqa: BLE001 - not a git checkout
        return None


def _print(doc: dict) -> None:
    def row(name, t):
        print(f"  {name:<44} median {t['median_s'] * 1000:9.1f} ms   [{t['min_s'] * 1000:.1f}-{t['max_s'] * 1000:.1f}] n={t['n']}")

    for dev in ("cpu", "gpu"):
        if dev not in doc:
            continue
        d = doc[dev]
        print(f"== {dev} ({d['device']})")
        for k in ("load_dicom_15_slice_pair", "load_spider2d_mha_pair", "detection_single_slice", "detection", "analyze_15_slice", "threshold_change", "normalization_switch"):
            row(k, d[k])
        for m, v in d["classification_per_method"].items():
            row(f"classify {m} (no Grad-CAM)", v["without_gradcam"])
            row(f"classify {m} (with Grad-CAM)", v["with_gradcam"])
        for m, t in d["normalization_switch_per_method"].items():
            row(f"switch zscore -> {m}", t)
        print(f"  peak RSS after loading all models: {d['peak_rss_gb_after_all_models']:.2f} GB")
    if doc.get("synthetic_phantom_15x256x256"):
        row("synthetic phantom 15x256x256 (make_phantom)", doc["synthetic_phantom_15x256x256"])
    print("== cohort throughput:", doc["cohort_throughput"])
    print("== targets:", json.dumps(doc["target_check"]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", default="benchmarks/latest.json")
    args = ap.parse_args(argv)
    doc = run(repeats=args.repeats)
    _print(doc)
    p = Benchmark.body_from_dict(doc, source=args.json).save(args.json)  # validated, atomic
    print("wrote", p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
