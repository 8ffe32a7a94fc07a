"""Generated studies in a throw-away Orthanc, and the :class:`Archive` that reads them (signed in)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest

from modic_core.datasets.synthetic import make_phantom
from modic_core.io.dicom_write import write_dicom_series
from modic_core.pacs import DicomwebConfig, open_archive
from tests.orthanc_support import OrthancServer, clear, upload


@dataclass(frozen=True)
class GeneratedStudy:
    """One tiny synthetic T1/T2 study as written to ``folder`` (``t1/``, ``t2/``) and stored in the archive."""

    folder: Path
    study_uid: str
    t1_uid: str
    t2_uid: str
    patient_id: str
    patient_name: str
    study_date: str
    accession: str


def write_study(folder: Path, *, seed: int, patient_id: str, patient_name: str, study_date: str = "20240101",
                accession: str = "", shape: tuple[int, int, int] = (5, 64, 64),
                spacing: tuple[float, float, float] = (4.0, 4.0, 4.0)) -> GeneratedStudy:
    """Write a seeded synthetic pair (T1 series 1, T2 series 2) with the given identifiers."""
    ph = make_phantom(seed=seed, shape=shape, spacing=spacing)
    uids = ph.uids
    for number, key, vol in ((1, "t1", ph.t1), (2, "t2", ph.t2)):
        paths = write_dicom_series(vol, folder / key, series_number=number, study_uid=uids["study"],
                                   series_uid=uids[key], frame_of_reference_uid=uids["frame_of_reference"],
                                   patient_id=patient_id, patient_name=patient_name, study_date=study_date,
                                   study_description="Synthetic lumbar spine", uid_seed=f"{uids['study']}/{key}")
        if accession:
            for path in paths:
                ds = pydicom.dcmread(path)
                ds.AccessionNumber = accession
                ds.save_as(path)
    return GeneratedStudy(folder, uids["study"], uids["t1"], uids["t2"], patient_id, patient_name, study_date,
                          accession)


def store(server: OrthancServer, study: GeneratedStudy) -> None:
    upload(server, sorted(study.folder.rglob("*.dcm")))


def archive_for(server: OrthancServer, **kw):
    kw.setdefault("timeout_s", 30.0)
    kw.setdefault("retries", 0)
    kw.setdefault("username", server.auth[0])
    kw.setdefault("password", server.auth[1])
    return open_archive(DicomwebConfig(url=server.dicomweb, **kw))


@pytest.fixture(scope="session")
def pacs_studies(orthanc_server, tmp_path_factory):
    """Three studies in the archive: patient A on 2023-06-01 and 2024-01-10, patient B on 2024-03-05."""
    root = tmp_path_factory.mktemp("pacs_studies")
    clear(orthanc_server)
    studies = {
        "a_old": write_study(root / "a_old", seed=11, patient_id="PACS-A", patient_name="ALPHA^ANNA",
                             study_date="20230601", accession="ACC-A1"),
        "a_new": write_study(root / "a_new", seed=12, patient_id="PACS-A", patient_name="ALPHA^ANNA",
                             study_date="20240110", accession="ACC-A2"),
        "b": write_study(root / "b", seed=13, patient_id="PACS-B", patient_name="BRAVO^BEN",
                         study_date="20240305", accession="ACC-B1"),
    }
    for study in studies.values():
        store(orthanc_server, study)
    return studies


@pytest.fixture()
def archive(orthanc_server):
    return archive_for(orthanc_server)
