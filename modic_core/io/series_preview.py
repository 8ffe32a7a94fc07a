"""What tells the series of an upload apart on the page: identity values and small thumbnails.

Both read the upload once more, on request, for the person who uploaded it:

- :func:`shown_identity` reads PatientAge, PatientSex and StudyDate (else SeriesDate) of DICOM series,
  so the page can say *how* two series differ ("T1: 45Y F, study of 2016-06-08; T2: 53Y F, study of
  2016-03-09"). These values are identifying when combined: they are returned for display on the
  page only, never logged, put on a report or exported (reports record only which check differed).
- :func:`thumbnails` returns the middle slice of each series as a small 8-bit picture.

Values read from tags are reduced to their DICOM form (age ``nnnD/W/M/Y``, sex ``F/M/O``, date
``YYYYMMDD``); anything else is dropped, so no free text from a file reaches the page.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from modic_core.io.dicom import quiet_pydicom, scan_dicom
from modic_core.io.images import is_image_file
from modic_core.io.sources import _entries, _opened  # the same resolution of sources as list_series
from modic_core.settings import limits

__all__ = ["ShownIdentity", "shown_identity", "thumbnails"]

_AGE = re.compile(r"\d{3}[DWMY]")
_DATE = re.compile(r"\d{8}")


@dataclass(frozen=True)
class ShownIdentity:
    """Patient age (``"045Y"``), sex (``"F"``, ``"M"``, ``"O"``) and study date (``"20160608"``) of a series;
    "" where the file does not give one. For the uploader's eyes only."""

    age: str = ""
    sex: str = ""
    study_date: str = ""

    def text(self) -> str:
        """``"45Y F, study of 2016-06-08"``; ``"no age, sex or date given"`` when all are blank."""
        who = " ".join(p for p in ((self.age.lstrip("0") or "0" + self.age[-1:]) if self.age else "", self.sex) if p)
        date = (f"study of {self.study_date[:4]}-{self.study_date[4:6]}-{self.study_date[6:]}"
                if self.study_date else "")
        return ", ".join(p for p in (who, date) if p) or "no age, sex or date given"


def _clean(value: Any, pattern: re.Pattern[str] | None = None, allowed: tuple[str, ...] = ()) -> str:
    text = str(value or "").strip().upper()
    if pattern is not None:
        return text if pattern.fullmatch(text) else ""
    return text if text in allowed else ""


def _read_shown(path) -> ShownIdentity:
    import pydicom  # lazy: pydicom is heavy; only DICOM input/output needs it

    with quiet_pydicom():
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True,
                                 specific_tags=["PatientAge", "PatientSex", "StudyDate", "SeriesDate"])
        except Exception:  # noqa: BLE001 - a damaged file shows no values
            return ShownIdentity()
    return ShownIdentity(
        age=_clean(ds.get("PatientAge"), _AGE),
        sex=_clean(ds.get("PatientSex"), allowed=("F", "M", "O")),
        study_date=_clean(ds.get("StudyDate"), _DATE) or _clean(ds.get("SeriesDate"), _DATE),
    )


def shown_identity(source: Any, keys: Sequence[str]) -> dict[str, ShownIdentity]:
    """Age, sex and study date of the DICOM series ``keys`` (``SeriesInfo.key``) of ``source``, from
    each series' first file; series that are not DICOM (or not found) get blank values."""
    out = {key: ShownIdentity() for key in keys}
    with _opened(source) as files:
        scan = scan_dicom((p for p, _ in files if not is_image_file(p)), max_series=limits().max_series)
        for key in keys:
            headers = scan.series.get(key)
            if headers:
                out[key] = _read_shown(headers[0].path)
    return out


def thumbnails(source: Any, *, size: int = 96) -> dict[str, np.ndarray]:
    """The middle slice of every series of ``source`` as uint8 (h, w), at most ``size`` pixels a side
    (every n-th pixel; windowed between the 1st and 99th percentile), keyed by ``SeriesInfo.key``.
    A series that cannot be read has no thumbnail."""
    out: dict[str, np.ndarray] = {}
    with _opened(source) as files:
        entries, _ = _entries(files)
        for entry in entries:
            try:
                volume = entry.load()
            except Exception:  # noqa: BLE001 - the picker still lists the series, without a picture
                continue
            plane = np.asarray(volume.array[volume.shape[0] // 2], dtype=np.float32)
            step = max(1, int(np.ceil(max(plane.shape) / size)))
            plane = plane[::step, ::step]
            lo, hi = np.percentile(plane, [1, 99]) if plane.size else (0.0, 1.0)
            out[entry.info.key] = np.clip((plane - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)
    return out
