"""End-to-end analysis of a paired study: detect regions, grade Modic changes, explain with Grad-CAM.

    python -m modic_core.analysis T1 T2 --normalization zscore [--threshold 0.5] [--coverage 0.9] [--json out.json] [--shift-names K]
                                  [--csv out.csv] [--pdf out.pdf] [--sr out.dcm]  (files: modic_core.export.cli)

Caching (what the app relies on): detection runs once per study; each normalization method's
classification (probabilities and Grad-CAM of every candidate region with score >=
:data:`MIN_THRESHOLD`) runs once per study and method; a threshold change only filters and
renames levels, so it never reruns a network; nor does a coverage change (the levels' prediction
sets come from conformal p-values computed and cached with the probabilities). Models load once per process.

Concurrency: a step that must compute (detection, the alignment check, a method's
classification, or a report that needs any of them) first takes one of the process's analysis
slots (:func:`modic_core.analysis.slots.analysis_slot`, ``MODIC_MAX_CONCURRENT_ANALYSES``), and
waits while all are busy; a report from results already held never waits.

Results live in two places: each :class:`StudyAnalysis` keeps the ones it computed or fetched
(so a report of the study on screen never recomputes), and :func:`analyze` / :func:`get_analysis`
share one process cache bounded in bytes (:func:`modic_core.analysis.cache.result_cache`), keyed
on everything a result depends on: the study's fingerprint (all bytes of T1 and T2 and their
geometry), the weights' sha256, the method, Grad-CAM on/off and the candidate rules. Grad-CAM
maps are kept crop-local (:class:`~modic_core.analysis.report.LocalHeatmap`), never as
full-volume arrays.

Feeding a 3D study to a D = 1 model: each region is classified on every slice of its slab
(the slices where the detector found it, limited to the centre slice ±1), and the probabilities
are averaged; Grad-CAM is computed per slice and placed on that slice. A model trained with
D > 1 gets one crop of D consecutive slices centred on the region.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
import dataclasses

import numpy as np
import torch

from modic_core import settings
from modic_core.analysis.alignment import ALIGN_THRESHOLD, check_alignment
from modic_core.analysis.cache import ByteLRU, result_cache, study_fingerprint
from modic_core.analysis.report import CLASS_NAMES, HeatPatch, LevelResult, LocalHeatmap, StudyReport
from modic_core.analysis.signal_probe import LevelSignal, probe_level
from modic_core.analysis.sets import is_set_note, level_p_values, level_set, scope_note, set_notes
from modic_core.analysis.slots import analysis_slot
from modic_core.classification.conformal import is_uncertain_set
from modic_core.classification.crops import extract_crops, paste_back_patches
from modic_core.detection.infer import StudyDetections
from modic_core.cli_args import coverage as coverage_arg, shift_levels, threshold as threshold_arg
from modic_core.errors import InputError
from modic_core.logs import configure_logging
from modic_core.io.outputs import check_output, write_output
from modic_core.pairing.alignment import Alignment, fov_coverage
from modic_core.volume import Study, Volume
from modic_core.analysis.naming_correction import NameCorrection, Shift, apply_correction
from modic_core.classification import load_classifier
from modic_core.classification.infer import classifier_path
from modic_core.detection import load_detector
from modic_core.detection.infer import pick_device
from modic_core.normalization.methods import NORMALIZATIONS, normalize
from modic_core.pairing.study import load_study

__all__ = ["CliExporter", "MIN_THRESHOLD", "DEFAULT_NORMALIZATION", "StudyAnalysis", "analyze", "analyze_many", "get_analysis", "naming_warning",
           "models_available", "study_fingerprint"]  # study_fingerprint lives in modic_core.analysis.cache

MIN_THRESHOLD = settings.MIN_THRESHOLD  # candidates below this confidence are never classified (the slider's minimum)
DEFAULT_NORMALIZATION = settings.DEFAULT_NORMALIZATION  # settings.default_normalization() is read at each call
#: A level is graded only when at least this share of its region lies inside the T2 field of view.
MIN_T2_COVERAGE = 0.75
#: Prediction of a level that is not graded (see ``LevelResult.note``).
NOT_GRADED = "not graded"
MAX_SLAB_HALF = 1  # D = 1 models see the region's centre slice ±1 (within its detected slab)


def models_available(weights_dir: str | Path | None = None) -> dict[str, bool]:
    """Which weight files are installed: {"detector": bool, "<method>": bool for each normalization}."""
    wd = Path(weights_dir) if weights_dir else settings.weights_dir()
    out = {"detector": (wd / "detector.pt").is_file()}
    out.update({m: classifier_path(m, wd).is_file() for m in NORMALIZATIONS})
    return out


@dataclass
class _Classified:
    probabilities: np.ndarray  # (n_candidates, 3)
    heatmaps: list[LocalHeatmap | None]  # per candidate, crop-local on the T1 grid (None without Grad-CAM)
    seconds: dict[str, float]
    weights: str
    p_values: np.ndarray | None = None  # (n_candidates, 3) conformal p-values (CLASS_NAMES columns); None: no calibration
    scope_note: str = ""  # the study's scanner is outside the sets' calibration (sets.scope_note)
    heat_scale: str = ""  # what the heat maps' colour bar means (Classifier.heat_scale)
    heat_fixed: bool = False  # maps divided by a fixed reference (same colour = same raw value across levels)
    signals: list[LevelSignal] | None = None  # per candidate, the Modic signal probe in this normalization's units

    @property
    def nbytes(self) -> int:
        pv = 0 if self.p_values is None else int(self.p_values.nbytes)
        return int(self.probabilities.nbytes) + pv + sum(h.nbytes for h in self.heatmaps if h is not None)


@dataclass
class _Aligned:
    alignment: Alignment
    t2: np.ndarray | None  # T2 re-resampled onto the T1 grid after a repair, else None (header placement)
    t2_placed: Volume | None  # the native T2 as placed by the check (moved origin), for coverage
    seconds: float

    @property
    def nbytes(self) -> int:
        return (0 if self.t2 is None else int(self.t2.nbytes)) + 256


@dataclass
class _Detected:
    detections: StudyDetections
    source: str

    @property
    def nbytes(self) -> int:
        return sum(np.asarray(c.box).nbytes + 64 for c in self.detections.candidates)


class StudyAnalysis:
    """Detection once, classification once per normalization, reports for any threshold.

    ``cache``: a :class:`~modic_core.analysis.cache.ByteLRU` shared by several analyses (the
    process cache of :func:`get_analysis`), or None for results kept by this object only.
    ``fingerprint``: the study's :func:`study_fingerprint` if already known.
    ``weights_dir``: the folder the classifiers (and, when ``detector`` is None, the detector) load from
    (None: :func:`modic_core.settings.weights_dir`); cached results are keyed on the weights' sha256.
    """

    def __init__(self, study: Study, *, detector=None, cache: ByteLRU | None = None, fingerprint: str | None = None,
                 weights_dir: str | Path | None = None) -> None:
        self.study = study
        self.fingerprint = fingerprint or study_fingerprint(study)
        self._detector = detector
        self._weights_dir = None if weights_dir is None else str(weights_dir)
        self._cache = cache
        self._det: _Detected | None = None
        self._aligned: _Aligned | None = None
        self._coverage: np.ndarray | None = None
        self._cls: dict[tuple[str, bool], _Classified] = {}
        self._lock = threading.RLock()
        self.timings: dict[str, float] = {}

    @property
    def nbytes(self) -> int:
        """Bytes this object keeps alive: the study's arrays and its results."""
        arrays = [v.array for v in (self.study.t1, self.study.t2, getattr(self.study, "t2_native", None)) if v is not None]
        return sum(int(a.nbytes) for a in arrays) + sum(r.nbytes for r in self._cls.values()) + (self._det.nbytes if self._det else 0)

    def rebind(self, study: Study) -> None:
        """Use another Study object with the same fingerprint (drops the reference to the old copy)."""
        self.study = study

    # -- cache keys: everything the result depends on
    def _detector_obj(self):
        if self._detector is None:
            self._detector = load_detector() if self._weights_dir is None else load_detector(Path(self._weights_dir) / "detector.pt")
        return self._detector

    def _classifier(self, normalization: str):
        # no weights_dir argument for the default folder: the same load_classifier cache entry as other callers
        if self._weights_dir is None:
            return load_classifier(normalization)
        return load_classifier(normalization, weights_dir=self._weights_dir)

    def _det_key(self) -> tuple:
        det = self._detector_obj()
        return ("detect", self.fingerprint, det.sha256 or det.source)

    def _cls_key(self, normalization: str, gradcam: bool, clf) -> tuple:
        return ("classify",) + self._det_key()[1:] + (normalization, bool(gradcam), getattr(clf, "key", None) or clf.sha256 or clf.source,
                                                       MIN_THRESHOLD, MAX_SLAB_HALF)

    # -- stage 1
    def _det_missing(self) -> bool:
        """Whether detection must run: adopts the process cache's result when it holds one."""
        if self._det is None and self._cache is not None:
            hit = self._cache.get(self._det_key())
            if hit is not None:
                with self._lock:
                    if self._det is None:
                        self._set_detections(hit)
        return self._det is None

    def _slot_if(self, missing: bool):
        """An analysis slot when something must be computed, else nothing to wait for."""
        return analysis_slot() if missing else nullcontext()

    def detections(self) -> StudyDetections:
        with self._slot_if(self._det_missing()), self._lock:
            if self._det is None:
                key = self._det_key()
                hit = self._cache.get(key) if self._cache is not None else None
                if hit is None:
                    det = self._detector_obj()
                    hit = _Detected(det.detect(self.study.t1), f"{det.source} (sha256 {det.sha256[:12]})")
                    if self._cache is not None:
                        self._cache.put(key, hit)
                self._set_detections(hit)
            return self._det.detections

    def _set_detections(self, detected: _Detected) -> None:
        self._det = detected
        self.timings["detection_s"] = detected.detections.seconds

    # -- stage 1b: does T2 line up with T1? (modic_core.analysis.alignment)
    def alignment(self) -> _Aligned:
        """The T1/T2 alignment check, once per study (cached like detection)."""
        with self._slot_if(self._align_missing()), self._lock:
            if self._aligned is None:
                key = ("align",) + self._det_key()[1:]
                hit = self._cache.get(key) if self._cache is not None else None
                if hit is None:
                    t0 = time.perf_counter()
                    t1_regions = self.detections().filter(ALIGN_THRESHOLD)
                    placed, al = check_alignment(self.study, self._detector_obj(), t1_detections=t1_regions)
                    moved = placed.t2 is not self.study.t2
                    native = self.study.t2_native
                    if native is not None and any(al.translation_mm) and moved:
                        native = Volume(native.array, native.spacing, tuple(np.add(native.origin, al.translation_mm)),
                                        native.direction.copy(), native.meta)
                    hit = _Aligned(al, placed.t2.array if moved else None, native, time.perf_counter() - t0)
                    if self._cache is not None:
                        self._cache.put(key, hit)
                self._aligned = hit
                self.timings["alignment_s"] = hit.seconds
            return self._aligned

    def _align_missing(self) -> bool:
        """Whether the alignment check must run: adopts the process cache's result when it holds one."""
        if self._aligned is None and self._cache is not None:
            hit = self._cache.get(("align",) + self._det_key()[1:])
            if hit is not None:
                with self._lock:
                    if self._aligned is None:
                        self._aligned = hit
                        self.timings["alignment_s"] = hit.seconds
        return self._aligned is None

    def t2_array(self) -> np.ndarray:
        """T2 on the T1 grid as the alignment check placed it."""
        a = self.alignment()
        return self.study.t2.array if a.t2 is None else a.t2

    def placed_study(self) -> Study:
        """The study with its T2 where the alignment check placed it (the same object if not moved)."""
        a = self.alignment()
        if a.t2 is None:
            return self.study
        return dataclasses.replace(self.study, t2=self.study.t2.with_array(a.t2))

    def coverage(self) -> np.ndarray:
        """Fraction of each candidate region inside the T2 field of view, 0-1: the least covered of
        the slices it is graded on (:func:`slab_slices`)."""
        with self._lock:
            if self._coverage is None:  # once per study: a threshold change must not redo it
                a = self.alignment()
                cands = self.candidates()
                if a.t2_placed is None or not cands:
                    self._coverage = np.ones(len(cands))
                else:
                    owner = [i for i, c in enumerate(cands) for _ in slab_slices(c)]
                    per = fov_coverage(self.study.t1, a.t2_placed, [c.box for c in cands for _ in slab_slices(c)],
                                       [z for c in cands for z in slab_slices(c)])
                    self._coverage = np.array([per[np.asarray(owner) == i].min() for i in range(len(cands))])
            return self._coverage

    def forget(self, normalization: str) -> None:
        """Drop the cached classification of one method (benchmarks time a fresh switch with it)."""
        with self._lock:
            for key in [k for k in self._cls if k[0] == normalization]:
                del self._cls[key]
            if self._cache is not None:
                fp = self.fingerprint
                self._cache.discard_where(lambda k: k[0] == "classify" and k[1] == fp and k[3] == normalization)

    def candidates(self):
        return [c for c in self.detections().candidates if c.score >= MIN_THRESHOLD]

    # -- stage 2
    def _prepare(self, normalization: str):
        """Normalized crops of every candidate (all slab slices), ready for one network pass."""
        clf = self._classifier(normalization)
        cands = self.candidates()
        t0 = time.perf_counter()
        t1n = normalize(self.study.t1, normalization, landmarks=clf.landmarks).array
        t2n = normalize(self.study.t2.with_array(self.t2_array()), normalization, landmarks=clf.landmarks).array
        t_norm = time.perf_counter() - t0
        spec = clf.spec
        boxes, zs, owner = [], [], []
        for i, c in enumerate(cands):
            for z in (slab_slices(c) if spec.depth == 1 else [c.z_center]):
                boxes.append(c.box)
                zs.append(z)
                owner.append(i)
        t0 = time.perf_counter()
        crops = extract_crops(t1n, t2n, np.array(boxes).reshape(-1, 4), zs, self.study.t1.spacing[1:], spec)
        seconds = {"normalization_s": t_norm, "crops_s": time.perf_counter() - t0}
        t0 = time.perf_counter()
        t1, t2 = self.study.t1.array, self.t2_array()
        signals = [probe_level(box=c.box, z_range=c.z_range, spacing_yx=self.study.t1.spacing[1:], t1=t1, t2=t2,
                               t1_norm=t1n, t2_norm=t2n) for c in cands]
        seconds["signal_probe_s"] = time.perf_counter() - t0
        return clf, crops, zs, owner, seconds, signals

    def _store(self, normalization: str, gradcam: bool, clf, probs, cams, zs, owner, seconds, signals=None) -> _Classified:
        """Average each candidate's probabilities over its crops; paste its Grad-CAM crop-locally."""
        cands = self.candidates()
        n = len(cands)
        owner_a = np.array(owner, dtype=int)
        P = np.zeros((n, 3), np.float32)
        heat: list[LocalHeatmap | None] = [None] * n
        shape, spacing_yx = self.study.t1.shape, self.study.t1.spacing[1:]
        for i in range(n):
            sel = np.where(owner_a == i)[0]
            P[i] = probs[sel].mean(0)
            if cams is not None:
                patches = [HeatPatch(*p) for j in sel
                           for p in paste_back_patches(cams[j], cands[i].box, zs[j], spacing_yx, clf.spec, shape)]
                heat[i] = LocalHeatmap(shape, tuple(patches))
        res = _Classified(P, heat, seconds, f"{clf.source} (sha256 {clf.sha256[:12]})",
                          p_values=level_p_values(P, getattr(clf, "conformal", None)),
                          scope_note=scope_note(getattr(clf, "conformal", None), getattr(self.study.t1, "meta", None)),
                          heat_scale=getattr(clf, "heat_scale", "") if gradcam else "",
                          heat_fixed=bool(gradcam and getattr(clf, "cam_scale", None)), signals=signals)
        self._cls[(normalization, gradcam)] = res
        if self._cache is not None:
            self._cache.put(self._cls_key(normalization, gradcam, clf), res)
        return res

    def _cached(self, normalization: str, gradcam: bool) -> _Classified | None:
        """This object's result, else the shared cache's (Grad-CAM results also serve gradcam=False)."""
        for g in ((gradcam,) if gradcam else (False, True)):
            if (normalization, g) in self._cls:
                return self._cls[(normalization, g)]
        if self._cache is None:
            return None
        clf = self._classifier(normalization)
        for g in ((gradcam,) if gradcam else (False, True)):
            hit = self._cache.get(self._cls_key(normalization, g, clf))
            if hit is not None:
                self._cls[(normalization, g)] = hit
                return hit
        return None

    def _cls_missing(self, normalization: str, gradcam: bool) -> bool:
        """Whether this method's classification must run (:meth:`_cached` adopts a cached one)."""
        with self._lock:
            return self._cached(normalization, gradcam) is None

    def classification(self, normalization: str, *, gradcam: bool = True) -> _Classified:
        with self._slot_if(self._cls_missing(normalization, gradcam)), self._lock:
            hit = self._cached(normalization, gradcam)
            if hit is not None:
                return hit
            clf, crops, zs, owner, seconds, signals = self._prepare(normalization)
            t0 = time.perf_counter()
            probs, cams = clf.predict(crops, gradcam=gradcam)
            seconds["classifier_s"] = time.perf_counter() - t0
            return self._store(normalization, gradcam, clf, probs, cams, zs, owner, seconds, signals)

    # -- the report
    def report(self, normalization: str | None = None, threshold: float | None = None, *, gradcam: bool = True,
               coverage: float | None = None) -> StudyReport:
        """Per-level results for this threshold (no network runs if detection/classification are cached),
        with each graded level's conformal prediction set at ``coverage`` (when the classifier carries a
        conformal calibration; :mod:`modic_core.analysis.sets`).

        ``None`` takes :func:`modic_core.settings.default_normalization` / ``default_threshold`` / ``default_coverage``."""
        normalization = normalization or settings.default_normalization()
        threshold = settings.default_threshold() if threshold is None else threshold
        coverage = settings.default_coverage() if coverage is None else settings.check_coverage(coverage)
        if threshold < MIN_THRESHOLD:
            raise InputError(f"The confidence threshold must be at least {MIN_THRESHOLD}.")
        t_start = time.perf_counter()
        missing = self._det_missing() or self._align_missing() or self._cls_missing(normalization, gradcam)
        with self._slot_if(missing):  # one wait for the whole report, not one per step
            cands = self.candidates()
            res = self.classification(normalization, gradcam=gradcam)
            aligned = self.alignment()
            cover = self.coverage()
        detections = self.detections()
        index = {id(c): k for k, c in enumerate(detections.candidates)}
        cand_pos = {index[id(c)]: i for i, c in enumerate(cands)}  # detection index -> candidate index
        shown = [(cand_pos[k], name) for k, name in detections.kept(threshold) if k in cand_pos]
        levels = []
        pvals = getattr(res, "p_values", None)
        for i, name in shown:
            c = cands[i]
            p = res.probabilities[i]
            graded = bool(cover[i] >= MIN_T2_COVERAGE)
            level_p = {n: float(v) for n, v in zip(CLASS_NAMES, pvals[i])} if graded and pvals is not None else {}
            pset = level_set(level_p, coverage, grade=CLASS_NAMES[int(np.argmax(p))])
            levels.append(LevelResult(
                level=name, box=tuple(float(v) for v in c.box), score=float(c.score),
                probabilities={n: (float(v) if graded else float("nan")) for n, v in zip(CLASS_NAMES, p)},
                prediction=CLASS_NAMES[int(np.argmax(p))] if graded else NOT_GRADED,
                z_range=c.z_range, gradcam=res.heatmaps[i] if (gradcam and graded) else None, graded=graded,
                note="" if graded else _not_covered_note(cover[i], len(slab_slices(c))),
                uncertain=graded and is_uncertain_set(pset), prediction_set=pset, p_values=level_p,
                signal=res.signals[i] if (graded and res.signals) else None,
            ))
        timings = dict(self.timings)
        timings.update(res.seconds)
        timings["report_s"] = time.perf_counter() - t_start
        notes = []
        if not levels:
            notes.append("No intervertebral region reached this confidence threshold.")
        al = aligned.alignment
        warnings = list(getattr(self.study, "warnings", []) or [])
        if not al.ok:
            warnings.append(al.sentence() + " The grades below depend on T2 and are unreliable; check that the two "
                            "series belong together and line up.")
            warnings.extend(getattr(al, "problems", ()))
        notes += set_notes(levels, None if pvals is None else coverage)
        if getattr(res, "scope_note", "") and levels:
            warnings.append(res.scope_note)
        if any(not lv.graded for lv in levels):
            warnings.append("Some levels are not graded: the T2 series does not cover them.")
        naming = detections.naming()
        if naming.uncertain and levels:
            warnings.append(naming_warning(naming))
        return StudyReport(levels=levels, normalization=normalization, threshold=float(threshold),
                           weights={"detector": self._det.source if self._det else "", "classifier": res.weights},
                           timings=timings, device=pick_device(), shape=self.study.t1.shape, notes=notes,
                           warnings=warnings, alignment=al, naming_uncertain=bool(naming.uncertain and levels),
                           heat_scale=getattr(res, "heat_scale", ""), heat_fixed=getattr(res, "heat_fixed", False),
                           coverage=None if pvals is None else coverage)


def _not_covered_note(share: float, n_slices: int) -> str:
    where = "" if n_slices < 2 else f" on the least covered of the {n_slices} slices it is graded on"
    return f"T2 does not cover this level ({100 * share:.0f} % of its region lies in the T2 field of view{where})."


def slab_slices(region) -> list[int]:
    """The T1 slices a region is graded on by a D = 1 model: its centre slice ±:data:`MAX_SLAB_HALF`,
    within the slab where the detector found it (a D > 1 model's crop is centred on the same slice)."""
    zc = region.z_center
    return list(range(max(region.z_range[0], zc - MAX_SLAB_HALF), min(region.z_range[1], zc + MAX_SLAB_HALF) + 1))


def naming_warning(naming) -> str:
    """The sentence every output shows when level naming is uncertain (``naming.reasons`` named)."""
    start = ("names count up from the region detected as L5-S1" if getattr(naming, "anchor", None) is not None
             else "names count up from the lowest confidently detected disc, assumed to be L5-S1")
    return "Level naming uncertain (" + "; ".join(naming.reasons) + f"): check the names against the images; {start}."


def get_analysis(study: Study, *, fingerprint: str | None = None) -> StudyAnalysis:
    """A :class:`StudyAnalysis` of this study backed by the process cache (:func:`result_cache`):
    a study analysed before (same fingerprint, same weights) reuses its results."""
    return StudyAnalysis(study, cache=result_cache(), fingerprint=fingerprint)


def analyze_many(analyses: list[StudyAnalysis], normalization: str | None = None, *, gradcam: bool = True) -> None:
    """Run detection and classification of several studies with one network pass per stage.

    Detection batches the central slices of all studies; classification batches the crops of
    all their regions. Results land in each :class:`StudyAnalysis`'s caches, exactly as if each
    had been analysed alone (the batch mode uses this on a GPU).
    """
    normalization = normalization or settings.default_normalization()
    with analysis_slot():  # one slot for the whole batch (the batch mode runs one batch at a time per process)
        _analyze_many(analyses, normalization, gradcam=gradcam)


def _analyze_many(analyses: list[StudyAnalysis], normalization: str, *, gradcam: bool) -> None:
    todo = [sa for sa in analyses if sa._det is None and (sa._cache is None or sa._det_key() not in sa._cache)]
    if todo:
        det = load_detector()
        for sa, d in zip(todo, det.detect_batch([sa.study.t1 for sa in todo])):
            hit = _Detected(d, f"{det.source} (sha256 {det.sha256[:12]})")
            if sa._cache is not None:
                sa._cache.put(sa._det_key(), hit)
            sa._set_detections(hit)
    todo = [sa for sa in analyses if sa._cached(normalization, gradcam) is None]
    if not todo:
        return
    prepared = [sa._prepare(normalization) for sa in todo]
    clf = prepared[0][0]
    sizes = [len(p[1]) for p in prepared]
    t0 = time.perf_counter()
    probs, cams = clf.predict(torch.cat([p[1] for p in prepared]), gradcam=gradcam)
    dt = (time.perf_counter() - t0) / len(todo)
    start = 0
    for sa, (c, _crops, zs, owner, seconds, signals), n in zip(todo, prepared, sizes):
        seconds["classifier_s"] = dt
        sa._store(normalization, gradcam, c, probs[start : start + n], None if cams is None else cams[start : start + n], zs, owner,
                  seconds, signals)
        start += n


def analyze(study: Study, normalization: str | None = None, threshold: float | None = None, *, gradcam: bool = True,
            coverage: float | None = None) -> StudyReport:
    """Detect, grade and explain every level of a study; see the module docstring for caching. ``coverage``:
    of the levels' prediction sets (None: :func:`modic_core.settings.default_coverage`)."""
    return get_analysis(study).report(normalization, threshold, gradcam=gradcam, coverage=coverage)


@dataclass(frozen=True)
class CliExporter:
    """What :func:`main` needs to also write files (``modic_core.export.cli`` provides it; analysis
    cannot import the export layer): extra arguments, a check of them against the loaded study
    before the analysis (raises InputError), and the writer (returns one line per file; raises InputError)."""

    add_arguments: Callable[[argparse.ArgumentParser], None]
    check: Callable[[argparse.Namespace, Study], None]
    write: Callable[[argparse.Namespace, "StudyAnalysis", StudyReport], list[str]]


def main(argv: list[str] | None = None, *, exporter: CliExporter | None = None) -> int:
    """The command line. Exit status: 0 done, 2 bad input (one sentence on stderr), 3 the study was
    analysed but a requested file could not be made (e.g. no DICOM SR for an unreliable study)."""
    ap = argparse.ArgumentParser(description="Analyse one paired sagittal T1/T2 study.")
    ap.add_argument("t1", help="T1 series: DICOM folder or zip, .mha, .nii(.gz)")
    ap.add_argument("t2", help="T2 series, same kinds")
    ap.add_argument("--normalization", default=settings.default_normalization())
    ap.add_argument("--threshold", type=threshold_arg, default=settings.default_threshold(),
                    help="detector confidence threshold in [0.05, 1)")
    ap.add_argument("--coverage", type=coverage_arg, default=None,
                    help="prediction-set coverage, a share in [0.5, 0.99] (default: MODIC_COVERAGE, else 0.9)")
    ap.add_argument("--json", help="write the report (without heatmaps) to this JSON file")
    ap.add_argument("--no-gradcam", action="store_true")
    ap.add_argument("--shift-names", type=shift_levels, default=0, metavar="K",
                    help="correct the level names: shift all of them K levels up (cranially, L5-S1 -> L4-L5 for K=1) "
                         "or down (K<0); every output records the correction")
    if exporter is not None:
        exporter.add_arguments(ap)
    args = ap.parse_args(argv)
    configure_logging(debug=settings.debug())  # the CLI's own output stays print; library notes go to the log
    try:
        if args.normalization not in NORMALIZATIONS:
            raise InputError(f"Unknown normalization {args.normalization!r}; choose one of {', '.join(NORMALIZATIONS)}.")
        if args.json:
            check_output("--json", args.json)  # before any work: a folder, a device, an unwritable path
        study = load_study(args.t1, args.t2)
        if exporter is not None:
            exporter.check(args, study)
        missing = [k for k, ok in models_available().items() if not ok and k in ("detector", args.normalization)]
        if missing:
            raise InputError(f"The model weights for {', '.join(missing)} are not installed in {settings.weights_dir()}; "
                             "install them or set MODIC_WEIGHTS_DIR.")
        sa = get_analysis(study)
        rep = sa.report(args.normalization, args.threshold, gradcam=not args.no_gradcam, coverage=args.coverage)
        if args.shift_names:
            rep = apply_correction(rep, NameCorrection((Shift(args.shift_names),)))
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for sentence in rep.warnings:
        print(("WARNING: " if rep.reliable else "ALERT: ") + sentence, file=sys.stderr)
    if rep.naming_note:
        print(rep.naming_note)
    if rep.alignment is not None:
        print(rep.alignment.sentence())
    table = rep.table()
    print(table.to_string(index=False) if len(table) else
          f"No disc was found at this threshold ({rep.threshold:.2f}); the files asked for are written without levels.")
    print(f"normalization={rep.normalization} threshold={rep.threshold} coverage={rep.coverage} device={rep.device}")
    for note in (n for n in rep.notes if is_set_note(n)):  # sets: "N levels have more than one grade ..."
        print(note)
    print("timings: " + ", ".join(f"{k}={v:.3f}" for k, v in rep.timings.items()))
    status = 0
    if args.json:
        try:
            write_output("--json", args.json, json.dumps(rep.to_dict(), indent=2))
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 3
    if exporter is not None:
        try:
            for line in exporter.write(args, sa, rep):
                print(line)
        except InputError as exc:
            for line in getattr(exc, "done", []):  # the files that were written before the failure
                print(line)
            print(f"error: {exc}", file=sys.stderr)
            return 3
    return status


if __name__ == "__main__":
    raise SystemExit(main())
