"""A test double of :class:`modic_core.analysis.analyze.StudyAnalysis` for the dashboard tests.

It has the same interface (``StudyAnalysis(study)``, ``.report(normalization, threshold,
gradcam=...)`` -> :class:`~modic_core.analysis.report.StudyReport`) and the same caching contract, and
it counts its "network" runs so tests can check that a threshold change runs nothing and a
normalization switch reruns only the classifier. Results depend on the study's pixels and on
the normalization, so two studies (or two methods) give different tables. Its levels carry conformal
p-values from a hand-made calibration (:func:`tests.conformal_sets.hand_calibration`) and their
prediction sets at the coverage asked, computed by the library's own functions.
"""
from __future__ import annotations

import threading
import zlib
from collections import Counter

import numpy as np

from modic_core import settings
from modic_core.analysis.report import CLASS_NAMES, HeatPatch, LevelResult, LocalHeatmap, StudyReport
from modic_core.analysis.sets import level_p_values, level_set, set_notes
from modic_core.detection.levels import assign_level_names, order_top_to_bottom
from modic_core.ui.backend import AnalysisBackend, set_backend_factory
from tests.conformal_sets import hand_calibration

MIN_THRESHOLD = 0.05
SCORES = (0.97, 0.93, 0.9, 0.84, 0.62, 0.3)
CONFORMAL = hand_calibration(seed=0)


class FakeStudyAnalysis:
    instances: list["FakeStudyAnalysis"] = []
    _lock = threading.Lock()

    def __init__(self, study, **_: object) -> None:
        self.study = study
        self.detect_runs = 0
        self.classify_runs: Counter[str] = Counter()
        self._cands = None
        self._probs: dict[str, np.ndarray] = {}
        with FakeStudyAnalysis._lock:
            FakeStudyAnalysis.instances.append(self)

    @property
    def nbytes(self) -> int:
        """What the session store counts: the study's arrays (the double keeps no big results)."""
        return int(self.study.t1.array.nbytes + self.study.t2.array.nbytes)

    def rebind(self, study) -> None:
        self.study = study

    def _candidates(self):
        if self._cands is None:
            self.detect_runs += 1
            nz, ny, nx = self.study.t1.shape
            w, h = 0.2 * nx, 0.055 * ny
            cands = []
            for i, s in enumerate(SCORES):
                cy = ny * (0.25 + 0.1 * i)
                cx = nx * (0.45 + 0.01 * i)
                zc = nz // 2
                cands.append(((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), s, (max(0, zc - 1), min(nz - 1, zc + 1))))
            self._cands = cands
        return self._cands

    def _classify(self, normalization: str) -> np.ndarray:
        if normalization not in self._probs:
            self.classify_runs[normalization] += 1
            seed = zlib.crc32(f"{float(self.study.t1.array.mean()):.4f}/{normalization}".encode())
            rng = np.random.default_rng(seed)
            p = rng.dirichlet((1.0, 1.0, 1.0), size=len(SCORES)).astype(np.float32)
            self._probs[normalization] = p
        return self._probs[normalization]

    def _heat(self, box, zr) -> LocalHeatmap:
        """A Gaussian blob over the box on each slice of its slab, kept crop-local like the real one."""
        _, ny, nx = self.study.t1.shape
        y0, y1 = max(0, int(box[1])), min(ny, int(np.ceil(box[3])) + 1)
        x0, x1 = max(0, int(box[0])), min(nx, int(np.ceil(box[2])) + 1)
        yy, xx = np.mgrid[y0:y1, x0:x1]
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        g = np.exp(-(((xx - cx) / (0.3 * (box[2] - box[0]))) ** 2 + ((yy - cy) / (0.5 * (box[3] - box[1]))) ** 2))
        g = g.astype(np.float32)
        return LocalHeatmap(self.study.t1.shape, tuple(HeatPatch(z, y0, x0, g) for z in range(zr[0], zr[1] + 1)))

    def detections(self):
        """The detector's regions (StudyDetections' interface: ``filter(threshold)``), without any classifier."""
        from modic_core.detection.infer import Detection, StudyDetections

        cands = [Detection(tuple(float(v) for v in box), float(s), zr) for box, s, zr in self._candidates()]
        return StudyDetections(candidates=cands, slices_run=[], shape=self.study.t1.shape)

    def report(self, normalization: str = "zscore", threshold: float = 0.5, *, gradcam: bool = True,
               coverage: float | None = None) -> StudyReport:
        cands = self._candidates()
        probs = self._classify(normalization)
        coverage = settings.default_coverage() if coverage is None else settings.check_coverage(coverage)
        pvals = level_p_values(probs, CONFORMAL)
        kept = [i for i, c in enumerate(cands) if c[1] >= threshold]
        levels = []
        if kept:
            boxes = np.array([cands[i][0] for i in kept])
            names = assign_level_names(boxes)
            for r in order_top_to_bottom(boxes):
                i = kept[r]
                box, score, zr = cands[i]
                heat = self._heat(box, zr) if gradcam else None
                p = probs[i]
                level_p = {n: float(v) for n, v in zip(CLASS_NAMES, pvals[i])}
                pset = level_set(level_p, coverage)
                levels.append(LevelResult(names[r], tuple(float(v) for v in box), float(score),
                                          {n: float(v) for n, v in zip(CLASS_NAMES, p)}, CLASS_NAMES[int(np.argmax(p))],
                                          zr, heat, uncertain=len(pset) > 1, prediction_set=pset, p_values=level_p))
        return StudyReport(levels=levels, normalization=normalization, threshold=float(threshold),
                           weights={"detector": "fake-detector.pt (sha256 000000000000)",
                                    "classifier": f"fake-classifier_{normalization}.pt (sha256 000000000000)"},
                           timings={}, device="cpu", shape=self.study.t1.shape,
                           notes=([] if levels else ["No intervertebral region reached this confidence threshold."])
                           + set_notes(levels, coverage), coverage=coverage)


def fake_models_available() -> dict[str, bool]:
    from modic_core.normalization.methods import NORMALIZATIONS

    out = {"detector": True}
    out.update({m: m != "n4_zscore" for m in NORMALIZATIONS})  # one method "not trained", to test that path
    return out


def fake_backend() -> AnalysisBackend:
    return AnalysisBackend(make_analysis=FakeStudyAnalysis, models_available=fake_models_available, min_threshold=MIN_THRESHOLD)


_BACKEND = fake_backend()


def install() -> None:
    """Route the dashboard to the double through its backend seam (same process: AppTest, or serve_fake.py)."""
    set_backend_factory(lambda: _BACKEND)


def uninstall() -> None:
    set_backend_factory(None)
    FakeStudyAnalysis.instances.clear()
