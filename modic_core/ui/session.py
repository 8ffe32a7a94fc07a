"""Per-session state of the dashboard: hashed study IDs, the analysis store, the models' status.

One analysis object (a :class:`~modic_core.analysis.analyze.StudyAnalysis`) is kept per study,
keyed by its fingerprint (:func:`modic_core.analysis.cache.study_fingerprint`), in each browser
session, so moving the threshold slider only re-filters the cached detections, and switching the
normalization reruns only the classifier. The store is bounded in bytes (the studies' arrays and
results it keeps alive); least recently used studies are dropped, the one on screen never.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable

from modic_core.analysis.cache import nbytes_of

__all__ = [
    "AnalysisStore",
    "models_status",
    "device_label",
]


class AnalysisStore:
    """LRU of analysis objects per study fingerprint, bounded in bytes (one store per browser session).

    ``factory(study, fingerprint=key)`` builds the analysis object. Sizes are measured with
    :func:`~modic_core.analysis.cache.nbytes_of` (a ``StudyAnalysis`` reports its study's arrays
    and its results) each time the store is trimmed, since an analysis grows as methods are
    added. The most recently used entry is always kept. Thread-safe: the same session can rerun
    while a previous run is still finishing.
    """

    def __init__(self, factory: Callable[..., Any], *, max_bytes: int) -> None:
        self.factory = factory
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, study) -> Any:
        """The analysis of ``study`` (fingerprint ``key``), built on first use; trims the store."""
        with self._lock:
            analysis = self._items.get(key)
            if analysis is not None:
                self._items.move_to_end(key)
                if getattr(analysis, "study", study) is not study and hasattr(analysis, "rebind"):
                    analysis.rebind(study)  # same pixels: keep one copy of the arrays alive, not two
        if analysis is None:
            analysis = self.factory(study, fingerprint=key)
            with self._lock:
                self._items[key] = analysis
                self._items.move_to_end(key)
        self.trim()
        return analysis

    def trim(self) -> None:
        """Drop least recently used analyses while the total exceeds ``max_bytes`` (keeps the newest)."""
        with self._lock:
            while len(self._items) > 1 and self.nbytes > self.max_bytes:
                self._items.popitem(last=False)

    @property
    def nbytes(self) -> int:
        seen: set[int] = set()
        return sum(nbytes_of(a, seen) for a in list(self._items.values()))

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def models_status(backend=None) -> dict[str, Any]:
    """The backend's ``models_available()`` as ``{"available": bool (detector and at least one
    classifier), "detector": bool, "classifiers": {method: bool for every normalization}}``."""
    from modic_core.normalization.methods import NORMALIZATIONS
    from modic_core.ui.backend import get_backend

    raw = (backend or get_backend()).models_available()
    detector = bool(raw.get("detector"))
    classifiers = {m: bool(raw.get(m)) for m in NORMALIZATIONS}
    return {"available": detector and any(classifiers.values()), "detector": detector, "classifiers": classifiers}


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
