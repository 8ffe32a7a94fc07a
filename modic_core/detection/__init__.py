"""Stage 1: intervertebral region detection (Faster R-CNN) and level naming."""
from __future__ import annotations

from modic_core.detection.infer import Detection, Detector, StudyDetections, load_detector
from modic_core.detection.levels import assign_level_names
from modic_core.detection.model import DetectorConfig, build_detector

__all__ = [
    "Detection", "Detector", "DetectorConfig", "StudyDetections",
    "assign_level_names", "build_detector", "load_detector",
]
