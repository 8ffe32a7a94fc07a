"""Streamlit glue shared by the pages: cached demo studies, the per-session analysis store,
and the sidebar settings. (The only helper module that needs a running Streamlit script.)

- The analysis backend comes from :func:`modic_core.ui.backend.get_backend` (the shipped
  pipeline unless a test or deployment installed another one); its models load once per process.
- Each browser session keeps its own :class:`~modic_core.ui.session.AnalysisStore` in
  ``st.session_state``, bounded in bytes (``settings.session_cache_bytes()``): one analysis per
  study, so a threshold change never reruns a network and a normalization switch reruns only
  the classifier. Sessions never share report objects; computed results are shared read-only
  through the process cache (:func:`modic_core.analysis.cache.result_cache`).
- Analyses that must compute share the process's analysis slots
  (``MODIC_MAX_CONCURRENT_ANALYSES``, :mod:`modic_core.analysis.slots`); a session that has to wait
  sees :func:`wait_message` in a status box (:func:`waiting_notice`) instead of a frozen page, and
  a report from held results never waits.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import streamlit as st

from modic_core import settings
import hashlib

from modic_core.analysis.cache import shared_byte_lru, study_fingerprint
from modic_core.analysis.sets import with_coverage
from modic_core.analysis.slots import notify_waiting
from modic_core.errors import InputError
from modic_core.export.display import heat_patches, series_payload
from modic_core.io.tempdirs import sweep_once
from modic_core.ui.backend import get_backend
from modic_core.ui.session import AnalysisStore, models_status
from modic_core.analysis.analyze import naming_warning
from modic_core.classification.conformal import COVERAGE_CHOICES
from modic_core.datasets.demo import load_demo
from modic_core.ui.viewonly import is_view_only

__all__ = [
    "COVERAGE_KEY",
    "NORMALIZATION_KEY",
    "THRESHOLD_KEY",
    "analyse",
    "cached_demo_study",
    "coverage_choices",
    "current_coverage",
    "current_settings",
    "detect_only",
    "detect_only_warning",
    "detector_ready",
    "fingerprint_of",
    "level_heat",
    "series_codes",
    "get_store",
    "models_ready",
    "process_setup",
    "wait_message",
    "waiting_notice",
]

NORMALIZATION_KEY = "normalization"
THRESHOLD_KEY = "threshold"
COVERAGE_KEY = "coverage"
_STORE_KEY = "_modic_analysis_store"


def process_setup() -> None:
    """Once per server process, when the app starts: remove the temporary folders (uploads, viewer
    files) that killed processes left behind (:func:`modic_core.io.tempdirs.sweep_once`, which
    itself runs once per process; no Streamlit cache, so a test can reset it)."""
    sweep_once()


@st.cache_resource(show_spinner="Loading the demo case…", max_entries=8)
def cached_demo_study(name: str):
    """A bundled demo case as a Study, loaded once per process (read-only, shared)."""
    return load_demo(name)


def current_settings() -> tuple[str, float]:
    """(normalization, threshold) chosen in the sidebar."""
    min_thr = get_backend().min_threshold
    norm = st.session_state.get(NORMALIZATION_KEY) or settings.default_normalization()
    thr = float(st.session_state.get(THRESHOLD_KEY) or settings.default_threshold())
    return str(norm), max(thr, min_thr)


def coverage_choices() -> list[float]:
    """The sidebar's prediction-set coverages: :data:`~modic_core.classification.conformal.COVERAGE_CHOICES`
    plus the settings' default (``MODIC_COVERAGE``) when it is not one of them, ascending."""
    return sorted({float(c) for c in COVERAGE_CHOICES} | {settings.default_coverage()})


def current_coverage() -> float:
    """The prediction-set coverage chosen in the sidebar (the settings' default before the sidebar ran)."""
    value = st.session_state.get(COVERAGE_KEY)
    return settings.default_coverage() if value is None else settings.check_coverage(value)


def models_ready(normalization: str) -> tuple[bool, str]:
    """Whether detector and this method's classifier are installed, and a sentence when not."""
    status = models_status(get_backend())
    if not status["detector"]:
        return False, ("The model has not been trained yet: no detector weights are installed (weights/detector.pt). "
                       "The images can still be viewed.")
    if not status["classifiers"].get(normalization):
        trained = [m for m, ok in status["classifiers"].items() if ok]
        hint = f" Trained methods: {', '.join(trained)}." if trained else ""
        return False, (f"No classifier has been trained yet for the normalization '{normalization}'. "
                       f"Choose another method in the sidebar.{hint}")
    return True, ""


def detector_ready() -> bool:
    """Whether detector weights are installed (enough to mark the levels of a view-only study)."""
    return bool(models_status(get_backend())["detector"])


def get_store() -> AnalysisStore:
    """This browser session's analysis store (created on first use, and anew if the backend changed)."""
    make = get_backend().make_analysis
    store = st.session_state.get(_STORE_KEY)
    if store is None or store.factory is not make:
        store = AnalysisStore(make, max_bytes=settings.session_cache_bytes())
        st.session_state[_STORE_KEY] = store
    return store


def wait_message(ahead: int) -> str:
    """What a session waiting for an analysis slot reads (``ahead``: analyses to finish first)."""
    return f"Waiting for another analysis to finish ({ahead} ahead)…"


@contextmanager
def waiting_notice() -> Iterator[None]:
    """Within the block, an analysis that waits for a slot shows an ``st.status`` with
    :func:`wait_message` (kept current while it waits); once it starts, the box says how long it
    waited and folds up. Nothing is shown when a slot is free at once."""
    shown: dict[str, Any] = {}

    def on_wait(ahead: int) -> None:
        box = shown.get("box")
        if ahead == 0:
            if box is not None:
                waited = time.perf_counter() - shown["t0"]
                box.update(label=f"Waited {waited:.0f} s for other analyses to finish; analysing now.",
                           state="complete", expanded=False)
        elif box is None:
            shown["t0"] = time.perf_counter()
            shown["box"] = st.status(wait_message(ahead), state="running", expanded=False)
        else:
            box.update(label=wait_message(ahead))  # also where Streamlit stops a script whose user moved on

    with notify_waiting(on_wait):
        yield


def analyse(study, normalization: str, threshold: float, *, fingerprint: str | None = None, gradcam: bool = True):
    """The study's report for these settings, from this session's cached analysis, its prediction sets at the
    sidebar's coverage (:func:`current_coverage`).

    Refuses a view-only study (one series shown as both T1 and T2): grading needs a real pair."""
    if is_view_only(study):
        raise InputError("This upload holds one series only: it can be viewed, but Modic grading needs a sagittal "
                         "T1 and a sagittal T2 of the same examination.")
    backend = get_backend()
    if backend.warning:  # the active model version could not be used: the grades are the shipped model's
        st.warning(backend.warning)
    with st.spinner("Loading the models…"):  # shown only if it takes over half a second (the first time)
        backend.prepare(normalization)
    store = get_store()
    with waiting_notice():
        report = store.get(fingerprint or fingerprint_of(study), study).report(normalization, threshold, gradcam=gradcam)
    store.trim()  # the analysis may have grown by this method's results
    return with_coverage(report, current_coverage())  # the sidebar's coverage: sets from the stored p-values


def detect_only(study, threshold: float, *, fingerprint: str | None = None) -> list:
    """The detector's named regions of the study's T1 at ``threshold`` (no classifier runs): the
    levels of a view-only study. Each has ``box``, ``score``, ``z_range`` and ``level``."""
    analysis = get_store().get(fingerprint or fingerprint_of(study), study)
    with waiting_notice():
        return list(analysis.detections().filter(threshold))


def detect_only_warning(study, *, fingerprint: str | None = None) -> str | None:
    """The "level naming uncertain" sentence for a view-only study's levels, or None when the names are anchored."""
    naming = get_store().get(fingerprint or fingerprint_of(study), study).detections().naming()
    return naming_warning(naming) if naming.uncertain else None


#: The process-wide, byte-bounded cache of encoded pictures (``settings.display_cache_bytes()``).
_display_cache = shared_byte_lru(settings.display_cache_bytes)


def series_codes(key: tuple, _array) -> dict:
    """:func:`~modic_core.export.display.series_payload` of one (z, y, x) series, encoded once.

    ``key`` names the series' voxels (study fingerprint, which series, how T2 was placed); the
    size budget is part of the cache key."""
    budget = settings.viewer_series_bytes()
    cache = _display_cache()
    full = ("series", *key, budget)
    got = cache.get(full)
    if got is None:
        got = series_payload(_array, max_bytes=budget)
        cache.put(full, got, nbytes=len(got["data"]) + 256)
    return got


def _heat_digest(lv) -> str:
    """A digest of a level's Grad-CAM patches (positions and values): the key of its encoded patches."""
    h = hashlib.blake2b(digest_size=16)
    for p in getattr(getattr(lv, "gradcam", None), "patches", ()) or ():
        h.update(f"{p.z}:{p.row0}:{p.col0}:{p.values.shape}:{p.values.dtype}".encode())
        h.update(p.values.tobytes())
    return h.hexdigest()


def level_heat(levels) -> list:
    """Per level, its Grad-CAM patches as PNGs (:func:`~modic_core.export.display.heat_patches`),
    encoded once per map (keyed on a digest of the map itself), so a threshold change re-encodes nothing."""
    cache = _display_cache()
    out = []
    for lv in levels:
        key = ("heat", _heat_digest(lv))
        got = cache.get(key)
        if got is None:
            got = heat_patches([lv])[0]
            cache.put(key, got, nbytes=sum(len(p["uri"]) for p in got) + 64)
        out.append(got)
    return out


def placed_study(study, *, fingerprint: str | None = None):
    """The study as analysed: its T2 where the alignment check placed it (for display and exports)."""
    analysis = get_store().get(fingerprint or fingerprint_of(study), study)
    placed = getattr(analysis, "placed_study", None)
    return placed() if callable(placed) else study


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
