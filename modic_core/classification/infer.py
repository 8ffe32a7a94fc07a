"""Loading the per-normalization classifiers once per process and running them."""
from __future__ import annotations

import functools
import threading
from pathlib import Path

import numpy as np
import torch

from modic_core import settings
from modic_core.classification.crops import CropSpec
from modic_core.classification.gradcam import grad_cam
from modic_core.classification.model import ClassifierConfig, build_classifier

__all__ = ["Classifier", "load_classifier", "classifier_path"]



def classifier_path(normalization: str, weights_dir: str | Path | None = None) -> Path:
    return Path(weights_dir or settings.weights_dir()) / f"classifier_{normalization}.pt"


class Classifier:
    """A trained classifier for one normalization method (and its Nyul landmarks, if any)."""

    def __init__(self, model, *, spec: CropSpec, normalization: str, landmarks: dict | None, device: str, source: str, sha256: str):
        self.model = model
        self.spec = spec
        self.normalization = normalization
        self.landmarks = landmarks
        self.device = device
        self.source = source
        self.sha256 = sha256
        self._lock = threading.Lock()

    def predict(self, crops: torch.Tensor, *, gradcam: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """Probabilities (N, 3) and, if asked, Grad-CAM of the predicted class (N, D, H, W) in [0, 1].

        All crops go through the network in one batch.
        """
        if len(crops) == 0:
            return np.zeros((0, 3), np.float32), (np.zeros((0,) + tuple(crops.shape[2:]), np.float32) if gradcam else None)
        x = crops.to(self.device)
        with self._lock:
            if gradcam:
                cam, probs = grad_cam(self.model, x)
                return probs.cpu().numpy(), cam.cpu().numpy()
            with torch.inference_mode():
                probs = torch.softmax(self.model(x), 1)
            return probs.cpu().numpy(), None


@functools.lru_cache(maxsize=16)
def load_classifier(normalization: str, *, weights_dir: str | None = None, device: str | None = None) -> Classifier:
    """Load ``weights/classifier_<normalization>.pt`` once per process."""
    from modic_core.schema import sha256_file

    path = classifier_path(normalization, weights_dir)
    if not path.is_file():
        from modic_core.errors import InputError

        raise InputError(f"No trained classifier is installed for the normalization '{normalization}'.")
    device = device or settings.device()
    payload = torch.load(path, map_location="cpu", weights_only=True)
    model = build_classifier(config=ClassifierConfig.from_dict(payload["config"]))
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()})
    model.eval().to(device)
    lm = payload.get("landmarks")
    landmarks = {k: np.asarray(v, dtype=np.float64) for k, v in lm.items()} if lm else None
    side = path.parent / "nyul_landmarks.json"
    if landmarks is not None and side.is_file():
        from modic_core.normalization.methods import load_landmarks

        # The landmarks file beside the weights is the readable copy; it must match the weights'.
        file_lm = load_landmarks(side)
        if any(not np.allclose(file_lm.get(k, np.nan), v) for k, v in landmarks.items()):
            raise RuntimeError(f"{side.name} does not match the landmarks stored in {path.name}")
    return Classifier(model, spec=CropSpec(**payload["crop"]), normalization=normalization, landmarks=landmarks,
                      device=device, source=path.name, sha256=sha256_file(path))
