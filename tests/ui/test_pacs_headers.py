"""The SR's series headers read from a real Orthanc (WADO-RS metadata), an SR built from them stored back and read."""
from __future__ import annotations

import pydicom
import pytest
import requests

from modic_core import load_study
from modic_core.export.dicom_sr import dicom_sr_bytes, read_series_headers
from modic_core.export.sr_read import read_sr
from modic_core.pacs import DicomwebConfig, PacsError, open_archive
from modic_core.ui.pacs_headers import series_header_uploads
from tests.app.helpers import PHANTOM
from tests.export.test_dicom_sr import sr_report
from tests.orthanc_support import upload


def _uid(path, keyword):
    return str(pydicom.dcmread(path, stop_before_pixels=True).get(keyword))


@pytest.fixture
def phantom_in_archive(orthanc_server):
    """The demo phantom's T1/T2 in the archive (removed afterwards: other tests share the archive)."""
    files = sorted(PHANTOM.rglob("*.dcm"))
    upload(orthanc_server, files)
    study_uid = _uid(files[0], "StudyInstanceUID")
    yield study_uid
    with requests.Session() as s:
        s.auth = orthanc_server.auth
        found = s.post(f"{orthanc_server.base}/tools/lookup", data=study_uid, timeout=30).json()
        for item in found:
            s.delete(f"{orthanc_server.base}/studies/{item['ID']}", timeout=60)


def test_headers_from_the_archive_make_an_sr_it_stores_and_reads_back(orthanc_server, phantom_in_archive):
    config = DicomwebConfig(url=orthanc_server.dicomweb, username=orthanc_server.auth[0],
                            password=orthanc_server.auth[1], retries=0)
    t1_files, t2_files = sorted((PHANTOM / "t1").glob("*.dcm")), sorted((PHANTOM / "t2").glob("*.dcm"))
    t1_uid, t2_uid = _uid(t1_files[0], "SeriesInstanceUID"), _uid(t2_files[0], "SeriesInstanceUID")
    t1 = read_series_headers(series_header_uploads(config, phantom_in_archive, t1_uid))
    t2 = read_series_headers(series_header_uploads(config, phantom_in_archive, t2_uid))
    local = read_series_headers(PHANTOM / "t1")
    assert sorted(h.SOPInstanceUID for h in t1) == sorted(h.SOPInstanceUID for h in local)
    assert len(t2) == len(t2_files) and all("PixelData" not in h for h in t1 + t2)
    by_uid = {h.SOPInstanceUID: h for h in local}
    assert all(list(h.ImagePositionPatient) == list(by_uid[h.SOPInstanceUID].ImagePositionPatient) for h in t1)

    study = load_study(PHANTOM / "t1", PHANTOM / "t2")
    sr = dicom_sr_bytes(sr_report(study), study, t1, t2_headers=t2)
    archive = open_archive(config)
    sop = archive.store_sr(sr, study_uid=phantom_in_archive)
    hits = archive.find_srs(phantom_in_archive)
    assert [h.sop_uid for h in hits] == [sop]
    found = read_sr(archive.retrieve_instance(hits[0].study_uid, hits[0].series_uid, sop))
    assert [lv.level for lv in found.levels] == ["L3-L4", "L4-L5", "L5-L6"] and found.study_uid == phantom_in_archive


def test_a_failing_archive_is_one_sentence(orthanc_server):
    config = DicomwebConfig(url=orthanc_server.dicomweb, username="nobody", password="wrong", retries=0)
    with pytest.raises(PacsError, match="HTTP 401") as err:
        series_header_uploads(config, "1.2.3", "1.2.3.4")
    assert "wrong" not in str(err.value)
