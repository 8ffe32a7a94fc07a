"""Results of analysing one study: typed, JSON-exportable containers."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["CLASS_NAMES", "LevelResult", "StudyReport"]

CLASS_NAMES = ("MC0", "MC1", "MC2")


@dataclass
class LevelResult:
    """One intervertebral level.

    ``box`` = (x0, y0, x1, y1) in T1 pixels (x = column, y = row); ``z_range`` = first and last
    slice of its slab; ``score`` = detector confidence; ``probabilities`` over MC0/MC1/MC2;
    ``heatmap`` = Grad-CAM of the predicted class, float32 in [0, 1], shaped like the T1 grid
    (z, y, x), zero outside the region's crop.
    """

    level: str
    box: tuple[float, float, float, float]
    score: float
    probabilities: dict[str, float]
    prediction: str
    z_range: tuple[int, int] = (0, 0)
    heatmap: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 4),
            "probabilities": {k: round(float(v), 4) for k, v in self.probabilities.items()},
            "prediction": self.prediction,
            "z_range": list(self.z_range),
        }


@dataclass
class StudyReport:
    """Per-level results, ordered top to bottom, plus provenance and timings (seconds)."""

    levels: list[LevelResult]
    normalization: str
    threshold: float
    weights: dict[str, str] = field(default_factory=dict)  # stage -> "file (sha256 prefix)"
    timings: dict[str, float] = field(default_factory=dict)
    device: str = "cpu"
    shape: tuple[int, int, int] = (0, 0, 0)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        from modic_core.schema import StudyReportRecord

        return {
            **StudyReportRecord.header(),  # schema, schema_version: read back with StudyReportRecord.from_dict
            "normalization": self.normalization,
            "threshold": self.threshold,
            "device": self.device,
            "weights": dict(self.weights),
            "timings_s": {k: round(float(v), 4) for k, v in self.timings.items()},
            "levels": [lv.to_dict() for lv in self.levels],
            "notes": list(self.notes),
        }

    def table(self):
        """Per-level table as a pandas DataFrame (level, confidence, P(MC0..2), prediction)."""
        import pandas as pd

        rows = [
            {
                "level": lv.level,
                "confidence": round(lv.score, 3),
                "P(MC0)": round(lv.probabilities["MC0"], 3),
                "P(MC1)": round(lv.probabilities["MC1"], 3),
                "P(MC2)": round(lv.probabilities["MC2"], 3),
                "prediction": lv.prediction,
            }
            for lv in self.levels
        ]
        return pd.DataFrame(rows, columns=["level", "confidence", "P(MC0)", "P(MC1)", "P(MC2)", "prediction"])
