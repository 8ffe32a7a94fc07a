"""Study fingerprints and a least-recently-used cache bounded in bytes.

- :func:`study_fingerprint` hashes *every* byte of the T1 and T2 arrays plus their shape,
  dtype and geometry (spacing, origin, direction) with BLAKE2b: two studies that differ in one
  voxel or one millimetre of geometry get different keys.
- :class:`ByteLRU` keeps values until the sum of their sizes (:func:`nbytes_of`: the ``nbytes``
  of the numpy arrays and torch tensors they hold) exceeds its budget, then drops the least
  recently used ones; it is the one byte-bounded cache type. :func:`result_cache` is the one
  process-wide instance that :mod:`modic_core.analysis.analyze` keeps detections and
  classifications in; the dashboard's per-session store of analyses is another.
"""
from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable

import numpy as np

from modic_core import settings
from modic_core.volume import pixel_digest

__all__ = ["ByteLRU", "nbytes_of", "result_cache", "study_fingerprint"]


def study_fingerprint(study) -> str:
    """32 hex digits identifying a study's T1 and T2 pixels and geometry (no patient data involved).

    BLAKE2b over all bytes of both (z, y, x) arrays, with their shape, dtype, spacing (mm),
    origin (mm) and direction matrix. Reads every voxel once (cost linear in the pixel bytes).
    """
    return pixel_digest(study, digest_size=16, person=b"modic-study-v2")


def nbytes_of(obj: Any, _seen: set[int] | None = None) -> int:
    """Bytes held by the arrays inside ``obj`` (numpy arrays, torch tensors, in containers,
    dataclasses or objects with an ``nbytes`` property); each array is counted once."""
    seen = set() if _seen is None else _seen
    if obj is None or isinstance(obj, (str, bytes, int, float, bool)):
        return len(obj) if isinstance(obj, bytes) else 0
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return int(obj.nbytes)
    if type(obj).__module__.startswith("torch") and hasattr(obj, "element_size"):
        return int(obj.element_size() * obj.nelement())
    if isinstance(obj, dict):
        return sum(nbytes_of(v, seen) for v in obj.values())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return sum(nbytes_of(v, seen) for v in obj)
    own = getattr(type(obj), "nbytes", None)
    if isinstance(own, property):
        return int(obj.nbytes)
    if dataclasses.is_dataclass(obj):
        return sum(nbytes_of(getattr(obj, f.name), seen) for f in dataclasses.fields(obj))
    return 0


class ByteLRU:
    """Thread-safe least-recently-used mapping bounded by the bytes of its values: the project's one
    byte-bounded cache (the process-wide result and display caches, and each dashboard session's
    :class:`~modic_core.ui.session.AnalysisStore`).

    ``put`` stores a value with its size (``nbytes_of(value)`` unless given) and drops the least
    recently used entries until the total is within ``max_bytes``; a value larger than the whole
    budget is not kept, unless ``keep_newest``: then the most recently used entry is always kept
    (the study on screen), alone if need be. ``get`` marks an entry as used. :meth:`trim` with
    ``remeasure`` measures the values again first, for values that grow after they are stored.
    """

    def __init__(self, max_bytes: int, *, keep_newest: bool = False) -> None:
        self.max_bytes = int(max_bytes)
        self.keep_newest = bool(keep_newest)
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._total = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, default: Any = None) -> Any:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return default
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: Hashable, value: Any, *, nbytes: int | None = None) -> Any:
        size = nbytes_of(value) if nbytes is None else int(nbytes)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._total -= old[1]
            if size <= self.max_bytes or self.keep_newest:
                self._items[key] = (value, size)
                self._total += size
                self._evict()
        return value

    def trim(self, *, remeasure: bool = False) -> None:
        """Drop least recently used entries while the total exceeds ``max_bytes``. With
        ``remeasure`` every value is measured again first (:func:`nbytes_of`); an array held by
        several values counts once, towards the most recently used of them, so the total is
        the bytes the cache keeps alive."""
        with self._lock:
            if remeasure:
                seen: set[int] = set()
                for key in list(reversed(self._items)):
                    value = self._items[key][0]
                    self._items[key] = (value, nbytes_of(value, seen))
                self._total = sum(size for _, size in self._items.values())
            self._evict()

    def _evict(self) -> None:
        keep = 1 if self.keep_newest else 0
        while self._total > self.max_bytes and len(self._items) > keep:
            _, (_, s) = self._items.popitem(last=False)
            self._total -= s

    def discard(self, key: Hashable) -> None:
        with self._lock:
            item = self._items.pop(key, None)
            if item is not None:
                self._total -= item[1]

    def discard_where(self, predicate) -> None:
        """Drop every entry whose key satisfies ``predicate(key)``."""
        with self._lock:
            for key in [k for k in self._items if predicate(k)]:
                self._total -= self._items.pop(key)[1]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._total = 0

    def keys(self) -> list[Hashable]:
        """The keys, least recently used first."""
        with self._lock:
            return list(self._items)

    @property
    def nbytes(self) -> int:
        """Bytes accounted to the values held now (as measured when stored or last trimmed)."""
        return self._total

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)


def shared_byte_lru(budget: Callable[[], int]) -> Callable[[], ByteLRU]:
    """A getter of one process-wide :class:`ByteLRU`, created on first use with ``budget()`` bytes
    (the budget is read once, when the cache is made)."""
    held: list[ByteLRU] = []
    lock = threading.Lock()

    def get() -> ByteLRU:
        with lock:
            if not held:
                held.append(ByteLRU(budget()))
            return held[0]

    return get


def _result_budget() -> int:
    return settings.result_cache_bytes()


#: The process-wide cache of analysis results (budget: ``settings.result_cache_bytes()``, read once).
result_cache = shared_byte_lru(_result_budget)
