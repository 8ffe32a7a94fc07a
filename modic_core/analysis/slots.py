"""A bound on the analyses that compute at once in one process, and a queue for the others.

One analysis of a maximum-size pair (64 Mi voxels per series) peaks at about 3 GB and uses every
core torch is given, so a server that lets every session compute at once runs out of memory,
and gains no speed. :func:`analysis_slot` admits at most ``settings.max_concurrent_analyses()``
holders per process (a :class:`threading.BoundedSemaphore`); the others wait in arrival order.

Who takes a slot: :class:`~modic_core.analysis.analyze.StudyAnalysis` takes one only when it must
compute (detection, the T1/T2 alignment check, a method's classification), never for a result it
or the process cache already holds, so a threshold change or a cached method never waits. The
dashboard, the CLI, :func:`~modic_core.analysis.analyze.analyze` and the local batch mode are all
bounded this way; each Ray actor is its own process with its own slots.

Waiting callers are told: inside :func:`notify_waiting`, ``callback(ahead)`` is called when all
slots are busy and then every ``poll_s`` while waiting, with ``ahead`` = the analyses that must
finish before this one starts (1 for the first in the queue), and ``callback(0)`` once when it got
its slot after waiting. A caller that gets a slot at once is not called. An exception from the
callback (Streamlit stopping the script of a user who moved on) leaves the queue cleanly.

Slots are reentrant per thread: a holder that calls another slot-taking step does not wait again.
"""
from __future__ import annotations

import contextvars
import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from modic_core import settings

__all__ = ["AnalysisSlots", "SlotStats", "analysis_slot", "notify_waiting", "process_slots"]

WaitCallback = Callable[[int], None]

_on_wait: contextvars.ContextVar[WaitCallback | None] = contextvars.ContextVar("modic_on_wait", default=None)


@dataclass(frozen=True)
class SlotStats:
    """A snapshot: ``limit`` slots, ``running`` held now, ``waiting`` callers queued."""

    limit: int
    running: int
    waiting: int


class AnalysisSlots:
    """At most ``limit`` holders at once; the others wait, first come, first served (a newcomer
    never overtakes a waiting caller, and only the head of the queue takes a freed slot).

    Args:
        limit: concurrent holders, >= 1.
        poll_s: seconds between two ``on_wait`` calls of a waiting caller (its queue position is
            refreshed then).
    """

    def __init__(self, limit: int, *, poll_s: float = 0.5) -> None:
        if int(limit) < 1:
            raise ValueError(f"limit must be at least 1, got {limit!r}")
        self.limit = int(limit)
        self.poll_s = float(poll_s)
        self._sem = threading.BoundedSemaphore(self.limit)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # the queue moved
        self._queue: list[int] = []  # tickets of the waiting callers, in arrival order
        self._tickets = itertools.count()
        self._running = 0
        self._mine = threading.local()  # per thread: how deep it holds a slot (reentrancy)

    def stats(self) -> SlotStats:
        with self._lock:
            return SlotStats(self.limit, self._running, len(self._queue))

    def _ahead(self, ticket: int) -> int:
        with self._lock:
            return self._queue.index(ticket) + 1

    @contextmanager
    def hold(self, *, on_wait: WaitCallback | None = None) -> Iterator[None]:
        """Hold one slot for the ``with`` block; waits (telling ``on_wait``) while all are busy."""
        depth = getattr(self._mine, "depth", 0)
        if depth:
            self._mine.depth = depth + 1
            try:
                yield
            finally:
                self._mine.depth -= 1
            return
        with self._lock:  # no overtaking: a newcomer queues while anyone waits
            got = not self._queue and self._sem.acquire(blocking=False)
            if not got:
                ticket = next(self._tickets)
                self._queue.append(ticket)
        if not got:
            try:
                while True:
                    if on_wait is not None:
                        on_wait(self._ahead(ticket))
                    with self._lock:
                        if self._queue[0] != ticket:  # only the head of the queue takes a freed slot
                            self._changed.wait(self.poll_s)
                            continue
                    if self._sem.acquire(timeout=self.poll_s):
                        break
            finally:
                with self._lock:
                    self._queue.remove(ticket)
                    self._changed.notify_all()
        with self._lock:
            self._running += 1
        self._mine.depth = 1
        try:
            if not got and on_wait is not None:
                on_wait(0)  # waited, and starts now (inside the try: a stop here still frees the slot)
            yield
        finally:
            self._mine.depth = 0
            with self._lock:
                self._running -= 1
            self._sem.release()


_registry: dict[int, AnalysisSlots] = {}
_registry_lock = threading.Lock()


def process_slots() -> AnalysisSlots:
    """The process-wide slots for ``settings.max_concurrent_analyses()`` (read at each call; a
    changed value applies to analyses that start afterwards)."""
    limit = settings.max_concurrent_analyses()
    with _registry_lock:
        slots = _registry.get(limit)
        if slots is None:
            slots = _registry[limit] = AnalysisSlots(limit)
        return slots


@contextmanager
def analysis_slot() -> Iterator[None]:
    """Hold one of the process's analysis slots (waiting, and telling :func:`notify_waiting`'s
    callback, while all are busy)."""
    with process_slots().hold(on_wait=_on_wait.get()):
        yield


@contextmanager
def notify_waiting(callback: WaitCallback | None) -> Iterator[None]:
    """Within the block, a slot that is busy calls ``callback(ahead)`` (this thread only)."""
    token = _on_wait.set(callback)
    try:
        yield
    finally:
        _on_wait.reset(token)
