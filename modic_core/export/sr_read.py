"""Read back a DICOM SR this app wrote (:mod:`modic_core.export.dicom_sr`): the grade of each level.

The reader walks the SR's content tree item by item (pydicom), so a hand-made or damaged SR with
missing items still gives what it holds: a measurement group without a level name, or one whose
grade is missing, is skipped with a note; a missing probability or prediction set is left empty.
It never raises on the tree's content, only when the bytes are not a DICOM SR at all
(:class:`~modic_core.errors.InputError`). highdicom's TID 1500 parser is not used to walk the tree
because it refuses a tree with a missing mandatory item.

What is read, per measurement group (TID 1411, "Measurement Group" DCM 125007, wherever it sits):

- the level name: the "Tracking Identifier" (DCM 112039) text, e.g. "L4-L5";
- the grade: the "Modic classification" evaluation (``99MODICCORE`` MODIC-CLASS) as
  "MC0" / "MC1" / "MC2" / "not graded";
- the probabilities P(MC0), P(MC1), P(MC2) (``99MODICCORE`` P-MC0 ..; unit "1"), when present;
- the prediction set (one "Grade in prediction set" evaluation per grade), when present.

And for the whole document: the StudyDate, the content date and time, the study and SOP
instance UIDs. Patient attributes are never read into the records; the notes name no patient data.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Mapping

from modic_core.errors import InputError
from modic_core.export.codes import PRIVATE_SCHEME

__all__ = ["SrFindings", "SrLevel", "is_modic_sr", "read_sr"]

_COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"
_SR_CLASSES = {  # the SR storage classes whose content tree this reader can walk
    _COMPREHENSIVE_3D_SR,
    "1.2.840.10008.5.1.4.1.1.88.33",  # Comprehensive SR
    "1.2.840.10008.5.1.4.1.1.88.22",  # Enhanced SR
    "1.2.840.10008.5.1.4.1.1.88.11",  # Basic Text SR
}
_MEASUREMENT_GROUP = ("125007", "DCM")
_TRACKING_IDENTIFIER = ("112039", "DCM")
_GRADES = {"MC0": "MC0", "MC1": "MC1", "MC2": "MC2", "NOTGRADED": "not graded"}  # MODIC-CLASS code value -> grade
_PROBABILITIES = {"P-MC0": "MC0", "P-MC1": "MC1", "P-MC2": "MC2"}


@dataclass(frozen=True)
class SrLevel:
    """One level of an SR: its name, grade, and (when the SR holds them) probabilities and prediction set.

    ``grade``: "MC0", "MC1", "MC2" or "not graded". ``probabilities``: class -> probability in [0, 1]
    (empty when the SR holds none, as for an ungraded level). ``prediction_set``: the grades of the
    level's conformal prediction set, in the SR's order (empty when none is written).
    """

    level: str
    grade: str
    probabilities: Mapping[str, float]
    prediction_set: tuple[str, ...] = ()


@dataclass(frozen=True)
class SrFindings:
    """What an SR says about one study: its levels (top to bottom, in the SR's order) and when.

    ``study_date``: the SR's StudyDate (the date of the study it reports on), None when missing or
    malformed. ``content_datetime``: when the SR was written (ContentDate + ContentTime), None when
    missing. ``notes``: one plain sentence per item that was skipped (no patient data).
    """

    study_uid: str
    sop_uid: str
    study_date: date | None
    content_datetime: datetime | None
    levels: tuple[SrLevel, ...]
    notes: tuple[str, ...] = ()

    def grade_of(self, level: str) -> SrLevel | None:
        """The level named ``level``, or None when the SR does not hold it."""
        return next((lv for lv in self.levels if lv.level == level), None)


def is_modic_sr(ds: Any) -> bool:
    """True when the pydicom dataset ``ds`` is an SR that declares this app's private coding scheme."""
    if str(ds.get("Modality", "")) != "SR":
        return False
    schemes = ds.get("CodingSchemeIdentificationSequence") or []
    return any(str(item.get("CodingSchemeDesignator", "")) == PRIVATE_SCHEME for item in schemes)


def read_sr(source: Any) -> SrFindings:
    """The findings of the SR ``source``: DICOM Part 10 bytes, a file path or a pydicom dataset.

    Raises:
        InputError: ``source`` is not a DICOM structured report (no content tree).
    """
    ds = _dataset(source)
    if "ContentSequence" not in ds or str(ds.get("SOPClassUID", "")) not in _SR_CLASSES:
        raise InputError("This file is not a DICOM structured report (SR); give an SR written by this app.")
    notes: list[str] = []
    levels: list[SrLevel] = []
    for n, group in enumerate(_groups(ds.ContentSequence), start=1):
        level = _read_group(group, n, notes)
        if level is not None:
            levels.append(level)
    if not levels and not notes:
        notes.append("The report holds no graded level.")
    return SrFindings(study_uid=str(ds.get("StudyInstanceUID", "")), sop_uid=str(ds.get("SOPInstanceUID", "")),
                      study_date=_date(ds.get("StudyDate")), content_datetime=_datetime(ds.get("ContentDate"), ds.get("ContentTime")),
                      levels=tuple(levels), notes=tuple(notes))


def _dataset(source: Any):
    import pydicom  # lazy: pydicom is heavy; only DICOM input/output needs it
    from pydicom.errors import InvalidDicomError

    if isinstance(source, pydicom.Dataset):
        return source
    try:
        if isinstance(source, (bytes, bytearray, memoryview)):
            return pydicom.dcmread(io.BytesIO(bytes(source)), force=True)
        return pydicom.dcmread(Path(source), force=True)
    except (InvalidDicomError, OSError, ValueError, TypeError, AttributeError, EOFError, KeyError) as exc:
        raise InputError("This file could not be read as DICOM; give an SR written by this app.") from exc


def _code(seq) -> tuple[str, str] | None:
    """(CodeValue, CodingSchemeDesignator) of the first item of a code sequence, None when missing."""
    try:
        item = seq[0]
        return str(item.CodeValue), str(item.CodingSchemeDesignator)
    except (AttributeError, IndexError, TypeError, KeyError):
        return None


def _name(item) -> tuple[str, str] | None:
    return _code(item.get("ConceptNameCodeSequence"))


def _groups(content) -> list:
    """Every "Measurement Group" container in the tree, depth first (in document order)."""
    out = []
    for item in content or []:
        if str(item.get("ValueType", "")) != "CONTAINER":
            continue
        if _name(item) == _MEASUREMENT_GROUP:
            out.append(item)
        else:
            out += _groups(item.get("ContentSequence"))
    return out


def _read_group(group, n: int, notes: list[str]) -> SrLevel | None:
    """The level of one measurement group, or None (with a note) when its name or grade is missing."""
    name, grade, probs, members = None, None, {}, []
    for item in group.get("ContentSequence") or []:
        concept, kind = _name(item), str(item.get("ValueType", ""))
        if concept == _TRACKING_IDENTIFIER and kind == "TEXT":
            name = str(item.get("TextValue", "")).strip() or None
        elif concept is not None and concept[1] == PRIVATE_SCHEME and kind == "CODE":
            value = _code(item.get("ConceptCodeSequence"))
            grade_value = _GRADES.get(value[0]) if value is not None and value[1] == PRIVATE_SCHEME else None
            if concept[0] == "MODIC-CLASS":
                grade = grade_value
            elif concept[0] == "MODIC-SET" and grade_value is not None:
                members.append(grade_value)
        elif concept is not None and concept[1] == PRIVATE_SCHEME and kind == "NUM" and concept[0] in _PROBABILITIES:
            value = _number(item)
            if value is not None:
                probs[_PROBABILITIES[concept[0]]] = value
    if name is None:
        notes.append(f"Measurement group {n} has no level name and was skipped.")
        return None
    if grade is None:
        notes.append(f"Level {name} has no Modic classification and was skipped.")
        return None
    return SrLevel(level=name, grade=grade, probabilities=probs, prediction_set=tuple(members))


def _number(item) -> float | None:
    try:
        value = float(item.MeasuredValueSequence[0].NumericValue)
    except (AttributeError, IndexError, TypeError, ValueError, KeyError):
        return None
    return value if value == value else None  # NaN: not a probability


def _date(value) -> date | None:
    try:
        return datetime.strptime(str(value).strip()[:8], "%Y%m%d").date()
    except (TypeError, ValueError):
        return None


def _datetime(day, time) -> datetime | None:
    d = _date(day)
    if d is None:
        return None
    digits = str(time or "").split(".")[0].strip()
    try:
        t = datetime.strptime((digits + "000000")[:6], "%H%M%S").time() if digits else datetime.min.time()
    except ValueError:
        t = datetime.min.time()
    return datetime.combine(d, t)
