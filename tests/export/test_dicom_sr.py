"""The DICOM SR of a study: conformance (dciodvfy, dsrdump), evidence of both series, slabs, private codes."""
from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

from modic_core.errors import InputError
from modic_core.export.codes import PRIVATE_SCHEME
from modic_core.export.dicom_sr import dicom_sr_bytes, read_series_headers, slab_images
from modic_core.pairing.alignment import Alignment
from tests.conformal_sets import SINGLE, TWO_ALWAYS, with_p_values
from tests.export.test_documents import make_report

PHANTOM = Path(__file__).resolve().parents[2] / "demo" / "phantom_dicom"


@pytest.fixture(scope="module")
def study():
    from modic_core.datasets.demo import load_demo

    return load_demo("phantom-dicom")


@pytest.fixture(scope="module")
def headers():
    return read_series_headers(PHANTOM / "t1"), read_series_headers(PHANTOM / "t2")


def sr_report(study, *, ok: bool = True):
    rep = make_report(study)
    rep.alignment = Alignment(method="header", residual_mm=1.2, discs_matched=3, discs_t1=3, ok=ok)
    # the last level lies outside the T2 field of view: no grade
    rep.levels[2] = dataclasses.replace(rep.levels[2], graded=False, prediction="not graded",
                                        probabilities={c: float("nan") for c in ("MC0", "MC1", "MC2")},
                                        note="T2 does not cover this level.")
    return with_p_values(rep, [SINGLE, TWO_ALWAYS, {}], coverage=0.9)  # sets: "MC0", "MC0 or MC2" (uncertain), none


@pytest.fixture(scope="module")
def sr_file(study, headers, tmp_path_factory):
    h1, h2 = headers
    path = tmp_path_factory.mktemp("sr") / "sr.dcm"
    path.write_bytes(dicom_sr_bytes(sr_report(study), study, h1, t2_headers=h2))
    return path


def test_dciodvfy_finds_no_error(sr_file):
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy (apt: dicom3tools) is not installed")
    out = subprocess.run(["dciodvfy", str(sr_file)], capture_output=True, text=True, timeout=60)
    text = out.stdout + out.stderr
    assert "Comprehensive3DSR" in text  # it recognised the IOD
    errors = [line for line in text.splitlines() if line.startswith("Error")]
    assert errors == [], "\n".join(errors)


def test_dsrdump_reads_the_tree(sr_file):
    if shutil.which("dsrdump") is None:
        pytest.skip("dsrdump (apt: dcmtk) is not installed")
    out = subprocess.run(["dsrdump", str(sr_file)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert '(MC0,99MODICCORE,"No Modic change")' in out.stdout
    assert '(NOTGRADED,99MODICCORE,"Not graded")' in out.stdout
    # the "uncertain" flag of each graded level (none for the ungraded one): more than one grade in the set
    assert out.stdout.count('(SETMULTI,99MODICCORE,"Uncertain (more than one grade in the prediction set)")') == 1
    assert out.stdout.count('(SETSINGLE,99MODICCORE,"One grade in the prediction set")') == 1
    assert out.stdout.count('CODE:(,,"Grade in prediction set")=(MC0,') == 2  # "MC0"; "MC0 or MC2"
    assert out.stdout.count('CODE:(,,"Grade in prediction set")=(MC2,99MODICCORE,"Modic type 2 change")') == 1
    assert "Modic SR - Investigational use only" in out.stdout


def test_sr_references_both_series_and_every_slab_slice(sr_file, study, headers):
    import highdicom as hd

    h1, h2 = headers
    ds = pydicom.dcmread(sr_file)
    by_series = {s.SeriesInstanceUID: {r.ReferencedSOPInstanceUID for r in s.ReferencedSOPSequence}
                 for ev in ds.CurrentRequestedProcedureEvidenceSequence for s in ev.ReferencedSeriesSequence}
    assert set(by_series) == {h1[0].SeriesInstanceUID, h2[0].SeriesInstanceUID}  # T1 and T2 are evidence
    by_instance = {int(h.InstanceNumber): h.SOPInstanceUID for h in h1}
    slab_t1 = {by_instance[z + 1] for z in (6, 7, 8)}  # z_range (6, 8) of every level in make_report
    assert by_series[h1[0].SeriesInstanceUID] == slab_t1
    assert len(by_series[h2[0].SeriesInstanceUID]) == 3

    sr = hd.sr.Comprehensive3DSR.from_dataset(ds)
    groups = sr.content.get_volumetric_roi_measurement_groups()
    assert [str(g.tracking_identifier) for g in groups] == ["L3-L4", "L4-L5", "L5-L6"]
    for g in groups:  # one region per slab slice, on the T1 image of that slice
        refs = {r.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID for r in g.roi}
        assert refs == slab_t1
    p = next(m for m in groups[0].get_measurements() if m.name.meaning == "Probability of MC0")
    assert p.value == pytest.approx(0.6)
    sources = {r.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for r in p.referenced_images}
    assert sources == slab_t1 | by_series[h2[0].SeriesInstanceUID]  # a probability cites T1 and T2 of its slab
    assert groups[0].get_qualitative_evaluations()[0].value.scheme_designator == PRIVATE_SCHEME
    assert groups[0].finding_sites[0].value.meaning == "Intervertebral disc structure of third lumbar vertebra"
    # the ungraded level carries no probability and says "Not graded"
    names = [m.name.meaning for m in groups[2].get_measurements()]
    assert names == ["Detector confidence"]
    assert groups[2].get_qualitative_evaluations()[0].value.value == "NOTGRADED"
    assert len(groups[2].get_qualitative_evaluations()) == 1  # no set, no certainty for an ungraded level
    # the prediction set, one evaluation per grade, and the certainty it implies
    evals = [(q.name.value, q.value.value) for q in groups[1].get_qualitative_evaluations()]
    assert evals == [("MODIC-CLASS", "MC0"), ("MODIC-SET", "MC0"), ("MODIC-SET", "MC2"), ("MODIC-CERTAINTY", "SETMULTI")]
    evals = [(q.name.value, q.value.value) for q in groups[0].get_qualitative_evaluations()]
    assert evals == [("MODIC-CLASS", "MC0"), ("MODIC-SET", "MC0"), ("MODIC-CERTAINTY", "SETSINGLE")]
    texts = [str(el.value) for el in ds.iterall() if el.keyword == "TextValue"]
    assert "prediction-set coverage=0.90" in texts  # an algorithm parameter


def test_private_scheme_declared_and_alignment_recorded(sr_file):
    ds = pydicom.dcmread(sr_file)
    schemes = {item.CodingSchemeDesignator: item for item in ds.CodingSchemeIdentificationSequence}
    assert PRIVATE_SCHEME in schemes and "modic_core" in schemes[PRIVATE_SCHEME].CodingSchemeName
    assert len(ds.SeriesDescription) <= 64 and ds.VerificationFlag == "UNVERIFIED"
    texts = [str(el.value) for el in ds.iterall() if el.keyword == "TextValue"]
    assert any(t.startswith("T1/T2 alignment: ") and "aligned" in t for t in texts)


def test_no_sr_when_unreliable_or_not_dicom(study, headers):
    h1, h2 = headers
    with pytest.raises(InputError, match="alignment check failed"):
        dicom_sr_bytes(sr_report(study, ok=False), study, h1, t2_headers=h2)
    with pytest.raises(InputError, match="T1 series as DICOM"):
        dicom_sr_bytes(sr_report(study), study, [])


def test_slab_images_follows_the_shift(study, headers):
    _, h2 = headers
    inst = lambda imgs: [int(h.InstanceNumber) for h in imgs]  # noqa: E731
    assert inst(slab_images(h2, study.t1, (6, 8))) == [7, 8, 9]
    # T2 moved by one slice (4 mm) along the slice normal by the alignment check: the slab is one image over
    shift = 4.0 * np.asarray(study.t1.slice_normal)
    assert inst(slab_images(h2, study.t1, (6, 8), shift_mm=shift)) == [6, 7, 8]
    assert slab_images([], study.t1, (6, 8)) == []


def test_sr_records_naming_uncertain_and_the_users_correction(study, headers, tmp_path):
    from tests.export.test_documents import corrected_report

    import highdicom as hd

    h1, h2 = headers
    rep = corrected_report(study)
    rep.alignment = Alignment(method="header", residual_mm=1.2, discs_matched=3, discs_t1=3, ok=True)
    path = tmp_path / "corrected.dcm"
    path.write_bytes(dicom_sr_bytes(rep, study, h1, t2_headers=h2))
    sr = hd.sr.Comprehensive3DSR.from_dataset(pydicom.dcmread(path))
    groups = sr.content.get_volumetric_roi_measurement_groups()
    assert [str(g.tracking_identifier) for g in groups] == ["L2-L3", "L4-L5", "L5-S1"]
    assert groups[0].finding_sites[0].value.meaning == "Intervertebral disc structure of second lumbar vertebra"
    root = pydicom.dcmread(path).ContentSequence
    qual = next(i for i in root if i.ConceptNameCodeSequence[0].CodeValue == "C0034375")
    items = {i.ConceptNameCodeSequence[0].CodeMeaning: (i.TextValue if i.ValueType == "TEXT" else i.ConceptCodeSequence[0].CodeMeaning)
             for i in qual.ContentSequence}
    assert items["Level naming"] == "Level naming uncertain"
    assert items["Level naming note"].startswith("Level naming uncertain (a gap")
    assert items["Level names"] == "Level names corrected by user"
    assert items["Level name correction by user"] == "L3-L4 renamed to L2-L3"
    if shutil.which("dciodvfy") is not None:
        out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
        assert [ln for ln in (out.stdout + out.stderr).splitlines() if ln.startswith("Error")] == []
    if shutil.which("dsrdump") is not None:
        out = subprocess.run(["dsrdump", str(path)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert '(USERCORR,99MODICCORE,"Level names corrected by user")' in out.stdout
        assert '(UNCERTAIN,99MODICCORE,"Level naming uncertain")' in out.stdout


def test_sr_of_a_plain_report_says_naming_not_flagged(sr_file):
    root = pydicom.dcmread(sr_file).ContentSequence
    qual = next(i for i in root if i.ConceptNameCodeSequence[0].CodeValue == "C0034375")
    codes = [i.ConceptCodeSequence[0].CodeMeaning for i in qual.ContentSequence if i.ValueType == "CODE"]
    assert codes == ["Level naming not flagged"]  # TEXT items: the warnings and alignment record (test_warnings_travel)


def test_sr_without_conformal_calibration_says_no_prediction_set(study, headers, tmp_path):
    import highdicom as hd

    h1, h2 = headers
    rep = make_report(study)  # coverage None: the weights carry no conformal calibration
    rep.alignment = Alignment(method="header", residual_mm=1.2, discs_matched=3, discs_t1=3, ok=True)
    path = tmp_path / "nosets.dcm"
    path.write_bytes(dicom_sr_bytes(rep, study, h1, t2_headers=h2))
    groups = hd.sr.Comprehensive3DSR.from_dataset(pydicom.dcmread(path)).content.get_volumetric_roi_measurement_groups()
    for g in groups:
        evals = [(q.name.value, q.value.value, q.value.meaning) for q in g.get_qualitative_evaluations()]
        assert evals[1:] == [("MODIC-CERTAINTY", "NOSET", "No prediction set (no conformal calibration)")]
    if shutil.which("dciodvfy") is not None:
        out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
        assert [ln for ln in (out.stdout + out.stderr).splitlines() if ln.startswith("Error")] == []
