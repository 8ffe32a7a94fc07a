"""Analysis of one study: detection + grading + Grad-CAM, merged into a :class:`StudyReport`."""
from __future__ import annotations

from modic_core.analysis.analyze import StudyAnalysis, analyze, analyze_many, get_analysis
from modic_core.analysis.report import CLASS_NAMES, LevelResult, StudyReport

__all__ = ["CLASS_NAMES", "LevelResult", "StudyAnalysis", "StudyReport", "analyze", "analyze_many", "get_analysis"]
