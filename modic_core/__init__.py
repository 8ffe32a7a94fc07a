"""modic_core: detection and classification of Modic changes in paired sagittal T1/T2 lumbar MRI.

Axis order is (z, y, x) = (slice, row, column) throughout; physical units are mm (LPS).
"""
from __future__ import annotations

from .errors import InputError
from .volume import Study, Volume, VolumeMeta
from .study import load_study, make_study

__all__ = ["InputError", "Study", "Volume", "VolumeMeta", "load_study", "make_study"]

try:  # filled in as the modules land
    from .normalization import NORMALIZATIONS, normalize  # noqa: F401

    __all__ += ["NORMALIZATIONS", "normalize"]
except ImportError:  # pragma: no cover
    pass
