"""argparse types shared by the command-line tools (batch, evaluation, analysis)."""
from __future__ import annotations

import argparse
import math

from modic_core import settings

__all__ = ["threshold", "positive_int"]


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


def positive_int(text: str) -> int:
    """An integer >= 1 (e.g. ``--batch-size``, ``--n-boot``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value
