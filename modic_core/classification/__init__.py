"""Stage 2: Modic grading of each region from paired T1/T2 crops (3D CNN) and Grad-CAM."""
from __future__ import annotations

from modic_core.classification.crops import CropSpec, extract_crops, paste_back
from modic_core.classification.gradcam import grad_cam
from modic_core.classification.infer import Classifier, load_classifier, classifier_path
from modic_core.classification.model import ClassifierConfig, ModicNet3D, build_classifier

__all__ = [
    "Classifier", "ClassifierConfig", "CropSpec", "ModicNet3D", "build_classifier", "classifier_path",
    "extract_crops", "grad_cam", "load_classifier", "paste_back",
]
