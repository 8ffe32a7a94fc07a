"""A test double of :class:`modic_core.analysis.analyze.StudyAnalysis` for the dashboard tests.

It has the same interface (``StudyAnalysis(study)``, ``.report(normalization, threshold,
gradcam=...)`` -> :class:`~modic_core.analysis.report.StudyReport`) and the same caching contract, and
it counts its "network" runs so tests can check that a threshold change runs nothing and a
normalization switch reruns only the classifier. Results depend on the study's pixels and on
the normalization, so two studies (or two methods) give different tables.
"""
from __future__ import annotations

import threading
import zlib
from collections import Counter

import numpy as np

from modic_core.detection.levels import assign_level_names, order_top_to_bottom
from modic_core.analysis.report import CLASS_NAMES, LevelResult, StudyReport

MIN_THRESHOLD = 0.05
SCORES = (0.97, 0.93, 0.9, 0.84, 0.62, 0.3)


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

    def report(self, normalization: str = "zscore", threshold: float = 0.5, *, gradcam: bool = True) -> StudyReport:
        cands = self._candidates()
        probs = self._classify(normalization)
        kept = [i for i, c in enumerate(cands) if c[1] >= threshold]
        levels = []
        if kept:
            boxes = np.array([cands[i][0] for i in kept])
            names = assign_level_names(boxes)
            for r in order_top_to_bottom(boxes):
                i = kept[r]
                box, score, zr = cands[i]
                heat = None
                if gradcam:
                    heat = np.zeros(self.study.t1.shape, np.float32)
                    yy, xx = np.mgrid[0:heat.shape[1], 0:heat.shape[2]]
                    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
                    g = np.exp(-(((xx - cx) / (0.3 * (box[2] - box[0]))) ** 2 + ((yy - cy) / (0.5 * (box[3] - box[1]))) ** 2))
                    heat[zr[0]:zr[1] + 1] = g.astype(np.float32)
                p = probs[i]
                levels.append(LevelResult(names[r], tuple(float(v) for v in box), float(score),
                                          {n: float(v) for n, v in zip(CLASS_NAMES, p)}, CLASS_NAMES[int(np.argmax(p))],
                                          zr, heat))
        return StudyReport(levels=levels, normalization=normalization, threshold=float(threshold),
                           weights={"detector": "fake-detector.pt (sha256 000000000000)",
                                    "classifier": f"fake-classifier_{normalization}.pt (sha256 000000000000)"},
                           timings={}, device="cpu", shape=self.study.t1.shape,
                           notes=[] if levels else ["No intervertebral region reached this confidence threshold."])


def fake_models_available() -> dict[str, bool]:
    from modic_core.normalization.methods import NORMALIZATIONS

    out = {"detector": True}
    out.update({m: m != "n4_zscore" for m in NORMALIZATIONS})  # one method "not trained", to test that path
    return out


def install() -> None:
    """Route the dashboard to the double (same process: AppTest, or the browser test's wrapper app)."""
    from modic_core.ui import session

    session.BACKEND_OVERRIDE.update(
        {"StudyAnalysis": FakeStudyAnalysis, "MIN_THRESHOLD": MIN_THRESHOLD, "models_available": fake_models_available}
    )


def uninstall() -> None:
    from modic_core.ui import session

    session.BACKEND_OVERRIDE.clear()
    FakeStudyAnalysis.instances.clear()
