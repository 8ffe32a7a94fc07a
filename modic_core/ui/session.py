"""Per-session state of the dashboard: study fingerprints, hashed IDs, the analysis store.

One :class:`~modic_core.analysis.analyze.StudyAnalysis` is kept per study (keyed by its fingerprint)
in each browser session, so moving the threshold slider only re-filters the cached
detections, and switching the normalization reruns only the classifier. The store is
bounded (least recently used studies are dropped) so a long session does not grow.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any, Callable

import numpy as np

__all__ = [
    "AnalysisStore",
    "analysis_backend",
    "models_status",
    "short_study_id",
    "study_fingerprint",
    "device_label",
]


def study_fingerprint(study) -> str:
    """16 hex digits identifying a study's pixels and geometry (no identifiers involved)."""
    h = hashlib.sha256()
    for vol in (study.t1, study.t2):
        arr = np.ascontiguousarray(vol.array)
        h.update(str(arr.shape).encode())
        h.update(np.asarray(vol.spacing, dtype=np.float64).tobytes())
        h.update(np.asarray(vol.origin, dtype=np.float64).tobytes())
        h.update(np.asarray(vol.direction, dtype=np.float64).tobytes())
        h.update(arr.tobytes())
    return h.hexdigest()[:16]


def short_study_id(study, fingerprint: str | None = None) -> str:
    """A short, one-way study identifier for display: 8 hex digits.

    From the (already salted and hashed) DICOM StudyInstanceUID when there is one, else
    from the pixel fingerprint. Never a name or an ID from the files.
    """
    sh = getattr(study.t1.meta, "study_hash", None)
    if sh:
        return hashlib.sha256(("modic-ui/" + str(sh)).encode()).hexdigest()[:8]
    fp = fingerprint or study_fingerprint(study)
    return hashlib.sha256(("modic-ui/" + fp).encode()).hexdigest()[:8]


class AnalysisStore:
    """Bounded LRU of analysis objects per study fingerprint (one store per browser session).

    ``factory(study)`` builds the analysis object (a ``StudyAnalysis``). Thread-safe: the
    same session can rerun while a previous run is still finishing.
    """

    def __init__(self, factory: Callable[[Any], Any], *, max_studies: int = 3) -> None:
        self.factory = factory
        self.max_studies = int(max_studies)
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, study) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        analysis = self.factory(study)
        with self._lock:
            self._items[key] = analysis
            self._items.move_to_end(key)
            while len(self._items) > self.max_studies:
                self._items.popitem(last=False)
        return analysis

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def analysis_backend():
    """``(StudyAnalysis class, MIN_THRESHOLD)`` from :mod:`modic_core.analysis.analyze`, or ``(None, 0.05)``.

    Tests replace the class with a double through :data:`BACKEND_OVERRIDE`.
    """
    if BACKEND_OVERRIDE.get("StudyAnalysis") is not None:
        return BACKEND_OVERRIDE["StudyAnalysis"], float(BACKEND_OVERRIDE.get("MIN_THRESHOLD", 0.05))
    _an = _analyze_module()
    if _an is None:
        return None, 0.05
    return getattr(_an, "StudyAnalysis", None), float(getattr(_an, "MIN_THRESHOLD", 0.05))


def _analyze_module():
    """The ``modic_core.analysis.analyze`` module (``modic_core.analysis.analyze`` the attribute is the function), or None."""
    import importlib

    try:
        return importlib.import_module("modic_core.analysis.analyze")
    except ImportError:
        return None


#: Test hook: ``{"StudyAnalysis": cls, "MIN_THRESHOLD": x, "models_available": callable}``.
BACKEND_OVERRIDE: dict[str, Any] = {}


def models_status() -> dict[str, Any]:
    """What :func:`modic_core.models_available` reports, normalised to a dict.

    ``{"available": bool (detector and at least one classifier), "detector": bool,
    "classifiers": {method: bool}, "raw": the original answer}``. When the function does not
    exist yet (models not shipped), everything is False.
    """
    fn = BACKEND_OVERRIDE.get("models_available")
    if fn is None:
        import modic_core

        fn = getattr(modic_core, "models_available", None)
        if fn is None:
            fn = getattr(_analyze_module(), "models_available", None)
    raw: Any = {}
    if fn is not None:
        try:
            raw = fn() or {}
        except Exception:  # noqa: BLE001 - a broken weights folder must not break the page
            raw = {}
    return normalise_models_status(raw)


def normalise_models_status(raw: Any) -> dict[str, Any]:
    """Interpret a ``models_available()`` answer in the shapes it may take.

    Accepted: ``{"detector": bool, "classifiers": {method: bool}}``, ``{"detector": bool,
    "classifier_zscore": bool, ...}``, ``{"detector": bool, "zscore": bool, ...}`` (values may
    also be paths/strings: truthy = available).
    """
    from modic_core.normalization.methods import NORMALIZATIONS

    raw = raw if isinstance(raw, dict) else {}
    detector = bool(raw.get("detector"))
    classifiers: dict[str, bool] = {}
    nested = raw.get("classifiers") or raw.get("classifier")
    if isinstance(nested, dict):
        classifiers = {str(k): bool(v) for k, v in nested.items()}
    for key, val in raw.items():
        name = key[len("classifier_"):] if isinstance(key, str) and key.startswith("classifier_") else key
        if name in NORMALIZATIONS and name not in classifiers:
            classifiers[name] = bool(val)
    return {
        "available": detector and any(classifiers.values()),
        "detector": detector,
        "classifiers": classifiers,
        "raw": raw,
    }


def device_label() -> str:
    """'GPU (name)' when torch sees CUDA, else 'CPU'."""
    try:
        import torch

        if torch.cuda.is_available():
            try:
                return f"GPU ({torch.cuda.get_device_name(0)})"
            except Exception:  # noqa: BLE001
                return "GPU"
    except ImportError:  # pragma: no cover
        pass
    return "CPU"
