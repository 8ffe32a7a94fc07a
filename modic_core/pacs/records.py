"""What a DICOMweb archive answers, as typed records (strings made plain; no pixels).

These records hold what a PACS browser shows (patient ID and name, dates, accession number): the
dashboard shows them to signed-in users only; they are never written to logs, file names or stores.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from modic_core.volume import Study

__all__ = ["PairProposal", "RetrievedPair", "SeriesHit", "SrHit", "StudyHit"]


@dataclass(frozen=True)
class StudyHit:
    """One study found by QIDO-RS. ``modalities``: e.g. ``("MR", "SR")``; ``n_series``: None when the
    archive does not say."""

    study_uid: str
    patient_id: str
    patient_name: str
    study_date: date | None
    accession: str
    modalities: tuple[str, ...]
    description: str
    n_series: int | None


@dataclass(frozen=True)
class SeriesHit:
    """One series of a study. ``plane``: 'sagittal', 'axial', 'coronal' or None (unknown, e.g. no
    ImageOrientationPatient); ``sequence``: 'T1', 'T2' or None, guessed like uploads (description, then
    TR/TE); ``number``: SeriesNumber or None; ``n_instances``: None when the archive does not say."""

    series_uid: str
    number: int | None
    description: str
    modality: str
    plane: str | None
    n_instances: int | None
    sequence: str | None


@dataclass(frozen=True)
class PairProposal:
    """The T1 and T2 series proposed for grading, why, and whether both were recognised with certainty
    (sagittal, T1 and T2): when not ``confident`` the user should check them."""

    t1: SeriesHit
    t2: SeriesHit
    reason: str
    confident: bool


@dataclass(frozen=True)
class SrHit:
    """One DICOM SR this app wrote, found in the archive (``content_datetime``: when the report was made)."""

    study_uid: str
    series_uid: str
    sop_uid: str
    study_date: date | None
    content_datetime: datetime | None


@dataclass(frozen=True)
class RetrievedPair:
    """A retrieved T1/T2 pair: the paired :class:`Study` and the pydicom headers (no pixels) of each
    series' images, which the DICOM SR references as evidence (:func:`modic_core.export.dicom_sr.dicom_sr_bytes`)."""

    study: Study
    t1_headers: tuple[Any, ...]
    t2_headers: tuple[Any, ...]
