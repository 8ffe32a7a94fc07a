"""Real-browser test (issue 27): From PACS -> search -> pick -> results -> "Store report in PACS", against a real Orthanc.

The dashboard (``tests/app/serve_fake.py``: the real ``app.py`` with the analysis double; the archive is under
test, not the models) is pointed at the throw-away Orthanc of ``tests/orthanc_support.py`` (DICOMweb, basic
auth) through ``MODIC_DICOMWEB_URL/USER/PASSWORD``. The archive holds the demo phantom's study (2024-01-01) and an
earlier study of the same patient (2022-03-15) with an SR this app wrote. Chromium searches by patient ID, picks
the 2024 study, retrieves and analyses its proposed pair, sees the earlier grades beside today's, stores the
report; QIDO then finds the SR in the same study and it reads back. Neither the patient ID nor the name reaches
the server log.

Screenshots go to ``artifacts/browser/`` (``MODIC_ARTIFACTS`` overrides): ``30_pacs_search.png`` (the From PACS
panel: search, results, series and proposed pair) and ``31_pacs_stored.png`` (results and "Stored in the PACS"), ``32_pacs_earlier.png`` (earlier results).
"""
from __future__ import annotations

import os
from pathlib import Path

import pydicom
import pytest
import requests
from pydicom.uid import generate_uid

from modic_core import load_study
from modic_core.bench.browser import CHROMIUM, launch_chromium
from modic_core.bench.serve import start_streamlit, stop
from modic_core.export.dicom_sr import dicom_sr_bytes, read_series_headers
from modic_core.export.sr_read import read_sr
from modic_core.pacs import DicomwebConfig, open_archive
from tests.app.helpers import PHANTOM, settle
from tests.export.test_dicom_sr import sr_report
from tests.orthanc_support import upload

ROOT = Path(__file__).resolve().parents[2]
PID, EARLIER_DATE = "PHANTOM-SEED7", "20220315"  # the demo phantom's patient ID; the earlier study's date

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium")


def _earlier_study(folder: Path) -> list[Path]:
    """The phantom again as an earlier study of the same patient (new UIDs, seeded), and this app's SR of it."""
    uids = {key: generate_uid(entropy_srcs=["modic-test-earlier", key]) for key in ("study", "t1", "t2")}
    for key in ("t1", "t2"):
        (folder / key).mkdir(parents=True)
        for path in sorted((PHANTOM / key).glob("*.dcm")):
            ds = pydicom.dcmread(path)
            ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.StudyDate = uids["study"], uids[key], EARLIER_DATE
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(
                entropy_srcs=["modic-test-earlier", key, path.name])
            ds.save_as(folder / key / path.name)
    study = load_study(folder / "t1", folder / "t2")
    sr = folder / "sr.dcm"
    sr.write_bytes(dicom_sr_bytes(sr_report(study), study, read_series_headers(folder / "t1")))
    return sorted(folder.rglob("*.dcm"))


@pytest.fixture(scope="module")
def archive_studies(orthanc_server, tmp_path_factory):
    """The phantom study and the earlier study with its SR in the archive; both removed afterwards."""
    upload(orthanc_server, sorted(PHANTOM.rglob("*.dcm")) + _earlier_study(tmp_path_factory.mktemp("earlier")))
    today = str(pydicom.dcmread(next(PHANTOM.rglob("*.dcm")), stop_before_pixels=True).StudyInstanceUID)
    yield today
    with requests.Session() as s:
        s.auth = orthanc_server.auth
        for uid in s.get(f"{orthanc_server.base}/patients", timeout=30).json():
            patient = s.get(f"{orthanc_server.base}/patients/{uid}", timeout=30).json()
            if patient.get("MainDicomTags", {}).get("PatientID") == PID:
                s.delete(f"{orthanc_server.base}/patients/{uid}", timeout=60)


@pytest.fixture(scope="module")
def server(orthanc_server, archive_studies, tmp_path_factory):
    log_path = tmp_path_factory.mktemp("browser_pacs") / "streamlit.log"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), MKL_NUM_THREADS="1",
               MODIC_DICOMWEB_URL=orthanc_server.dicomweb, MODIC_DICOMWEB_USER=orthanc_server.auth[0],
               MODIC_DICOMWEB_PASSWORD=orthanc_server.auth[1], MODIC_DATA_DIR=str(log_path.parent / "data"))
    env.pop("MODIC_AUTH_FILE", None)
    proc, url = start_streamlit(ROOT, log_path, env=env, command=[str(ROOT / "tests" / "app" / "serve_fake.py")],
                                timeout_s=90)
    try:
        yield {"url": url, "log": log_path}
    finally:
        stop(proc)


def _choose_option(page, label: str, needle: str) -> None:
    page.locator("[data-testid='stSelectbox']").filter(has_text=label).first.click()
    page.get_by_role("option").filter(has_text=needle).first.click()
    settle(page)


def _store(page, *, tries: int = 3) -> None:
    """Click "Store report in PACS" and wait for its sentence; a click lost in a rerun on a loaded runner is
    tried again (a click that did store shows the sentence, so the report is never stored twice)."""
    for attempt in range(tries):
        settle(page)
        page.get_by_role("button", name="Store report in PACS").click()
        try:
            page.get_by_text("Stored in the PACS (study").wait_for(timeout=30_000)
            return
        except Exception:  # noqa: BLE001 - retried; the last failure is raised
            if attempt == tries - 1:
                raise


def test_from_pacs_search_pick_analyse_store(server, orthanc_server, archive_studies, artifacts):
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1800})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server["url"], wait_until="domcontentloaded")
            page.get_by_text("Per-level results").wait_for(timeout=120_000)  # the demo case first
            settle(page)
            page.locator("[data-testid='stRadio']").get_by_text("From PACS", exact=True).first.click()
            page.get_by_role("button", name="Search the PACS").wait_for(timeout=60_000)
            settle(page)
            page.get_by_label("Patient ID").fill(PID)
            page.get_by_role("button", name="Search the PACS").click()
            page.get_by_text("2 studies found").wait_for(timeout=60_000)
            settle(page)
            _choose_option(page, "Study", "2024-01-01")
            page.get_by_role("button", name="Retrieve and analyse").wait_for(timeout=60_000)
            settle(page, 1000)
            body = page.inner_text("body")
            assert "Paired automatically" in body and "Per-level results" not in body  # nothing fetched yet
            page.screenshot(path=str(artifacts / "30_pacs_search.png"), full_page=True)

            page.get_by_role("button", name="Retrieve and analyse").click()
            page.get_by_text("Per-level results").wait_for(timeout=120_000)
            page.get_by_text("Earlier results").wait_for(timeout=60_000)
            settle(page, 1000)
            assert "for the same patient's earlier studies, beside today's" in page.inner_text("body")
            page.get_by_text("Earlier results").scroll_into_view_if_needed()
            page.screenshot(path=str(artifacts / "32_pacs_earlier.png"))
            _store(page)
            settle(page, 1500)
            page.screenshot(path=str(artifacts / "31_pacs_stored.png"), full_page=True)
        finally:
            browser.close()
    assert not errors, errors
    archive = open_archive(DicomwebConfig(url=orthanc_server.dicomweb, username=orthanc_server.auth[0],
                                          password=orthanc_server.auth[1], retries=0))
    hits = archive.find_srs(archive_studies)  # QIDO: the SR is in the same study
    assert len(hits) == 1
    found = read_sr(archive.retrieve_instance(hits[0].study_uid, hits[0].series_uid, hits[0].sop_uid))
    assert found.study_uid == archive_studies and found.levels
    log = server["log"].read_text()
    assert "Traceback" not in log and PID not in log and "SEED7" not in log
