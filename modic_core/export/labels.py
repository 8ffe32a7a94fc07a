"""Neutral names for series in everything the product shows or writes.

File and folder names are patient data in practice (``DOE_JOHN_MRN4471_t1.mha``), so a series
read from an image file (MHA, NIfTI) is named by what it is -- ``"T1 series, 15 slices"`` --
never by its file name. A DICOM series keeps its SeriesDescription (the scanner protocol's
name, e.g. ``"t1_tse_sag"``), which is written by the scanner, not typed in per patient. It is
text from a file, so it is made plain (:func:`modic_core.text.plain_text`: no control, bidi or
zero-width characters, at most a DICOM LO's 64 characters) here too, whoever built the volume.
"""
from __future__ import annotations

import hashlib

from modic_core.analysis.cache import study_fingerprint
from modic_core.text import DICOM_LO_CHARS, plain_text

__all__ = ["series_label", "study_label", "volume_label"]


def series_label(*, role: str, n_slices: int, kind: str = "", description: str = "") -> str:
    """``"T1 series, 15 slices"``, or for DICOM ``"t1_tse_sag (T1 series, 15 slices)"``.

    ``role``: "T1", "T2" or a sequence guess ("unknown" gives "Image series"); ``kind``:
    "dicom" keeps ``description``, anything else drops it.
    """
    role = str(role or "").strip()
    name = f"{role} series" if role and role.lower() != "unknown" else "Image series"
    base = f"{name}, {int(n_slices)} slice{'s' if int(n_slices) != 1 else ''}"
    description = plain_text(description, limit=DICOM_LO_CHARS)
    if kind == "dicom" and description:
        return f"{description} ({base})"
    return base


def volume_label(volume, role: str) -> str:
    """:func:`series_label` of a loaded :class:`~modic_core.volume.Volume` in ``role`` ("T1"/"T2")."""
    meta = volume.meta
    return series_label(role=role, n_slices=volume.shape[0], kind=meta.source, description=meta.series_description)


def study_label(study, fingerprint: str | None = None) -> str:
    """The study's short, one-way label shown by the dashboard and written in the exports: 8 hex digits.

    The first 8 hex digits of sha256("modic-ui/" + the T1's already salted and hashed
    StudyInstanceUID) when there is one, else of sha256("modic-ui/" + the pixel fingerprint
    (:func:`~modic_core.analysis.cache.study_fingerprint`, computed when ``fingerprint`` is None)).
    Never a name or an ID from the files.
    """
    sh = getattr(study.t1.meta, "study_hash", None)
    key = str(sh) if sh else fingerprint or study_fingerprint(study)
    return hashlib.sha256(("modic-ui/" + key).encode()).hexdigest()[:8]
