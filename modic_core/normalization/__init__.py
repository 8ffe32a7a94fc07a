"""Intensity normalization methods: a name -> method registry (:data:`NORMALIZATIONS`).

Arrays are (z, y, x); every method maps a :class:`~modic_core.volume.Volume` to a float32 volume.
"""
from __future__ import annotations

from modic_core.normalization.methods import *  # noqa: F401,F403
from modic_core.normalization.methods import __all__  # noqa: F401
