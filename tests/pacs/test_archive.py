"""The archive client against a real Orthanc (DICOMweb plugin, basic auth): search, series, pair, retrieve."""
from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from modic_core.pacs import PacsError, SeriesHit
from modic_core.pairing.study import load_study
from tests.pacs.conftest import archive_for


def test_search_by_each_criterion(archive, pacs_studies):
    a_old, a_new, b = pacs_studies["a_old"], pacs_studies["a_new"], pacs_studies["b"]
    hits = archive.search_studies(patient_id="PACS-A")
    assert [h.study_uid for h in hits] == [a_new.study_uid, a_old.study_uid]  # newest first
    assert hits[0].patient_name == "ALPHA^ANNA" and hits[0].study_date == date(2024, 1, 10)
    assert hits[0].accession == "ACC-A2" and "MR" in hits[0].modalities
    assert [h.study_uid for h in archive.search_studies(patient_name="BRAVO*")] == [b.study_uid]
    assert [h.study_uid for h in archive.search_studies(accession="ACC-A1")] == [a_old.study_uid]
    in_2024 = archive.search_studies(date_from=date(2024, 1, 1), date_to=date(2024, 12, 31))
    assert {h.study_uid for h in in_2024} >= {a_new.study_uid, b.study_uid}
    assert a_old.study_uid not in {h.study_uid for h in in_2024}
    assert archive.search_studies(patient_id="NOBODY") == []


def test_search_needs_a_criterion_and_sane_dates(archive):
    with pytest.raises(PacsError, match="at least one search criterion"):
        archive.search_studies()
    with pytest.raises(PacsError, match="swap"):
        archive.search_studies(date_from=date(2024, 2, 1), date_to=date(2024, 1, 1))


def test_series_are_listed_with_plane_sequence_and_count(archive, pacs_studies):
    study = pacs_studies["b"]
    series = archive.list_series(study.study_uid)
    assert [(s.series_uid, s.number, s.modality, s.plane, s.sequence, s.n_instances) for s in series] == [
        (study.t1_uid, 1, "MR", "sagittal", "T1", 5), (study.t2_uid, 2, "MR", "sagittal", "T2", 5)]
    proposal = archive.propose_pair(series)
    assert proposal is not None and proposal.confident
    assert (proposal.t1.series_uid, proposal.t2.series_uid) == (study.t1_uid, study.t2_uid)


def _hit(uid, plane, sequence, description="", modality="MR"):
    return SeriesHit(series_uid=uid, number=None, description=description, modality=modality, plane=plane,
                     n_instances=15, sequence=sequence)


def test_propose_pair_needs_a_sagittal_t1_t2_pair(archive):
    assert archive.propose_pair([_hit("1", "sagittal", "T1")]) is None
    assert archive.propose_pair([_hit("1", "axial", "T1"), _hit("2", "axial", "T2")]) is None
    assert archive.propose_pair([_hit("1", "sagittal", "T2"), _hit("2", "sagittal", "T2")]) is None
    assert archive.propose_pair([_hit("1", "sagittal", "T1"), _hit("2", None, None, modality="SR")]) is None
    unsure = archive.propose_pair([_hit("1", "sagittal", None), _hit("2", "sagittal", "T2"), _hit("3", "axial", "T1")])
    assert unsure is not None and not unsure.confident and (unsure.t1.series_uid, unsure.t2.series_uid) == ("1", "2")


def test_retrieve_pair_gives_the_same_study_as_the_files(archive, pacs_studies):
    study = pacs_studies["a_new"]
    got = archive.retrieve_pair(study.study_uid, study.t1_uid, study.t2_uid)
    local = load_study(study.folder / "t1", study.folder / "t2")
    np.testing.assert_array_equal(got.t1.array, local.t1.array)
    np.testing.assert_array_equal(got.t2.array, local.t2.array)
    assert got.sources == {"t1": "PACS T1 series", "t2": "PACS T2 series"}
    assert study.study_uid not in got.study_id and "PACS-A" not in got.study_id


def test_retrieval_stops_at_the_upload_limit(archive, pacs_studies, monkeypatch):
    study = pacs_studies["b"]
    monkeypatch.setenv("MODIC_MAX_UPLOAD_MB", "0.05")  # 51 kB: the T1 alone is ~45 kB, both are not
    with pytest.raises(PacsError, match="larger than 0 MiB|MODIC_MAX_UPLOAD_MB"):
        archive.retrieve_pair(study.study_uid, study.t1_uid, study.t2_uid)


def test_retrieval_checks_the_instance_count_first(archive, pacs_studies, monkeypatch):
    study = pacs_studies["b"]
    monkeypatch.setenv("MODIC_MAX_SLICES", "4")
    with pytest.raises(PacsError, match="MODIC_MAX_SLICES"):
        archive.retrieve_pair(study.study_uid, study.t1_uid, study.t2_uid)


def test_wrong_password_is_a_clear_401(orthanc_server, pacs_studies):
    bad = archive_for(orthanc_server, username="modic-test", password="not-the-password")
    with pytest.raises(PacsError, match="HTTP 401") as err:
        bad.search_studies(patient_id="PACS-A")
    assert "not-the-password" not in str(err.value) and err.value.__cause__ is None


def test_uids_are_checked_before_any_request(archive):
    with pytest.raises(PacsError, match="not a DICOM UID"):
        archive.list_series("1.2.3/../../system")


def test_no_patient_data_or_credentials_in_the_log(archive, pacs_studies, caplog, monkeypatch):
    import logging

    caplog.set_level(logging.DEBUG)
    study = pacs_studies["a_new"]
    archive.search_studies(patient_id=study.patient_id, patient_name="ALPHA*", accession=study.accession)
    archive.retrieve_pair(study.study_uid, study.t1_uid, study.t2_uid)
    monkeypatch.setenv("MODIC_MAX_SLICES", "2")
    with pytest.raises(PacsError):
        archive.retrieve_pair(study.study_uid, study.t1_uid, study.t2_uid)
    text = caplog.text
    for secret in (study.patient_id, "ALPHA", study.accession, study.study_date, archive.config.password):
        assert secret not in text
