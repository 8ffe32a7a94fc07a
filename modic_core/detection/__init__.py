"""Stage 1: intervertebral region detection (Faster R-CNN) and level naming."""
from __future__ import annotations

from .infer import DEFAULT_WEIGHTS, Detection, Detector, StudyDetections, load_detector
from .levels import assign_level_names
from .model import DetectorConfig, build_detector

__all__ = [
    "DEFAULT_WEIGHTS", "Detection", "Detector", "DetectorConfig", "StudyDetections",
    "assign_level_names", "build_detector", "load_detector",
]
