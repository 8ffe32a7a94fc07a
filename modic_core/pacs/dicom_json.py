"""Reading values out of DICOM JSON (PS3.18 F.2) answers, which may come from a hostile archive.

Every reader returns a plain value or None: a missing tag, a wrong type or an odd structure never raises
(the caller decides whether the value is required).
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from modic_core.text import plain_text

__all__ = ["dt", "first", "floats", "integer", "text", "texts", "uid", "yyyymmdd"]

TAGS = {
    "StudyInstanceUID": "0020000D", "SeriesInstanceUID": "0020000E", "SOPInstanceUID": "00080018",
    "PatientID": "00100020", "PatientName": "00100010", "StudyDate": "00080020", "AccessionNumber": "00080050",
    "ModalitiesInStudy": "00080061", "StudyDescription": "00081030", "NumberOfStudyRelatedSeries": "00201206",
    "SeriesNumber": "00200011", "SeriesDescription": "0008103E", "Modality": "00080060",
    "NumberOfSeriesRelatedInstances": "00201209", "ImageOrientationPatient": "00200037",
    "RepetitionTime": "00180080", "EchoTime": "00180081", "InversionTime": "00180082",
    "ScanningSequence": "00180020", "ContentDate": "00080023", "ContentTime": "00080033",
    "Manufacturer": "00080070",
}
_UID_CHARS = set("0123456789.")


def _values(item: Any, keyword: str) -> list[Any]:
    if not isinstance(item, dict):
        return []
    element = item.get(TAGS[keyword])
    if not isinstance(element, dict):
        return []
    values = element.get("Value")
    return values if isinstance(values, list) else []


def first(item: Any, keyword: str) -> Any:
    """The first value of ``keyword`` in ``item`` (a DICOM JSON dataset), or None."""
    values = _values(item, keyword)
    return values[0] if values else None


def text(item: Any, keyword: str, *, limit: int = 64) -> str:
    """The first value as one line of plain text ('' when missing); person names use their Alphabetic form."""
    value = first(item, keyword)
    if isinstance(value, dict):
        value = value.get("Alphabetic")
    if value is None or isinstance(value, (dict, list)):
        return ""
    return plain_text(value, limit=limit)


def texts(item: Any, keyword: str, *, limit: int = 16) -> tuple[str, ...]:
    """All values as plain texts (strings and numbers only)."""
    return tuple(plain_text(v, limit=limit) for v in _values(item, keyword) if isinstance(v, (str, int, float)))


def uid(item: Any, keyword: str) -> str | None:
    """A UID value when it is one (digits and dots, at most 64 characters), else None."""
    value = first(item, keyword)
    if isinstance(value, str) and 0 < len(value) <= 64 and set(value) <= _UID_CHARS:
        return value
    return None


def integer(item: Any, keyword: str) -> int | None:
    value = first(item, keyword)
    try:
        return int(value) if value is not None and not isinstance(value, (dict, list, bool)) else None
    except (TypeError, ValueError):
        return None


def floats(item: Any, keyword: str) -> list[float] | None:
    out = []
    for v in _values(item, keyword):
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            return None
    return out or None


def yyyymmdd(value: Any) -> date | None:
    """A DICOM DA value (``YYYYMMDD``) as a date, else None."""
    if not isinstance(value, str) or len(value.strip()) < 8:
        return None
    try:
        return datetime.strptime(value.strip()[:8], "%Y%m%d").date()
    except ValueError:
        return None


def dt(date_value: Any, time_value: Any) -> datetime | None:
    """DICOM DA + TM as a datetime (seconds kept, fractions dropped), else None."""
    day = yyyymmdd(date_value)
    if day is None:
        return None
    digits = "".join(ch for ch in str(time_value or "").split(".")[0] if ch.isdigit())[:6].ljust(6, "0")
    try:
        return datetime.strptime(day.strftime("%Y%m%d") + digits, "%Y%m%d%H%M%S")
    except ValueError:
        return datetime(day.year, day.month, day.day)
