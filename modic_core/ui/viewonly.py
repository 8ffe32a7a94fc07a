"""View-only studies: an upload that holds one series is shown with its detected levels, never graded.

Modic grading compares T1 and T2 of one examination; with one series the dashboard still shows
the images and the detector's named regions (:meth:`StudyDetections.filter`). The series is
wrapped in a :class:`~modic_core.volume.Study` whose T2 is the same volume, flagged so that
:func:`modic_core.ui.runtime.analyse` refuses it.
"""
from __future__ import annotations

from typing import Any

from modic_core.export.labels import series_label
from modic_core.io import SeriesInfo, load_series
from modic_core.volume import Study, Volume

__all__ = ["VIEW_ONLY_REASON", "is_view_only", "load_single", "single_series_study"]

_FLAG = "_ui_view_only"

VIEW_ONLY_REASON = ("View only: this upload holds one series ({label}). The images and the detected levels are shown, "
                    "but no Modic grade is given, because grading needs a sagittal T1 and a sagittal T2 of the same "
                    "examination. Upload both series (for example both folders in one zip) to grade.")


def single_series_study(volume: Volume, *, label: str = "") -> Study:
    """A Study of one series (its T2 is the same volume), flagged view-only."""
    study = Study(t1=volume, t2=volume, sources={"t1": label or "single series"})
    object.__setattr__(study, _FLAG, True)
    return study


def is_view_only(study: Any) -> bool:
    """True for a study made by :func:`single_series_study`."""
    return bool(getattr(study, _FLAG, False))


def load_single(source: Any, info: SeriesInfo) -> Study:
    """Load the one series of an upload as a view-only study."""
    volume = load_series(source, series=info.key)
    label = series_label(role=info.sequence, n_slices=volume.shape[0], kind=info.kind, description=info.description)
    if info.kind != "dicom":
        volume = volume.with_array(volume.array, series_description=label)
    return single_series_study(volume, label=label)
