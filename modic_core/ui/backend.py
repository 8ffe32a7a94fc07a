"""The dashboard's analysis backend, behind one seam.

The pages never build analyses themselves: :mod:`modic_core.ui.runtime` asks :func:`get_backend`
for an :class:`AnalysisBackend` (how to analyse a study, which models are installed, the lowest
threshold, how to load a method's models). By default that is the shipped pipeline
(:func:`default_backend`: :class:`~modic_core.analysis.analyze.StudyAnalysis` on the process
result cache). Another backend is installed in-process with :func:`set_backend_factory`, before
the app runs: the dashboard tests install their double this way (AppTest in the test process,
and ``tests/app/serve_fake.py``, which installs it and then starts ``streamlit run app.py``).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from modic_core.analysis.analyze import StudyAnalysis, MIN_THRESHOLD, models_available
from modic_core.analysis.cache import result_cache
from modic_core.classification import load_classifier
from modic_core.detection import load_detector

__all__ = ["Analysis", "AnalysisBackend", "default_backend", "get_backend", "set_backend_factory"]


class Analysis(Protocol):
    """What the dashboard needs of one study's analysis (``StudyAnalysis`` has it)."""

    def report(self, normalization: str, threshold: float, *, gradcam: bool = True) -> Any:
        """A :class:`~modic_core.analysis.report.StudyReport` for these settings."""


@dataclass(frozen=True)
class AnalysisBackend:
    """How the dashboard analyses studies.

    Attributes:
        make_analysis: ``make_analysis(study, fingerprint=None) -> Analysis``; called once per study
            and session (the session store keeps the result).
        models_available: ``() -> {"detector": bool, "<method>": bool for each normalization}``.
        min_threshold: lowest detector confidence the sidebar offers.
        prepare: ``prepare(normalization)`` loads that method's models (the runtime shows a spinner).
    """

    make_analysis: Callable[..., Analysis]
    models_available: Callable[[], dict[str, bool]]
    min_threshold: float
    prepare: Callable[[str], None] = lambda normalization: None


def _make_study_analysis(study, fingerprint: str | None = None):
    return StudyAnalysis(study, detector=load_detector(), cache=result_cache(), fingerprint=fingerprint)


def _prepare_models(normalization: str) -> None:
    load_detector()
    load_classifier(normalization)


@functools.cache
def default_backend() -> AnalysisBackend:
    """The shipped pipeline: detector + classifiers from ``settings.weights_dir()``, results in the process cache."""
    return AnalysisBackend(make_analysis=_make_study_analysis, models_available=models_available,
                           min_threshold=MIN_THRESHOLD, prepare=_prepare_models)


_factory: Callable[[], AnalysisBackend] = default_backend


def set_backend_factory(factory: Callable[[], AnalysisBackend] | None) -> None:
    """Install ``factory`` (called at each use) as the dashboard's backend; None restores the default."""
    global _factory
    _factory = factory or default_backend


def get_backend() -> AnalysisBackend:
    """The backend in force now."""
    return _factory()
