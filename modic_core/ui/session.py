"""Per-session state of the dashboard: the analysis store and the models' status.

One analysis object (a :class:`~modic_core.analysis.analyze.StudyAnalysis`) is kept per study,
keyed by its fingerprint (:func:`modic_core.analysis.cache.study_fingerprint`), in each browser
session, so moving the threshold slider only re-filters the cached detections, and switching the
normalization reruns only the classifier. The store is bounded in bytes (the studies' arrays and
results it keeps alive, in the project's one byte-bounded LRU, :class:`~modic_core.analysis.cache.ByteLRU`);
least recently used studies are dropped, the one on screen never.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

from modic_core.analysis.cache import ByteLRU
from modic_core.normalization.methods import NORMALIZATIONS
from modic_core.ui.backend import get_backend

__all__ = [
    "AnalysisStore",
    "models_status",
    "device_label",
]


class AnalysisStore:
    """Analysis objects per study fingerprint in a :class:`~modic_core.analysis.cache.ByteLRU`
    (one store per browser session), bounded in bytes.

    ``factory(study, fingerprint=key)`` builds the analysis object. Sizes are measured with
    :func:`~modic_core.analysis.cache.nbytes_of` (a ``StudyAnalysis`` reports its study's arrays
    and its results) each time the store is trimmed, since an analysis grows as methods are
    added. The most recently used entry is always kept. Thread-safe: the same session can rerun
    while a previous run is still finishing.
    """

    def __init__(self, factory: Callable[..., Any], *, max_bytes: int) -> None:
        self.factory = factory
        self._cache = ByteLRU(max_bytes, keep_newest=True)
        self._lock = threading.Lock()

    @property
    def max_bytes(self) -> int:
        return self._cache.max_bytes

    def get(self, key: str, study) -> Any:
        """The analysis of ``study`` (fingerprint ``key``), built on first use; trims the store."""
        with self._lock:
            analysis = self._cache.get(key)
            if analysis is not None and getattr(analysis, "study", study) is not study and hasattr(analysis, "rebind"):
                analysis.rebind(study)  # same pixels: keep one copy of the arrays alive, not two
        if analysis is None:
            analysis = self._cache.put(key, self.factory(study, fingerprint=key), nbytes=0)  # measured by trim
        self.trim()
        return analysis

    def trim(self) -> None:
        """Measure the analyses again and drop least recently used ones while the total exceeds
        ``max_bytes`` (keeps the newest)."""
        self._cache.trim(remeasure=True)

    @property
    def nbytes(self) -> int:
        """Bytes the analyses keep alive, as measured at the last :meth:`get` or :meth:`trim`."""
        return self._cache.nbytes

    def keys(self) -> list[str]:
        """Fingerprints held, least recently used first."""
        return self._cache.keys()

    def peek(self, key: str) -> Any | None:
        """The analysis held for fingerprint ``key`` (now the most recently used), or None; builds, rebinds and trims nothing."""
        with self._lock:
            return self._cache.get(key)

    def __contains__(self, key: str) -> bool:
        return key in self._cache

    def __len__(self) -> int:
        return len(self._cache)

    def clear(self) -> None:
        self._cache.clear()


def models_status(backend=None) -> dict[str, Any]:
    """The backend's ``models_available()`` as ``{"available": bool (detector and at least one
    classifier), "detector": bool, "classifiers": {method: bool for every normalization}}``."""
    raw = (backend or get_backend()).models_available()
    detector = bool(raw.get("detector"))
    classifiers = {m: bool(raw.get(m)) for m in NORMALIZATIONS}
    return {"available": detector and any(classifiers.values()), "detector": detector, "classifiers": classifiers}


def device_label() -> str:
    """'GPU (name)' when torch sees CUDA, else 'CPU'."""
    try:
        import torch  # lazy: torch is optional for this label: without it the label says CPU

        if torch.cuda.is_available():
            try:
                return f"GPU ({torch.cuda.get_device_name(0)})"
            except Exception:  # noqa: BLE001
                return "GPU"
    except ImportError:  # pragma: no cover
        pass
    return "CPU"
