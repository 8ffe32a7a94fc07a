"""argparse types shared by the command-line tools (batch, evaluation, analysis).

Each type turns a bad value into a one-line usage message and exit status 2 (argparse), never a
traceback; numbers are bounded so that no argument can ask for unbounded memory or time.
"""
from __future__ import annotations

import argparse
import math

from modic_core import settings
from modic_core.anatomy import LEVEL_NAMES

__all__ = ["batch_size", "coverage", "n_boot", "positive_int", "seed", "shift_levels", "stall_timeout", "threshold"]


def threshold(text: str) -> float:
    """A detector confidence threshold: a finite number in [MIN_THRESHOLD, 1).

    Use as ``ap.add_argument("--threshold", type=threshold)``; argparse turns the error into a
    one-line usage message and exit status 2 (no traceback). Rejects ``nan``, ``inf``, text.
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; give a threshold such as 0.5") from None
    if not math.isfinite(value) or not settings.MIN_THRESHOLD <= value < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is outside [{settings.MIN_THRESHOLD:g}, 1); give a detector confidence threshold such as 0.5"
        )
    return value


def coverage(text: str) -> float:
    """A prediction-set coverage: a share in [MIN_COVERAGE, MAX_COVERAGE] (``--coverage 0.9``), checked by
    :func:`modic_core.settings.check_coverage`; argparse turns the sentence into a usage message (exit 2)."""
    try:
        return settings.check_coverage(text, source=f"{text!r}")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_int(text: str) -> int:
    """An integer >= 1 (e.g. ``--concurrency``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _int_in(text: str, lo: int, hi: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; give {what}") from None
    if not lo <= value <= hi:
        raise argparse.ArgumentTypeError(f"{text!r} is outside {lo} to {hi}; give {what}")
    return value


def n_boot(text: str) -> int:
    """Bootstrap resamples: 1 to :data:`~modic_core.settings.MAX_N_BOOT` (memory grows with it)."""
    return _int_in(text, 1, settings.MAX_N_BOOT, "a number of bootstrap resamples such as 1000")


def batch_size(text: str) -> int:
    """Studies per network pass: 1 to :data:`~modic_core.settings.MAX_BATCH_SIZE` (held in memory together)."""
    return _int_in(text, 1, settings.MAX_BATCH_SIZE, "a number of studies per network pass such as 8")


def seed(text: str) -> int:
    """A random seed: 0 to 2**32 - 1."""
    return _int_in(text, 0, 2**32 - 1, "a seed such as 0")


def shift_levels(text: str) -> int:
    """A shift of level names in whole levels, within the anatomy table (fewer levels than it has)."""
    most = len(LEVEL_NAMES) - 1
    return _int_in(text, -most, most, "a shift in whole levels such as 1 or -1")


def stall_timeout(text: str) -> float:
    """Seconds without progress: more than 0, at most :data:`~modic_core.settings.MAX_STALL_TIMEOUT_S`."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; give seconds such as 600") from None
    if not math.isfinite(value) or not 0 < value <= settings.MAX_STALL_TIMEOUT_S:
        raise argparse.ArgumentTypeError(f"{text!r} is outside (0, {settings.MAX_STALL_TIMEOUT_S:g}] seconds; give seconds such as 600")
    return value
