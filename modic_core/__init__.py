"""modic_core: detection and classification of Modic changes in paired sagittal T1/T2 lumbar MRI.

Axis order is (z, y, x) = (slice, row, column) throughout; physical units are mm (LPS).

Data flow (one package per step): ``io`` (series readers, uploads) -> ``pairing`` (T1/T2 study)
-> ``normalization`` -> ``detection`` / ``classification`` -> ``analysis`` (report, caches) ->
``export`` (CSV, PDF, DICOM SR); ``evaluation``, ``datasets``, ``batch``, ``bench`` and ``ui``
(Streamlit) sit on top; ``train`` is never imported at run time.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any
import importlib

from modic_core.errors import InputError
from modic_core.pairing.study import load_study, make_study
from modic_core.volume import Study, Volume, VolumeMeta

if TYPE_CHECKING:  # pragma: no cover
    from modic_core.analysis.analyze import StudyAnalysis, analyze
    from modic_core.analysis.report import LevelResult, StudyReport
    from modic_core.normalization import NORMALIZATIONS, normalize

__all__ = ["InputError", "LevelResult", "NORMALIZATIONS", "Study", "StudyAnalysis", "StudyReport", "Volume",
           "VolumeMeta", "analyze", "load_study", "make_study", "normalize"]

# Heavier parts (torch models, reports) load on first use: ``from modic_core import analyze``.
_LAZY = {
    "analyze": "modic_core.analysis.analyze",
    "StudyAnalysis": "modic_core.analysis.analyze",
    "LevelResult": "modic_core.analysis.report",
    "StudyReport": "modic_core.analysis.report",
    "NORMALIZATIONS": "modic_core.normalization",
    "normalize": "modic_core.normalization",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'modic_core' has no attribute {name!r}")
