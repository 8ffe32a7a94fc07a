"""Pairing a T1 and a T2 series into one :class:`~modic_core.volume.Study` on the T1 grid."""
from __future__ import annotations

from modic_core.pairing.study import load_study, make_study, resample_to

__all__ = ["load_study", "make_study", "resample_to"]
