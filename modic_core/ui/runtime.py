"""Streamlit glue shared by the pages: cached models and demo studies, the per-session analysis store,
and the sidebar settings. (The only helper module that needs a running Streamlit script.)

- Models load once per process (``st.cache_resource``), on top of the loaders' own caches.
- Each browser session keeps its own :class:`~modic_core.ui.session.AnalysisStore` in
  ``st.session_state``: one ``StudyAnalysis`` per study, so a threshold change never reruns a
  network and a normalization switch reruns only the classifier. Sessions never share
  results objects, so two users analysing different studies each get their own.
"""
from __future__ import annotations

from typing import Any

import streamlit as st

from modic_core.errors import InputError
from modic_core.ui.session import AnalysisStore, analysis_backend, models_status, study_fingerprint

__all__ = [
    "NORMALIZATION_KEY",
    "THRESHOLD_KEY",
    "analyse",
    "cached_demo_study",
    "cached_detector",
    "cached_classifier",
    "current_settings",
    "get_store",
    "models_ready",
]

NORMALIZATION_KEY = "normalization"
THRESHOLD_KEY = "threshold"
_STORE_KEY = "_modic_analysis_store"


@st.cache_resource(show_spinner="Loading the detector…")
def cached_detector():
    """The shipped detector, loaded once per process."""
    from modic_core.detection import load_detector

    return load_detector()


@st.cache_resource(show_spinner="Loading the classifier…")
def cached_classifier(normalization: str):
    """The classifier of one normalization method, loaded once per process."""
    from modic_core.classification import load_classifier

    return load_classifier(normalization)


@st.cache_resource(show_spinner="Loading the demo case…", max_entries=8)
def cached_demo_study(name: str):
    """A bundled demo case as a Study, loaded once per process (read-only, shared)."""
    from modic_core.datasets.demo import load_demo

    return load_demo(name)


def current_settings() -> tuple[str, float]:
    """(normalization, threshold) chosen in the sidebar."""
    _, min_thr = analysis_backend()
    norm = st.session_state.get(NORMALIZATION_KEY) or "zscore"
    thr = float(st.session_state.get(THRESHOLD_KEY) or 0.5)
    return str(norm), max(thr, min_thr)


def models_ready(normalization: str) -> tuple[bool, str]:
    """Whether detector and this method's classifier are installed, and a sentence when not."""
    cls, _ = analysis_backend()
    if cls is None:
        return False, "The analysis module is not installed yet, so no model can run. The images can still be viewed."
    status = models_status()
    if not status["detector"]:
        return False, ("The model has not been trained yet: no detector weights are installed (weights/detector.pt). "
                       "The images can still be viewed.")
    if not status["classifiers"].get(normalization):
        trained = [m for m, ok in status["classifiers"].items() if ok]
        hint = f" Trained methods: {', '.join(trained)}." if trained else ""
        return False, (f"No classifier has been trained yet for the normalization '{normalization}'. "
                       f"Choose another method in the sidebar.{hint}")
    return True, ""


def get_store() -> AnalysisStore:
    """This browser session's analysis store (created on first use)."""
    cls, _ = analysis_backend()
    store = st.session_state.get(_STORE_KEY)
    if store is None or getattr(store, "backend", None) is not cls:
        def factory(study, _cls=cls):
            if _cls is None:
                raise InputError("The analysis module is not installed yet.")
            if getattr(_cls, "__module__", "") == "modic_core.analysis.analyze":
                return _cls(study, detector=cached_detector())
            return _cls(study)

        store = AnalysisStore(factory, max_studies=3)
        store.backend = cls  # type: ignore[attr-defined]
        st.session_state[_STORE_KEY] = store
    return store


def analyse(study, normalization: str, threshold: float, *, fingerprint: str | None = None, gradcam: bool = True):
    """The study's report for these settings, from this session's cached analysis."""
    fp = fingerprint or study_fingerprint(study)
    cls, _ = analysis_backend()
    if getattr(cls, "__module__", "") == "modic_core.analysis.analyze":
        cached_classifier(normalization)  # load once per process, with a visible spinner the first time
    analysis = get_store().get(fp, study)
    return analysis.report(normalization, threshold, gradcam=gradcam)


def fingerprint_of(study) -> str:
    """Fingerprint cached on the study object (computed once per study object)."""
    fp = getattr(study, "_ui_fingerprint", None)
    if fp is None:
        fp = study_fingerprint(study)
        try:
            study._ui_fingerprint = fp
        except AttributeError:  # pragma: no cover
            pass
    return fp


def remember(key: str, value: Any) -> Any:
    st.session_state[key] = value
    return value
