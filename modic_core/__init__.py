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

# ``modic_core.analyze`` is the module ``modic_core/analyze.py``, made callable:
# ``modic_core.analyze(study, normalization="zscore", threshold=0.5) -> StudyReport``.
# It is imported lazily so that ``python -m modic_core.analyze`` runs it cleanly.
from .report import LevelResult, StudyReport  # noqa: E402

__all__ += ["StudyAnalysis", "analyze", "LevelResult", "StudyReport"]


def __getattr__(name: str):
    if name in ("analyze", "StudyAnalysis"):
        import importlib

        mod = importlib.import_module(".analyze", __name__)
        return mod if name == "analyze" else mod.StudyAnalysis
    raise AttributeError(f"module 'modic_core' has no attribute {name!r}")
