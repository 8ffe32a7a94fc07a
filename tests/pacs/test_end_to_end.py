"""Against the real Orthanc: search, list, auto-pair, retrieve, analyse, store the SR into the same study,
find it again by QIDO, re-read it with highdicom, and dciodvfy finds no error in what the archive returns."""
from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import highdicom as hd
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from modic_core.analysis import analyze
from modic_core.export.dicom_sr import dicom_sr_bytes, series_description
from modic_core.pacs import PacsError
from modic_core.pacs.archive import SR_DESCRIPTION_PREFIX
from tests.orthanc_support import upload

PHANTOM = Path(__file__).resolve().parents[2] / "demo" / "phantom_dicom"


@pytest.fixture(scope="module")
def phantom_in_archive(orthanc_server, pacs_studies):
    upload(orthanc_server, sorted(PHANTOM.rglob("*.dcm")))
    ds = pydicom.dcmread(next(iter(sorted((PHANTOM / "t1").glob("*.dcm")))), stop_before_pixels=True)
    return str(ds.PatientID), str(ds.StudyInstanceUID)


def test_search_pair_retrieve_analyse_store_and_find_the_sr(archive, phantom_in_archive, tmp_path):
    patient_id, study_uid = phantom_in_archive
    hits = archive.search_studies(patient_id=patient_id)
    assert [h.study_uid for h in hits] == [study_uid]
    series = archive.list_series(study_uid)
    proposal = archive.propose_pair(series)
    assert proposal is not None and proposal.confident
    pair = archive.retrieve(study_uid, proposal.t1.series_uid, proposal.t2.series_uid)
    before = {h.sop_uid for h in archive.find_srs(study_uid)}  # other tests may have stored one already
    report = analyze(pair.study, gradcam=False)
    assert report.levels
    sr = dicom_sr_bytes(report, pair.study, pair.t1_headers, t2_headers=pair.t2_headers)
    sop_uid = archive.store_sr(sr, study_uid=study_uid)
    assert sop_uid == str(pydicom.dcmread(io.BytesIO(sr)).SOPInstanceUID)

    found = [h for h in archive.find_srs(study_uid) if h.sop_uid not in before]
    assert [h.sop_uid for h in found] == [sop_uid] and found[0].content_datetime is not None
    stored = archive.retrieve_instance(study_uid, found[0].series_uid, sop_uid)
    read = hd.sr.srread(io.BytesIO(stored))
    assert read.StudyInstanceUID == study_uid and read.SOPInstanceUID == sop_uid
    evidence = {item.SeriesInstanceUID for item in read.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence}
    assert evidence == {proposal.t1.series_uid, proposal.t2.series_uid}
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy (apt: dicom3tools) is not installed")
    path = tmp_path / "stored_sr.dcm"
    path.write_bytes(stored)
    out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    errors = [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")]
    assert errors == [], "\n".join(errors)


def test_an_sr_for_another_study_is_refused(archive, pacs_studies, phantom_in_archive):
    sr = _fake_sr(pacs_studies["b"])
    with pytest.raises(PacsError, match="another study"):
        archive.store_sr(sr, study_uid=phantom_in_archive[1])
    with pytest.raises(PacsError, match="not a readable DICOM"):
        archive.store_sr(b"not dicom", study_uid=phantom_in_archive[1])


def _fake_sr(study, *, description: str | None = None, content_date: str = "20230602") -> bytes:
    """A minimal SR header in ``study`` (enough for QIDO; not a conformant report)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.34"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study.study_uid, generate_uid()
    ds.PatientID, ds.PatientName, ds.StudyDate = study.patient_id, study.patient_name, study.study_date
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "SR", 990, 1
    ds.SeriesDescription = description or series_description()
    ds.ContentDate, ds.ContentTime = content_date, "101500"
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def test_earlier_srs_of_the_same_patient(orthanc_server, archive, pacs_studies, tmp_path):
    a_old, a_new, b = pacs_studies["a_old"], pacs_studies["a_new"], pacs_studies["b"]
    files = []
    for name, (study, description) in {"mine_old": (a_old, None), "other_app": (a_old, "Other vendor SR"),
                                       "mine_b": (b, None), "mine_new": (a_new, None)}.items():
        files.append(tmp_path / f"{name}.dcm")
        files[-1].write_bytes(_fake_sr(study, description=description))
    upload(orthanc_server, files)
    assert series_description().startswith(SR_DESCRIPTION_PREFIX)
    earlier = archive.earlier_srs(a_new.patient_id, before_study_uid=a_new.study_uid)
    assert [(h.study_uid, str(h.study_date)) for h in earlier] == [(a_old.study_uid, "2023-06-01")]
    assert str(earlier[0].content_datetime) == "2023-06-02 10:15:00"
    assert archive.earlier_srs(a_old.patient_id, before_study_uid=a_old.study_uid) == []
    assert [h.study_uid for h in archive.find_srs(a_new.study_uid)] == [a_new.study_uid]
