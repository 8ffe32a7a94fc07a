"""``modic-analyze --dicomweb URL --study UID``: auto-paired from the real Orthanc, files written, SR stored;
exit 2 with a sentence when the study holds no sagittal T1/T2 pair."""
from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest

from modic_core.export.cli import main
from tests.orthanc_support import upload
from tests.pacs.conftest import write_study

PHANTOM = Path(__file__).resolve().parents[2] / "demo" / "phantom_dicom"


@pytest.fixture()
def signed_in(monkeypatch, orthanc_server):
    monkeypatch.delenv("MODIC_DICOMWEB_TOKEN", raising=False)
    monkeypatch.setenv("MODIC_DICOMWEB_USER", orthanc_server.auth[0])
    monkeypatch.setenv("MODIC_DICOMWEB_PASSWORD", orthanc_server.auth[1])
    monkeypatch.setenv("MODIC_DICOMWEB_RETRIES", "0")
    return orthanc_server


def test_auto_paired_study_from_the_archive(signed_in, archive, pacs_studies, tmp_path, capsys):
    upload(signed_in, sorted(PHANTOM.rglob("*.dcm")))
    study_uid = str(pydicom.dcmread(sorted((PHANTOM / "t1").glob("*.dcm"))[0], stop_before_pixels=True).StudyInstanceUID)
    before = {h.sop_uid for h in archive.find_srs(study_uid)}
    out = tmp_path / "out.json"
    status = main(["--dicomweb", signed_in.dicomweb, "--study", study_uid, "--json", str(out),
                   "--csv", str(tmp_path / "out.csv"), "--no-gradcam", "--store-sr"])
    printed = capsys.readouterr()
    assert status == 0, printed.err
    csv = (tmp_path / "out.csv").read_text()
    assert json.loads(out.read_text())["levels"] and csv.startswith("study,level")
    patient_id = str(pydicom.dcmread(sorted((PHANTOM / "t1").glob("*.dcm"))[0], stop_before_pixels=True).PatientID)
    assert patient_id not in csv and study_uid not in csv
    assert "stored the DICOM SR in the PACS" in printed.out
    assert len({h.sop_uid for h in archive.find_srs(study_uid)} - before) == 1
    assert signed_in.auth[1] not in printed.out + printed.err


def test_no_sagittal_pair_exits_2_with_a_sentence(signed_in, pacs_studies, tmp_path, capsys):
    lonely = write_study(tmp_path / "lonely", seed=21, patient_id="PACS-C", patient_name="CHARLIE^C")
    upload(signed_in, sorted((lonely.folder / "t1").glob("*.dcm")))  # the T1 only
    status = main(["--dicomweb", signed_in.dicomweb, "--study", lonely.study_uid, "--json", str(tmp_path / "o.json")])
    err = capsys.readouterr().err
    assert status == 2 and "no sagittal T1/T2 pair" in err and "Traceback" not in err
    assert not (tmp_path / "o.json").exists()


def test_half_a_pair_and_a_refused_sign_in_exit_2(signed_in, pacs_studies, tmp_path, capsys, monkeypatch):
    study = pacs_studies["b"]
    status = main(["--dicomweb", signed_in.dicomweb, "--study", study.study_uid, "--t1-series", study.t1_uid,
                   "--json", str(tmp_path / "o.json")])
    assert status == 2 and "--t1-series and --t2-series" in capsys.readouterr().err
    monkeypatch.setenv("MODIC_DICOMWEB_PASSWORD", "wrong-pw-123")
    status = main(["--dicomweb", signed_in.dicomweb, "--study", study.study_uid, "--json", str(tmp_path / "o.json")])
    err = capsys.readouterr().err
    assert status == 2 and "HTTP 401" in err and "wrong-pw-123" not in err
