"""Errors raised for problems with the user's input."""
from __future__ import annotations

__all__ = ["InputError"]


class InputError(ValueError):
    """An input the user gave cannot be analysed.

    The message is a sentence a clinician understands (what is wrong and what to
    give instead); it never contains patient identifiers.
    """
