"""Hand-made conformal calibration and prediction sets for tests (seeded; no weights card needed)."""
from __future__ import annotations

import dataclasses

import numpy as np

from modic_core.analysis.report import StudyReport
from modic_core.analysis.sets import with_coverage
from modic_core.classification.conformal import ConformalCalibration

__all__ = ["SINGLE", "TWO_AT_90", "TWO_ALWAYS", "hand_calibration", "with_p_values"]

#: Level p-values: one grade (MC0) at every offered coverage up to 95 %.
SINGLE = {"MC0": 0.6, "MC1": 0.01, "MC2": 0.03}
#: "MC0 or MC2" at 90 % (alpha 0.10 < 0.15), "MC0" at 80 % (alpha 0.20 > 0.15).
TWO_AT_90 = {"MC0": 0.5, "MC1": 0.01, "MC2": 0.15}
#: "MC0 or MC2" from 80 % up.
TWO_ALWAYS = {"MC0": 0.4, "MC1": 0.02, "MC2": 0.25}


def hand_calibration(seed: int = 0, n: int = 40, score: str = "lac") -> ConformalCalibration:
    """A calibration with ``n`` seeded non-conformity scores per grade (LAC scores ~ Beta(2, 3): true-grade
    probabilities about 0.6)."""
    rng = np.random.default_rng(seed)
    scores = {c: tuple(float(v) for v in rng.beta(2.0, 3.0, n)) for c in ("MC0", "MC1", "MC2")}
    return ConformalCalibration(score=score, classes=("MC0", "MC1", "MC2"), calibration_scores=scores)


def with_p_values(report: StudyReport, p_values: list[dict[str, float]], coverage: float = 0.9) -> StudyReport:
    """``report`` with these p-values on its levels (in order) and the sets derived at ``coverage``."""
    levels = [dataclasses.replace(lv, p_values=dict(p)) for lv, p in zip(report.levels, p_values)]
    return with_coverage(dataclasses.replace(report, levels=levels, coverage=coverage), coverage)
