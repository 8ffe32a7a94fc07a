"""Loading the per-normalization classifiers once per process and running them."""
from __future__ import annotations

import functools
import threading
from pathlib import Path

import numpy as np
import torch

from modic_core import settings
from modic_core.classification.calibration import Calibration, apply_temperature
from modic_core.classification.conformal import ConformalCalibration
from modic_core.classification.crops import CropSpec
from modic_core.classification.gradcam import get_variant, grad_cam
from modic_core.classification.model import ClassifierConfig, build_classifier
from modic_core.errors import InputError
from modic_core.normalization.methods import load_landmarks
from modic_core.schema import sha256_file, GradcamAudit, SchemaError, ClassifierCard

__all__ = ["Classifier", "load_classifier", "classifier_path", "read_calibration", "read_cam_scales", "read_conformal"]

#: Fixed heat-map scales (raw value shown as 1, per variant) measured by ``python -m modic_core.train.gradcam_audit``.
CAM_AUDIT_FILE = "gradcam_audit.json"



def classifier_path(normalization: str, weights_dir: str | Path | None = None) -> Path:
    return Path(weights_dir or settings.weights_dir()) / f"classifier_{normalization}.pt"


class Classifier:
    """A trained classifier for one normalization method (and its Nyul landmarks, if any)."""

    def __init__(self, model, *, spec: CropSpec, normalization: str, landmarks: dict | None, device: str, source: str, sha256: str,
                 calibration: Calibration | None = None, cam_scales: dict[str, float] | None = None, cam_quantile: float = 0.9,
                 conformal: ConformalCalibration | None = None):
        self.model = model
        self.conformal = conformal  # prediction sets' calibration (None: no sets for these weights)
        self.cam_scales = dict(cam_scales or {})  # variant -> raw map value shown as 1 (these weights only)
        self.cam_quantile = float(cam_quantile)  # that value is this quantile of per-disc peaks in the audit
        self.calibration = calibration or Calibration()
        self.spec = spec
        self.normalization = normalization
        self.landmarks = landmarks
        self.device = device
        self.source = source
        self.sha256 = sha256
        self._lock = threading.Lock()

    @property
    def cam_variant(self) -> str:
        """The explanation shown (:func:`modic_core.settings.gradcam_variant`, read at each call)."""
        return get_variant().name

    @property
    def cam_scale(self) -> float | None:
        """Raw map value shown as 1 for :attr:`cam_variant` (None: no audit of these weights; maps per own maximum)."""
        v = self.cam_scales.get(self.cam_variant)
        return float(v) if v and v > 0 else None

    @property
    def heat_scale(self) -> str:
        """What the heat maps' colour bar means, in one sentence."""
        name = self.cam_variant
        if self.cam_scale is None:
            return (f"{name}, 0-1 of each level's own maximum (no fixed scale is recorded for these weights: run "
                    "python -m modic_core.train.gradcam_audit); colours compare places within a level, not levels with each other.")
        return (f"{name}, fixed scale: 1 = the {100 * self.cam_quantile:.0f}th percentile of the map peaks of this model over "
                "the audited cohort discs (higher values show as 1); the same raw value has the same colour in every level and study.")

    @property
    def key(self) -> str:
        """Identifies weights, calibration and the heat maps' variant and scale (a cache key part)."""
        conf = "none" if self.conformal is None else f"{self.conformal.score}:{sum(map(self.conformal.n, self.conformal.classes))}"
        return f"{self.sha256 or self.source}|T={self.calibration.temperature:.6g}|cam={self.cam_variant}:{self.cam_scale}|cp={conf}"

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
                cam, probs = grad_cam(self.model, x, variant=self.cam_variant, scale=self.cam_scale)
                return probs.cpu().numpy(), cam.cpu().numpy()
            with torch.inference_mode():
                probs = torch.softmax(self.model(x), 1)
            return probs.cpu().numpy(), None


@functools.lru_cache(maxsize=16)
def load_classifier(normalization: str, *, weights_dir: str | None = None, device: str | None = None) -> Classifier:
    """Load ``weights/classifier_<normalization>.pt`` once per process."""
    path = classifier_path(normalization, weights_dir)
    if not path.is_file():
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
        # The landmarks file beside the weights is the readable copy; it must match the weights'.
        file_lm = load_landmarks(side)
        if any(not np.allclose(file_lm.get(k, np.nan), v) for k, v in landmarks.items()):
            raise RuntimeError(f"{side.name} does not match the landmarks stored in {path.name}")
    sha = sha256_file(path)
    card = read_card(path, sha)  # read once: temperature and prediction sets both come from it
    return Classifier(model, spec=CropSpec(**payload["crop"]), normalization=normalization, landmarks=landmarks,
                      device=device, source=path.name, sha256=sha, calibration=read_calibration(payload, path, sha, card=card),
                      conformal=read_conformal(path, sha, card=card), **read_cam_scales(path.parent / CAM_AUDIT_FILE, normalization, sha))


def read_cam_scales(path: Path, normalization: str, sha256: str) -> dict:
    """``{"cam_scales": variant -> fixed heat-map scale, "cam_quantile": q}`` of these weights from the Grad-CAM
    audit beside them; {} when the file is absent or unreadable or was measured on other weights (then maps
    are scaled per level)."""
    if not path.is_file():
        return {}
    try:
        scale = GradcamAudit.load(path).scales.get(normalization)
    except (SchemaError, OSError, ValueError):
        return {}
    if scale is None or scale.sha256 != sha256:
        return {}
    return {"cam_scales": {k: float(v) for k, v in scale.values.items() if v and v > 0}, "cam_quantile": float(scale.quantile)}


_READ = object()  # the card argument's default: read the card beside the weights


def read_card(path: Path, sha256: str):
    """The classifier card beside the weights (``classifier_<method>.json``), only when it is readable and its
    sha256 names these weights; None otherwise (an unreadable card is ignored here; the model card page shows it)."""
    card_path = path.with_suffix(".json")
    if not card_path.is_file():
        return None
    try:
        card = ClassifierCard.load(card_path)
    except (SchemaError, OSError, ValueError):
        return None
    return card if card.sha256 == sha256 else None


def read_calibration(payload: dict, path: Path, sha256: str, *, card=_READ) -> Calibration:
    """The calibration stored in the weights (``payload["calibration"]``), else the one of the card
    beside them (:func:`read_card`; ``card``: that card already read), else none (temperature 1)."""
    stored = payload.get("calibration")
    if isinstance(stored, dict) and stored.get("temperature"):
        return Calibration(float(stored["temperature"]), _opt_float(stored.get("uncertain_below")))
    card = read_card(path, sha256) if card is _READ else card
    cal = None if card is None else card.calibration
    if cal is not None and cal.temperature:
        return Calibration(float(cal.temperature), _opt_float(cal.uncertain_below))
    return Calibration()


def _opt_float(v) -> float | None:
    return None if v is None else float(v)


def read_conformal(path: Path, sha256: str, *, card=_READ) -> ConformalCalibration | None:
    """The prediction sets' calibration from the card beside the weights (:func:`read_card`; ``card``: that card
    already read) when it holds a ``conformal`` record; None otherwise (the app then shows no sets and says so)."""
    card = read_card(path, sha256) if card is _READ else card
    rec = None if card is None else card.conformal
    if rec is None or tuple(rec.classes) != ("MC0", "MC1", "MC2"):
        return None  # another model's, or grades in another order than the network's outputs: no sets
    try:
        return ConformalCalibration(score=rec.score, classes=tuple(rec.classes),
                                    calibration_scores={k: tuple(float(x) for x in v) for k, v in rec.calibration_scores.items()},
                                    makers=tuple(rec.makers), field_strengths=tuple(rec.field_strengths))
    except ValueError:
        return None
