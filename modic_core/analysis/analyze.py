"""End-to-end analysis of a paired study: detect regions, grade Modic changes, explain with Grad-CAM.

    python -m modic_core.analysis T1 T2 --normalization zscore [--threshold 0.5] [--json out.json]

Caching (what the app relies on): detection runs once per study; each normalization method's
classification (probabilities and Grad-CAM of every candidate region with score >=
:data:`MIN_THRESHOLD`) runs once per study and method; a threshold change only filters and
renames levels, so it never reruns a network. Models load once per process.

Feeding a 3D study to a D = 1 model: each region is classified on every slice of its slab
(the slices where the detector found it, limited to the centre slice ±1), and the probabilities
are averaged; Grad-CAM is computed per slice and placed on that slice. A model trained with
D > 1 gets one crop of D consecutive slices centred on the region.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modic_core.classification.crops import extract_crops, paste_back
from modic_core.detection.infer import StudyDetections
from modic_core.detection.levels import assign_level_names, order_top_to_bottom
from modic_core.errors import InputError
from modic_core.analysis.report import CLASS_NAMES, LevelResult, StudyReport
from modic_core.volume import Study

__all__ = ["MIN_THRESHOLD", "DEFAULT_NORMALIZATION", "StudyAnalysis", "analyze", "analyze_many", "get_analysis",
           "models_available", "study_fingerprint"]

MIN_THRESHOLD = 0.05  # candidates below this confidence are never classified (the slider's minimum)
DEFAULT_NORMALIZATION = "zscore"
MAX_SLAB_HALF = 1  # D = 1 models see the region's centre slice ±1 (within its detected slab)


def study_fingerprint(study: Study) -> str:
    """A content hash of the study's T1 and T2 arrays and geometry (no patient data)."""
    h = hashlib.sha1()
    for v in (study.t1, study.t2):
        a = np.ascontiguousarray(v.array)
        h.update(str(a.shape).encode())
        h.update(str(v.spacing).encode())
        h.update(a[:, ::4, ::4].tobytes())
    return h.hexdigest()[:16]


def models_available(weights_dir: str | Path | None = None) -> dict[str, bool]:
    """Which weight files are installed: {"detector": bool, "<method>": bool for each normalization}."""
    from modic_core import settings
    from modic_core.classification.infer import classifier_path
    from modic_core.normalization.methods import NORMALIZATIONS

    wd = Path(weights_dir) if weights_dir else settings.weights_dir()
    out = {"detector": (wd / "detector.pt").is_file()}
    out.update({m: classifier_path(m, wd).is_file() for m in NORMALIZATIONS})
    return out


@dataclass
class _Classified:
    probabilities: np.ndarray  # (n_candidates, 3)
    crop_heat: list[list[tuple[int, np.ndarray]]]  # per candidate: [(z_center, heat (D, H, W)), ...]
    seconds: dict[str, float]
    weights: str


class StudyAnalysis:
    """Detection once, classification once per normalization, reports for any threshold."""

    def __init__(self, study: Study, *, detector=None) -> None:
        self.study = study
        self.fingerprint = study_fingerprint(study)
        self._detector = detector
        self._det: StudyDetections | None = None
        self._cls: dict[tuple[str, bool], _Classified] = {}
        self._heat: dict[tuple[str, int], np.ndarray] = {}
        self._lock = threading.RLock()
        self.timings: dict[str, float] = {}

    # -- stage 1
    def detections(self) -> StudyDetections:
        with self._lock:
            if self._det is None:
                from modic_core.detection import load_detector

                det = self._detector or load_detector()
                self._set_detections(det.detect(self.study.t1), det)
            return self._det

    def _set_detections(self, detections: StudyDetections, detector) -> None:
        self._det = detections
        self.timings["detection_s"] = detections.seconds
        self._det_source = f"{detector.source} (sha256 {detector.sha256[:12]})"

    def forget(self, normalization: str) -> None:
        """Drop the cached classification of one method (benchmarks time a fresh switch with it)."""
        with self._lock:
            for key in [k for k in self._cls if k[0] == normalization]:
                del self._cls[key]
            self._heat = {k: v for k, v in self._heat.items() if k[0] != normalization}

    def candidates(self):
        return [c for c in self.detections().candidates if c.score >= MIN_THRESHOLD]

    # -- stage 2
    def _prepare(self, normalization: str):
        """Normalized crops of every candidate (all slab slices), ready for one network pass."""
        from modic_core.classification import load_classifier
        from modic_core.normalization.methods import normalize

        clf = load_classifier(normalization)
        cands = self.candidates()
        t0 = time.perf_counter()
        t1n = normalize(self.study.t1, normalization, landmarks=clf.landmarks).array
        t2n = normalize(self.study.t2, normalization, landmarks=clf.landmarks).array
        t_norm = time.perf_counter() - t0
        spec = clf.spec
        boxes, zs, owner = [], [], []
        for i, c in enumerate(cands):
            if spec.depth == 1:
                zc = c.z_center
                lo, hi = max(c.z_range[0], zc - MAX_SLAB_HALF), min(c.z_range[1], zc + MAX_SLAB_HALF)
                slab = range(lo, hi + 1)
            else:
                slab = [c.z_center]
            for z in slab:
                boxes.append(c.box)
                zs.append(z)
                owner.append(i)
        t0 = time.perf_counter()
        crops = extract_crops(t1n, t2n, np.array(boxes).reshape(-1, 4), zs, self.study.t1.spacing[1:], spec)
        seconds = {"normalization_s": t_norm, "crops_s": time.perf_counter() - t0}
        return clf, crops, zs, owner, seconds

    def _store(self, normalization: str, gradcam: bool, clf, probs, cams, zs, owner, seconds) -> _Classified:
        n = len(self.candidates())
        owner_a = np.array(owner, dtype=int)
        P = np.zeros((n, 3), np.float32)
        heat: list[list[tuple[int, np.ndarray]]] = [[] for _ in range(n)]
        for i in range(n):
            sel = np.where(owner_a == i)[0]
            P[i] = probs[sel].mean(0)
            if cams is not None:
                heat[i] = [(zs[j], cams[j]) for j in sel]
        res = _Classified(P, heat, seconds, f"{clf.source} (sha256 {clf.sha256[:12]})")
        self._cls[(normalization, gradcam)] = res
        return res

    def classification(self, normalization: str, *, gradcam: bool = True) -> _Classified:
        with self._lock:
            key = (normalization, gradcam)
            if key in self._cls:
                return self._cls[key]
            if gradcam is False and (normalization, True) in self._cls:
                return self._cls[(normalization, True)]
            clf, crops, zs, owner, seconds = self._prepare(normalization)
            t0 = time.perf_counter()
            probs, cams = clf.predict(crops, gradcam=gradcam)
            seconds["classifier_s"] = time.perf_counter() - t0
            return self._store(normalization, gradcam, clf, probs, cams, zs, owner, seconds)

    def _heatmap(self, normalization: str, idx: int, res: _Classified, spec) -> np.ndarray:
        key = (normalization, idx)
        if key not in self._heat:
            c = self.candidates()[idx]
            out = np.zeros(self.study.t1.shape, np.float32)
            for z, h in res.crop_heat[idx]:
                out = np.maximum(out, paste_back(h, c.box, z, self.study.t1.spacing[1:], spec, self.study.t1.shape))
            self._heat[key] = out
        return self._heat[key]

    # -- the report
    def report(self, normalization: str = DEFAULT_NORMALIZATION, threshold: float = 0.5, *, gradcam: bool = True) -> StudyReport:
        """Per-level results for this threshold (no network runs if detection/classification are cached)."""
        from modic_core.classification import load_classifier
        from modic_core.detection.infer import pick_device

        if threshold < MIN_THRESHOLD:
            raise InputError(f"The confidence threshold must be at least {MIN_THRESHOLD}.")
        t_start = time.perf_counter()
        cands = self.candidates()
        res = self.classification(normalization, gradcam=gradcam)
        spec = load_classifier(normalization).spec
        kept = [i for i, c in enumerate(cands) if c.score >= threshold]
        boxes = np.array([cands[i].box for i in kept]).reshape(-1, 4)
        names = assign_level_names(boxes) if kept else []
        levels = []
        for r in order_top_to_bottom(boxes) if kept else []:
            i = kept[r]
            c = cands[i]
            p = res.probabilities[i]
            levels.append(LevelResult(
                level=names[r], box=tuple(float(v) for v in c.box), score=float(c.score),
                probabilities={n: float(v) for n, v in zip(CLASS_NAMES, p)}, prediction=CLASS_NAMES[int(np.argmax(p))],
                z_range=c.z_range, heatmap=self._heatmap(normalization, i, res, spec) if gradcam else None,
            ))
        timings = dict(self.timings)
        timings.update(res.seconds)
        timings["report_s"] = time.perf_counter() - t_start
        notes = []
        if not levels:
            notes.append("No intervertebral region reached this confidence threshold.")
        return StudyReport(levels=levels, normalization=normalization, threshold=float(threshold),
                           weights={"detector": getattr(self, "_det_source", ""), "classifier": res.weights},
                           timings=timings, device=pick_device(), shape=self.study.t1.shape, notes=notes)


_CACHE: "OrderedDict[str, StudyAnalysis]" = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 8


def get_analysis(study: Study) -> StudyAnalysis:
    """The process-wide cached :class:`StudyAnalysis` of this study (LRU of 8 studies)."""
    fp = study_fingerprint(study)
    with _CACHE_LOCK:
        sa = _CACHE.get(fp)
        if sa is None:
            sa = StudyAnalysis(study)
            _CACHE[fp] = sa
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
        else:
            _CACHE.move_to_end(fp)
        return sa


def analyze_many(analyses: list[StudyAnalysis], normalization: str = DEFAULT_NORMALIZATION, *, gradcam: bool = True) -> None:
    """Run detection and classification of several studies with one network pass per stage.

    Detection batches the central slices of all studies; classification batches the crops of
    all their regions. Results land in each :class:`StudyAnalysis`'s caches, exactly as if each
    had been analysed alone (the batch mode uses this on a GPU).
    """
    from modic_core.detection import load_detector

    todo = [sa for sa in analyses if sa._det is None]
    if todo:
        det = load_detector()
        for sa, d in zip(todo, det.detect_batch([sa.study.t1 for sa in todo])):
            sa._set_detections(d, det)
    todo = [sa for sa in analyses if (normalization, gradcam) not in sa._cls]
    if not todo:
        return
    import torch

    prepared = [sa._prepare(normalization) for sa in todo]
    clf = prepared[0][0]
    sizes = [len(p[1]) for p in prepared]
    t0 = time.perf_counter()
    probs, cams = clf.predict(torch.cat([p[1] for p in prepared]), gradcam=gradcam)
    dt = (time.perf_counter() - t0) / len(todo)
    start = 0
    for sa, (c, crops, zs, owner, seconds), n in zip(todo, prepared, sizes):
        seconds["classifier_s"] = dt
        sa._store(normalization, gradcam, c, probs[start : start + n], None if cams is None else cams[start : start + n], zs, owner, seconds)
        start += n


def analyze(study: Study, normalization: str = DEFAULT_NORMALIZATION, threshold: float = 0.5, *, gradcam: bool = True) -> StudyReport:
    """Detect, grade and explain every level of a study; see the module docstring for caching."""
    return get_analysis(study).report(normalization, threshold, gradcam=gradcam)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Analyse one paired sagittal T1/T2 study.")
    ap.add_argument("t1", help="T1 series: DICOM folder or zip, .mha, .nii(.gz)")
    ap.add_argument("t2", help="T2 series, same kinds")
    ap.add_argument("--normalization", default=DEFAULT_NORMALIZATION)
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--json", help="write the report (without heatmaps) to this JSON file")
    ap.add_argument("--no-gradcam", action="store_true")
    args = ap.parse_args(argv)
    from modic_core.pairing.study import load_study

    try:
        study = load_study(args.t1, args.t2)
        rep = analyze(study, args.normalization, args.threshold, gradcam=not args.no_gradcam)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    table = rep.table()
    print(table.to_string(index=False) if len(table) else "no region found at this threshold")
    print(f"normalization={rep.normalization} threshold={rep.threshold} device={rep.device}")
    print("timings: " + ", ".join(f"{k}={v:.3f}" for k, v in rep.timings.items()))
    if args.json:
        Path(args.json).write_text(json.dumps(rep.to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
