"""Loading the per-normalization classifiers once per process and running them."""
from __future__ import annotations

import functools
import threading
from pathlib import Path

import numpy as np
import torch

from modic_core import settings
from modic_core.classification.calibration import Calibration, apply_temperature
from modic_core.classification.crops import CropSpec
from modic_core.classification.gradcam import grad_cam
from modic_core.classification.model import ClassifierConfig, build_classifier

__all__ = ["Classifier", "load_classifier", "classifier_path", "read_calibration"]



def classifier_path(normalization: str, weights_dir: str | Path | None = None) -> Path:
    return Path(weights_dir or settings.weights_dir()) / f"classifier_{normalization}.pt"


class Classifier:
    """A trained classifier for one normalization method (and its Nyul landmarks, if any)."""

    def __init__(self, model, *, spec: CropSpec, normalization: str, landmarks: dict | None, device: str, source: str, sha256: str,
                 calibration: Calibration | None = None):
        self.model = model
        self.calibration = calibration or Calibration()
        self.spec = spec
        self.normalization = normalization
        self.landmarks = landmarks
        self.device = device
        self.source = source
        self.sha256 = sha256
        self._lock = threading.Lock()

    @property
    def uncertain_below(self) -> float | None:
        """Calibrated top probability under which a level is flagged uncertain (None: never)."""
        return self.calibration.uncertain_below

    @property
    def key(self) -> str:
        """Identifies weights and calibration (a cache key part)."""
        return f"{self.sha256 or self.source}|T={self.calibration.temperature:.6g}"

    def predict(self, crops: torch.Tensor, *, gradcam: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """Calibrated probabilities (N, 3) (temperature-scaled, :mod:`~modic_core.classification.calibration`)
        and, if asked, Grad-CAM of the predicted class (N, D, H, W) in [0, 1]. Scaling by a temperature
        keeps the predicted class, so the Grad-CAM class is the same.

        All crops go through the network in one batch.
        """
        probs, cams = self._predict_raw(crops, gradcam=gradcam)
        return apply_temperature(probs, self.calibration.temperature), cams

    def _predict_raw(self, crops: torch.Tensor, *, gradcam: bool) -> tuple[np.ndarray, np.ndarray | None]:
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
    sha = sha256_file(path)
    return Classifier(model, spec=CropSpec(**payload["crop"]), normalization=normalization, landmarks=landmarks,
                      device=device, source=path.name, sha256=sha, calibration=read_calibration(payload, path, sha))


def read_calibration(payload: dict, path: Path, sha256: str) -> Calibration:
    """The calibration stored in the weights (``payload["calibration"]``), else the one of the card
    beside them (``classifier_<method>.json``, only when its sha256 names these weights), else none
    (temperature 1, never uncertain). An unreadable card is ignored here; the model card page shows it."""
    stored = payload.get("calibration")
    if isinstance(stored, dict) and stored.get("temperature"):
        return Calibration(float(stored["temperature"]), _opt_float(stored.get("uncertain_below")))
    card_path = path.with_suffix(".json")
    if card_path.is_file():
        from modic_core.schema import ClassifierCard, SchemaError

        try:
            card = ClassifierCard.load(card_path)
        except (SchemaError, OSError, ValueError):
            return Calibration()
        cal = card.calibration
        if cal is not None and card.sha256 == sha256 and cal.temperature:
            return Calibration(float(cal.temperature), _opt_float(cal.uncertain_below))
    return Calibration()


def _opt_float(v) -> float | None:
    return None if v is None else float(v)
