"""Pairing of DICOM series from one or two examinations (issue: pairing you can trust).

The pairs are the bundled synthetic phantom's T1 and T2 DICOM series, rewritten with other
patients, other studies and frames of reference, and table moves.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from modic_core.errors import InputError
from modic_core.io import load_series
from modic_core.io.dicom_write import write_dicom_series
from modic_core.pairing.study import load_study
from modic_core.volume import Volume

PHANTOM = Path(__file__).resolve().parents[2] / "demo" / "phantom_dicom"


@pytest.fixture(scope="module")
def phantom():
    return load_series(PHANTOM / "t1"), load_series(PHANTOM / "t2")


def _write(vol: Volume, folder: Path, *, shift=(0.0, 0.0, 0.0), **kw) -> Path:
    moved = Volume(vol.array, vol.spacing, tuple(np.add(vol.origin, shift)), vol.direction.copy(),
                   dataclasses.replace(vol.meta, frame_of_reference_uid=None))
    write_dicom_series(moved, folder, **kw)
    return folder


def test_two_patients_are_refused(phantom, tmp_path):
    t1, t2 = phantom
    a = _write(t1, tmp_path / "t1", patient_id="PAT-A", patient_name="A^A", study_uid="1.2.3.1", frame_of_reference_uid="1.2.3.9")
    b = _write(t2, tmp_path / "t2", patient_id="PAT-B", patient_name="B^B", study_uid="1.2.3.1", frame_of_reference_uid="1.2.3.9")
    with pytest.raises(InputError, match="different patients"):
        load_study(a, b)


def test_two_examinations_warn_and_a_table_move_is_undone(phantom, tmp_path):
    from modic_core.analysis.analyze import StudyAnalysis

    t1, t2 = phantom
    a = _write(t1, tmp_path / "t1", study_uid="1.2.3.1", frame_of_reference_uid="1.2.3.10", series_description="T1 TSE SAG")
    b = _write(t2, tmp_path / "t2", shift=(0.0, 6.0, -45.0), study_uid="1.2.3.2", frame_of_reference_uid="1.2.3.20",
               series_description="T2 TSE SAG")
    study = load_study(a, b)
    assert any("different studies" in w for w in study.warnings)
    assert any("frames of reference" in w for w in study.warnings)
    rep = StudyAnalysis(study).report("zscore", 0.5)
    al = rep.alignment
    assert al.ok and al.method == "disc correspondence" and not al.header_trusted, al
    np.testing.assert_allclose(np.asarray(al.translation_mm)[1:], [-6.0, 45.0], atol=3.0)
    assert rep.reliable and all(lv.graded for lv in rep.levels)
    assert any("different studies" in w for w in rep.warnings)


def test_same_examination_is_placed_by_its_header(phantom, tmp_path):
    from modic_core.analysis.analyze import StudyAnalysis

    t1, t2 = phantom
    a = _write(t1, tmp_path / "t1", study_uid="1.2.3.1", frame_of_reference_uid="1.2.3.10")
    b = _write(t2, tmp_path / "t2", study_uid="1.2.3.1", frame_of_reference_uid="1.2.3.10")
    study = load_study(a, b)
    assert study.warnings == []
    rep = StudyAnalysis(study).report("zscore", 0.5)
    assert rep.alignment.ok and rep.alignment.method == "header"
    # phantoms have no sacrum the detector recognises: the only warnings allowed are the naming one and, since the
    # phantom's "maker" is not one the prediction sets were calibrated on, the sets' scope warning
    assert all(w.startswith(("Level naming uncertain", "Prediction sets: this series comes from")) for w in rep.warnings)


def test_a_t2_that_covers_only_part_of_the_column_leaves_the_rest_ungraded(phantom, tmp_path):
    from modic_core.analysis.analyze import StudyAnalysis

    t1, t2 = phantom
    half = t2.array.shape[1] // 2
    top = Volume(t2.array[:, :half].copy(), t2.spacing, t2.origin, t2.direction.copy(), t2.meta)  # rows 0..half: upper part
    a = _write(t1, tmp_path / "t1", study_uid="1.2.3.1", frame_of_reference_uid="1.2.3.10")
    b = _write(top, tmp_path / "t2", study_uid="1.2.3.1", frame_of_reference_uid="1.2.3.10")
    rep = StudyAnalysis(load_study(a, b)).report("zscore", 0.5)
    graded = [lv.graded for lv in rep.levels]
    assert any(graded) and not all(graded), [(lv.level, lv.graded, lv.note) for lv in rep.levels]
    for lv in rep.levels:
        if not lv.graded:
            assert lv.prediction == "not graded" and "T2 does not cover" in lv.note
            assert all(np.isnan(v) for v in lv.probabilities.values())
    assert any("not graded" in w for w in rep.warnings)


def test_an_upload_with_two_patients_is_grouped_and_paired_within_one(phantom, tmp_path):
    from modic_core.io import list_series
    from modic_core.ui.uploads import auto_pair, group_labels

    t1, t2 = phantom
    up = tmp_path / "upload"
    _write(t1, up / "a1", patient_id="PAT-A", study_uid="1.2.3.1", series_description="T1 TSE SAG", series_number=3)
    _write(t2, up / "b2", patient_id="PAT-B", study_uid="1.2.3.7", series_description="T2 TSE SAG", series_number=4)
    _write(t2, up / "a2", patient_id="PAT-A", study_uid="1.2.3.1", series_description="T2 TSE SAG", series_number=5)
    infos = list_series(up)
    assert len(infos) == 3
    groups = group_labels(infos)
    assert sorted(set(groups)) == ["patient A, study 1", "patient B, study 2"]
    pairing = auto_pair(infos)
    a, b = infos[pairing.t1], infos[pairing.t2]
    assert a.patient_hash == b.patient_hash and {a.series_number, b.series_number} == {3, 5}
    assert "PAT-A" not in " ".join(groups)
