"""Issue 27 item 3: the case viewer's "From PACS" input, with an archive double (the real Orthanc: tests/app).

Search -> results table -> pick -> series and the proposed pair -> "Retrieve and analyse" -> results ->
"Store report in PACS"; shown only when MODIC_DICOMWEB_URL is set (and, with sign-in, to signed-in users);
nothing of the search in the logs; earlier results from an SR of an earlier study.
"""
from __future__ import annotations

import io
import logging
from datetime import date
from pathlib import Path

import pydicom
import pytest
from streamlit.testing.v1 import AppTest

from modic_core.pacs import PacsError
from modic_core.pacs.records import PairProposal, RetrievedPair, SeriesHit, SrHit, StudyHit
from modic_core.ui.pacs_input import ARCHIVE_KEY, PACS_SOURCE, series_rows, study_rows
from tests.app.helpers import APP, PHANTOM
from tests.export.test_sr_read import hand_made_sr

STUDY_UID = "2.25.242979214165991091794553073285329719244"  # the demo phantom's (its SR must belong to it)
PID, NAME = "MRN-4471-PACS", "DOE^JANE"
T1 = SeriesHit("1.2.3.1", 3, "t1_tse_sag", "MR", "sagittal", 15, "T1")
T2 = SeriesHit("1.2.3.2", 4, "t2_tse_sag", "MR", "sagittal", 15, "T2")
AX = SeriesHit("1.2.3.3", 5, "t2_tse_tra", "MR", "axial", 20, "T2")


class FakeArchive:
    """What the page asks of :class:`modic_core.pacs.Archive`, answered from the demo phantom."""

    config = None

    def __init__(self, *, earlier: bool = False, fail_search: bool = False, folder: Path = PHANTOM) -> None:
        self.earlier, self.fail_search, self.folder = earlier, fail_search, folder
        self.searches: list[dict] = []
        self.retrieved: list[tuple[str, str, str]] = []
        self.stored: list[tuple[bytes, str]] = []

    def search_studies(self, **criteria):
        self.searches.append(criteria)
        if self.fail_search:
            raise PacsError("The PACS refused the sign-in while searching for studies (HTTP 401); check the settings.")
        return [StudyHit(STUDY_UID, PID, NAME, date(2024, 1, 1), "ACC77", ("MR",), "LWS nativ", 3),
                StudyHit("1.2.9", PID, NAME, date(2020, 5, 4), "ACC12", ("MR", "SR"), "LWS", 2)]

    def list_series(self, study_uid):
        return [T1, T2, AX]

    def propose_pair(self, series):
        return PairProposal(T1, T2, "Paired automatically by sequence type (T1, T2) and orientation (sagittal).", True)

    def retrieve(self, study_uid, t1, t2):
        from modic_core import load_study
        from modic_core.export.dicom_sr import read_series_headers

        self.retrieved.append((study_uid, t1, t2))
        f = self.folder
        return RetrievedPair(load_study(f / "t1", f / "t2"), tuple(read_series_headers(f / "t1")),
                             tuple(read_series_headers(f / "t2")))

    def store_sr(self, sr_bytes, *, study_uid):
        self.stored.append((sr_bytes, study_uid))
        return "9.9.9"

    def earlier_srs(self, patient_id, *, before_study_uid):
        if not self.earlier:
            return []
        return [SrHit("1.2.9", "1.2.9.1", "1.2.9.1.1", date(2020, 5, 4), None)]

    def retrieve_instance(self, study_uid, series_uid, sop_uid):
        return hand_made_sr(study_date="20200504")


@pytest.fixture
def fake_backend(tmp_path, monkeypatch):
    from tests.app import fakes

    monkeypatch.setenv("MODIC_DATA_DIR", str(tmp_path / "modic_data"))  # its own empty label store
    fakes.uninstall()
    fakes.install()
    yield fakes.FakeStudyAnalysis
    fakes.uninstall()


@pytest.fixture
def pacs(monkeypatch, fake_backend):
    monkeypatch.setenv("MODIC_DICOMWEB_URL", "http://127.0.0.1:9/dicom-web")


def open_pacs(archive: FakeArchive) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state[ARCHIVE_KEY] = archive
    at.run()
    at.radio(key="cv_source").set_value(PACS_SOURCE).run()
    return at


def search(at: AppTest, **fields) -> AppTest:
    for key, value in fields.items():
        at.text_input(key=key).input(value)
    at.button(key="cv_pacs_go").click().run()
    return at


def graded(at: AppTest) -> bool:
    return len(at.get("component_instance")) == 1 and bool(at.get("download_button"))


def frame(at: AppTest, column: str):
    """The table on the page that has ``column``."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_from_pacs_is_offered_only_when_an_archive_is_configured(fake_backend, monkeypatch):
    monkeypatch.delenv("MODIC_DICOMWEB_URL", raising=False)
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    assert PACS_SOURCE not in at.radio(key="cv_source").options
    monkeypatch.setenv("MODIC_DICOMWEB_URL", "http://127.0.0.1:9/dicom-web")
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    assert PACS_SOURCE in at.radio(key="cv_source").options


def test_signed_out_users_never_see_the_pacs_input(pacs, monkeypatch, tmp_path):
    from modic_core.ui.pacs_input import pacs_sources

    accounts = tmp_path / "accounts.json"
    accounts.write_text("{}")
    monkeypatch.setenv("MODIC_AUTH_FILE", str(accounts))
    assert pacs_sources() == []  # the sign-in form only; the page (and its input list) is never drawn
    monkeypatch.delenv("MODIC_AUTH_FILE")
    assert pacs_sources() == [PACS_SOURCE]


def _record_file_names(monkeypatch) -> list[str]:
    """The file name of every download built on click from now on."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    names: list[str] = []
    orig = MediaFileManager.add_deferred

    def record(self, data, mimetype, coordinates, file_name=None, **kw):
        names.append(file_name)
        return orig(self, data, mimetype, coordinates, file_name=file_name, **kw)

    monkeypatch.setattr(MediaFileManager, "add_deferred", record)
    return names


def test_search_pick_retrieve_analyse_and_store_without_phi_in_logs_or_names(pacs, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    archive = FakeArchive()
    at = open_pacs(archive)
    assert not at.exception and not graded(at)
    search(at, cv_pacs_pid=PID, cv_pacs_name="DOE*")
    assert not at.exception
    assert archive.searches == [dict(patient_id=PID, patient_name="DOE*", date_from=None, date_to=None, accession=None,
                                     modality="MR", limit=50)]
    results = frame(at, "Accession")
    assert list(results.columns) == ["Date", "Patient ID", "Name", "Accession", "Description", "Modalities", "Series"]
    assert results.iloc[0].tolist() == ["2024-01-01", PID, "DOE, JANE", "ACC77", "LWS nativ", "MR", 3]
    assert archive.retrieved == []  # nothing fetched before a pick
    at.selectbox(key="cv_pacs_study").set_value(STUDY_UID).run()
    series = frame(at, "Plane")
    assert series["Plane"].tolist() == ["sagittal", "sagittal", "axial"] and series["Slices"].tolist() == [15, 15, 20]
    t1 = next(s for s in at.selectbox if (s.key or "").startswith("cv_pacs_t1_"))
    t2 = next(s for s in at.selectbox if (s.key or "").startswith("cv_pacs_t2_"))
    assert (t1.value, t2.value) == (T1.series_uid, T2.series_uid)  # the proposed pair
    assert any("Paired automatically" in c.value for c in at.caption)
    assert not graded(at)
    at.button(key="cv_pacs_retrieve").click().run()
    assert not at.exception and graded(at)
    assert archive.retrieved == [(STUDY_UID, T1.series_uid, T2.series_uid)]
    assert "Findings (DICOM SR)" in [b.proto.label for b in at.get("download_button")]
    sid = next(m.value for m in at.markdown if "(hashed ID)" in m.value).split("`")[1]
    names = _record_file_names(monkeypatch)
    store_key = next(b.key for b in at.button if (b.key or "").startswith("cv_pacs_store_"))
    at.button(key=store_key).click().run()
    assert not at.exception
    assert len(archive.stored) == 1 and archive.stored[0][1] == STUDY_UID
    sr = pydicom.dcmread(io.BytesIO(archive.stored[0][0]))
    assert sr.Modality == "SR" and sr.StudyInstanceUID == STUDY_UID
    stored = [s.value for s in at.success if s.value.startswith("Stored in the PACS (study ")]
    assert len(stored) == 1 and PID not in stored[0] and "JANE" not in stored[0] and STUDY_UID not in stored[0]
    assert len(names) == 4 and all(n.startswith(f"modic_{sid}") for n in names)  # CSV, PDF, figure PNG, SR  # the hashed study label only
    at.button(key=store_key).click().run()  # a second click (as the button turns grey) stores nothing more
    assert len(archive.stored) == 1 and at.button(key=store_key).disabled
    for needle in (PID, "DOE", "JANE", "ACC77", "LWS nativ"):
        assert needle not in caplog.text
    assert "Earlier results" not in [h.value for h in at.subheader]  # no earlier SR in this archive


def test_earlier_results_beside_todays_grades(pacs):
    archive = FakeArchive(earlier=True)
    at = open_pacs(archive)
    search(at, cv_pacs_pid=PID)
    at.selectbox(key="cv_pacs_study").set_value(STUDY_UID).run()
    at.button(key="cv_pacs_retrieve").click().run()
    assert not at.exception and graded(at)
    assert "Earlier results" in [h.value for h in at.subheader]
    table = frame(at, "Today")
    assert list(table.columns) == ["Level", "Earlier (2020-05-04)", "Today"]
    rows = {r["Level"]: r for r in table.to_dict("records")}
    assert rows["L4-L5"]["Earlier (2020-05-04)"] == "MC2" and rows["L3-L4"]["Earlier (2020-05-04)"] == "MC0"
    assert any("has no level name and was skipped" in c.value for c in at.caption)


def test_a_pair_from_two_examinations_is_graded_only_after_grade_anyway(pacs, tmp_path):
    from tests.ui.test_upload_picker import two_studies_dicom

    for name, data, _ in two_studies_dicom():  # the T2 edited to look like another examination
        (tmp_path / name[:2]).mkdir(exist_ok=True)
        (tmp_path / name[:2] / name[3:]).write_bytes(data)
    at = open_pacs(FakeArchive(folder=tmp_path))
    search(at, cv_pacs_pid=PID)
    at.selectbox(key="cv_pacs_study").set_value(STUDY_UID).run()
    at.button(key="cv_pacs_retrieve").click().run()
    assert not at.exception and not graded(at)
    assert any("come from different studies" in w.value for w in at.warning)
    at.button(key=next(b.key for b in at.button if (b.key or "").startswith("cv_pacs_anyway_"))).click().run()
    assert not at.exception and graded(at)
    assert any(w.value.startswith("Graded although T1 and T2 come from different studies") for w in at.warning)


def test_a_malformed_setting_is_one_sentence_in_the_input(fake_backend, monkeypatch):
    monkeypatch.setenv("MODIC_DICOMWEB_URL", "http://127.0.0.1:9/dicom-web")
    monkeypatch.setenv("MODIC_DICOMWEB_RETRIES", "many")
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.radio(key="cv_source").set_value(PACS_SOURCE).run()
    assert not at.exception
    assert [e.value for e in at.error] == ["The environment variable MODIC_DICOMWEB_RETRIES='many' is not a whole number."]


def test_a_pacs_error_is_one_sentence(pacs):
    at = open_pacs(FakeArchive(fail_search=True))
    search(at, cv_pacs_pid=PID)
    assert not at.exception
    assert [e.value for e in at.error] == ["The PACS refused the sign-in while searching for studies (HTTP 401); "
                                           "check the settings."]


def test_tables_show_what_a_pacs_browser_shows():
    hit = StudyHit("1.2", "P1", "SMITH^ANN^M", None, "", ("MR", "SR"), "**x**", None)
    assert study_rows([hit]) == [{"Date": "—", "Patient ID": "P1", "Name": "SMITH, ANN M", "Accession": "",
                                  "Description": "**x**", "Modalities": "MR, SR", "Series": ""}]
    assert series_rows([SeriesHit("1.3", None, "", "MR", None, None, None)]) == [
        {"Number": "", "Description": "", "Modality": "MR", "Plane": "unknown", "Sequence": "unknown", "Slices": ""}]


def test_page_stays_thin():
    text = (Path(__file__).resolve().parents[2] / "pages" / "case_viewer.py").read_text()
    assert "pacs_input" in text and "search_studies" not in text  # the input lives in modic_core/ui/pacs_input.py
