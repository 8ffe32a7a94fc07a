"""Running one decoding step in a child process that is killed at a deadline.

A compressed frame is decoded by a C codec (OpenJPEG, libjpeg) in one call that Python cannot
interrupt: a large frame within the size limits (e.g. 4096 x 4096 lossless JPEG 2000) can take
longer than the parse deadline by itself, and a multi-frame file makes hundreds of such calls inside
highdicom. The reader
therefore decodes compressed series through :func:`call_with_deadline`: the work runs in a
forked child (which inherits the loaded modules, so it starts in milliseconds), its result
comes back through a pipe (numpy buffers out of band, without a pickled copy), and the parent
kills the child when the deadline passes and raises the caller's time-limit error.

Where ``fork`` is not available (Windows) the call runs in this process, bounded only by the
size limits.
"""
from __future__ import annotations

import multiprocessing
import os
import pickle
import time
from collections.abc import Callable
from typing import Any

__all__ = ["call_with_deadline"]


def call_with_deadline(fn: Callable[..., Any], *args: Any, deadline: float, on_timeout: Callable[[], Exception]) -> Any:
    """``fn(*args)`` in a forked child; its result, or the exception it raised, is returned or
    re-raised here. ``on_timeout()`` is raised once ``deadline`` (``time.monotonic()``) passes
    with the child still working (the child is killed). A child that dies without an answer
    (killed for memory, a crash in a codec) raises ``RuntimeError``."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return fn(*args)
    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(sender, fn, args))  # not daemonic: allowed inside pool workers
    child.start()
    sender.close()
    try:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not receiver.poll(remaining):
            raise on_timeout()
        try:
            head, sizes = receiver.recv()
            buffers = []
            for size in sizes:
                buf = bytearray(size)
                receiver.recv_bytes_into(buf)
                buffers.append(buf)
        except (EOFError, OSError) as exc:
            raise RuntimeError("the decoding process ended without an answer") from exc
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receiver.close()
    ok, value = pickle.loads(head, buffers=buffers)
    if ok:
        return value
    raise value


def _child(sender: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        try:
            result = (True, fn(*args))
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
            result = (False, exc)
        buffers: list[pickle.PickleBuffer] = []
        try:
            head = pickle.dumps(result, protocol=5, buffer_callback=buffers.append)
        except Exception as exc:  # an unpicklable exception: send its text
            buffers = []
            head = pickle.dumps((False, RuntimeError(f"{type(exc).__name__}: {exc}")), protocol=5)
        views = [b.raw() for b in buffers]
        sender.send((head, [v.nbytes for v in views]))
        for view in views:
            sender.send_bytes(view)
        sender.close()
    finally:
        os._exit(0)  # skip the parent's atexit handlers and finalizers
