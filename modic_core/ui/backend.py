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

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

from modic_core.analysis.analyze import StudyAnalysis, MIN_THRESHOLD, models_available
from modic_core.analysis.cache import result_cache
from modic_core.classification import load_classifier
from modic_core.detection import load_detector
from modic_core.labels.active import SHIPPED, model_in_use
from modic_core.ui.labelstore import label_store

__all__ = ["Analysis", "AnalysisBackend", "backend_for", "default_backend", "get_backend", "set_backend_factory"]


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
        weights_dir: the folder the models load from (None: not a folder, e.g. a test double).
        version: the model version's name shown in the app (:data:`~modic_core.labels.active.SHIPPED`).
        warning: one sentence the app shows when the active version could not be used (else "").
    """

    make_analysis: Callable[..., Analysis]
    models_available: Callable[[], dict[str, bool]]
    min_threshold: float
    prepare: Callable[[str], None] = lambda normalization: None
    weights_dir: str | None = None
    version: str = SHIPPED
    warning: str = ""


@functools.lru_cache(maxsize=4)
def _pipeline(weights_dir: str) -> AnalysisBackend:
    """One backend object per weights folder: its ``make_analysis`` is the same function while the folder is,
    so the session's analysis store (which is rebuilt when that function changes) never serves another
    folder's results; the process result cache is keyed on the weights' sha256."""
    detector_path = Path(weights_dir) / "detector.pt"

    def make_analysis(study, fingerprint: str | None = None):
        return StudyAnalysis(study, detector=load_detector(detector_path), cache=result_cache(), fingerprint=fingerprint,
                             weights_dir=weights_dir)

    def prepare(normalization: str) -> None:
        load_detector(detector_path)
        load_classifier(normalization, weights_dir=weights_dir)

    return AnalysisBackend(make_analysis=make_analysis, models_available=functools.partial(models_available, weights_dir),
                           min_threshold=MIN_THRESHOLD, prepare=prepare, weights_dir=weights_dir)


def backend_for(weights_dir: str | Path, *, version: str = SHIPPED, warning: str = "") -> AnalysisBackend:
    """The shipped pipeline with its detector and classifiers from ``weights_dir``, results in the process cache,
    labelled with the model ``version`` (and the ``warning`` to show, if any)."""
    base = _pipeline(str(Path(weights_dir).resolve()))
    if base.version == version and base.warning == warning:
        return base
    return dataclasses.replace(base, version=version, warning=warning)


def default_backend() -> AnalysisBackend:
    """The app's pipeline: models from the label store's active version (:func:`modic_core.labels.active.model_in_use`:
    its weights folder, else the shipped ``settings.weights_dir()``), read at each call so that an admin's
    switch takes effect at the next rerun of every session."""
    use = model_in_use(label_store())
    return backend_for(use.weights_dir, version=use.name, warning=use.warning)


_factory: Callable[[], AnalysisBackend] = default_backend


def set_backend_factory(factory: Callable[[], AnalysisBackend] | None) -> None:
    """Install ``factory`` (called at each use) as the dashboard's backend; None restores the default."""
    global _factory
    _factory = factory or default_backend


def get_backend() -> AnalysisBackend:
    """The backend in force now."""
    return _factory()
