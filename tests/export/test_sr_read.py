"""Reading back the DICOM SR this app writes: per-level grades, probabilities, sets, dates; tolerant of missing items."""
from __future__ import annotations

import dataclasses
import io
from datetime import date

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from modic_core.errors import InputError
from modic_core.export.codes import PRIVATE_SCHEME
from modic_core.export.dicom_sr import dicom_sr_bytes
from modic_core.export.sr_read import SrLevel, is_modic_sr, read_sr
from tests.export.test_dicom_sr import PHANTOM, sr_report
from tests.export.test_documents import make_report


@pytest.fixture(scope="module")
def study():
    from modic_core.datasets.demo import load_demo

    return load_demo("phantom-dicom")


@pytest.fixture(scope="module")
def headers():
    from modic_core.export.dicom_sr import read_series_headers

    return read_series_headers(PHANTOM / "t1"), read_series_headers(PHANTOM / "t2")


@pytest.fixture(scope="module")
def sr_bytes(study, headers):
    h1, h2 = headers
    return dicom_sr_bytes(sr_report(study), study, h1, t2_headers=h2)


def test_reads_levels_grades_probabilities_and_sets_of_an_sr_this_app_wrote(sr_bytes, headers):
    found = read_sr(sr_bytes)
    assert [lv.level for lv in found.levels] == ["L3-L4", "L4-L5", "L5-L6"]
    first, second, ungraded = found.levels
    assert first == SrLevel("L3-L4", "MC0", {"MC0": pytest.approx(0.6), "MC1": pytest.approx(0.1),
                                             "MC2": pytest.approx(0.3)}, ("MC0",))
    assert second.prediction_set == ("MC0", "MC2")
    assert ungraded.grade == "not graded" and ungraded.probabilities == {} and ungraded.prediction_set == ()
    assert found.notes == ()
    t1 = headers[0][0]
    assert found.study_uid == t1.StudyInstanceUID
    assert found.study_date == (date(int(t1.StudyDate[:4]), int(t1.StudyDate[4:6]), int(t1.StudyDate[6:8]))
                                if t1.get("StudyDate") else None)
    assert found.content_datetime is not None  # highdicom writes ContentDate/ContentTime
    assert found.grade_of("L4-L5") is second and found.grade_of("T12-L1") is None
    # the same from a path and from a dataset
    ds = pydicom.dcmread(io.BytesIO(sr_bytes))
    assert read_sr(ds).levels == found.levels and is_modic_sr(ds)


def test_reads_an_sr_with_no_set_and_all_grades(study, headers, tmp_path):
    rep = make_report(study)
    rep.levels[1] = dataclasses.replace(rep.levels[1], prediction="MC2")
    rep.levels[2] = dataclasses.replace(rep.levels[2], prediction="MC1")
    path = tmp_path / "sr.dcm"
    path.write_bytes(dicom_sr_bytes(rep, study, headers[0]))
    found = read_sr(path)
    assert [(lv.level, lv.grade, lv.prediction_set) for lv in found.levels] == [
        ("L3-L4", "MC0", ()), ("L4-L5", "MC2", ()), ("L5-L6", "MC1", ())]


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _item(kind: str, name: tuple[str, str, str], **values) -> Dataset:
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = kind
    item.ConceptNameCodeSequence = Sequence([_code(*name)])
    for key, value in values.items():
        setattr(item, key, value)
    return item


def _group(*items: Dataset) -> Dataset:
    group = _item("CONTAINER", ("125007", "DCM", "Measurement Group"), ContinuityOfContent="SEPARATE")
    group.ContentSequence = Sequence(list(items))
    return group


TRACKING = ("112039", "DCM", "Tracking Identifier")
CLASS = ("MODIC-CLASS", PRIVATE_SCHEME, "Modic classification")


def _grade(value: str) -> Dataset:
    return _item("CODE", CLASS, ConceptCodeSequence=Sequence([_code(value, PRIVATE_SCHEME, value)]))


def _probability(cls: str, value) -> Dataset:
    measured = Dataset()
    measured.NumericValue = value
    measured.MeasurementUnitsCodeSequence = Sequence([_code("1", "UCUM", "no units")])
    return _item("NUM", (f"P-{cls}", PRIVATE_SCHEME, f"Probability of {cls}"), MeasuredValueSequence=Sequence([measured]))


def hand_made_sr(*, study_date: str | None = "20240131") -> bytes:
    """A Comprehensive 3D SR made by hand: no template, items missing here and there, a damaged probability."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.34"
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.Modality = "SR"
    if study_date is not None:
        ds.StudyDate = study_date
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = Sequence([_code("126000", "DCM", "Imaging Measurement Report")])
    scheme = Dataset()
    scheme.CodingSchemeDesignator = PRIVATE_SCHEME
    ds.CodingSchemeIdentificationSequence = Sequence([scheme])
    measurements = _item("CONTAINER", ("126010", "DCM", "Imaging Measurements"))
    measurements.ContentSequence = Sequence([
        _group(_item("TEXT", TRACKING, TextValue="L4-L5"), _grade("MC2"), _probability("MC0", "0.2"),
               _probability("MC2", "0.7")),  # P(MC1) missing
        _group(_grade("MC1")),  # no level name
        _group(_item("TEXT", TRACKING, TextValue="L5-S1")),  # no grade
        _group(_item("TEXT", TRACKING, TextValue="L3-L4"), _grade("MC0"), _item("NUM", ("P-MC0", PRIVATE_SCHEME, "P"))),
        _group(_item("TEXT", TRACKING, TextValue="L2-L3"), _item("CODE", CLASS)),  # a grade item without its value
    ])
    ds.ContentSequence = Sequence([measurements, _item("TEXT", ("X", "99X", "a stray item"))])
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def test_a_hand_made_sr_with_missing_items_gives_what_it_holds_with_notes():
    found = read_sr(hand_made_sr())
    assert [(lv.level, lv.grade, dict(lv.probabilities)) for lv in found.levels] == [
        ("L4-L5", "MC2", {"MC0": 0.2, "MC2": 0.7}), ("L3-L4", "MC0", {})]
    assert found.notes == ("Measurement group 2 has no level name and was skipped.",
                           "Level L5-S1 has no Modic classification and was skipped.",
                           "Level L2-L3 has no Modic classification and was skipped.")
    assert found.study_date == date(2024, 1, 31) and found.content_datetime is None
    assert read_sr(hand_made_sr(study_date="not a date")).study_date is None
    assert read_sr(hand_made_sr(study_date=None)).study_date is None


def test_not_an_sr_is_one_sentence():
    with pytest.raises(InputError, match="not a DICOM structured report"):
        read_sr((PHANTOM / "t1").glob("*").__next__())
    with pytest.raises(InputError, match="could not be read as DICOM|not a DICOM structured report"):
        read_sr(b"not dicom at all")
    ds = pydicom.dcmread(io.BytesIO(hand_made_sr()))
    del ds.CodingSchemeIdentificationSequence
    assert not is_modic_sr(ds)
