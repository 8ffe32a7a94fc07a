"""The through-plane check of multi-slice pairs (issue #22, item 1; modic_core.analysis.alignment).

The real case: a Siemens T1 + T2 sagittal DICOM pair, 15 slices each 4.8 mm apart, no
FrameOfReferenceUID, whose T2 lies ~2 slices (~10 mm) off through-plane while its header says
it does not. Reproduced here with a generated phantom written as DICOM: one 19-slice phantom,
T1 = its slices 2-16, T2 = another run of 15 of its slices, both written with the same header
geometry (the T1's) and without a frame of reference.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modic_core.datasets.synthetic import make_phantom
from modic_core.io.dicom_write import write_dicom_series
from modic_core.analysis.alignment import NOTE_SHARED_FRAME, NOTE_SINGLE_SLICE
from modic_core.pairing.alignment import Alignment, slab_centre
from modic_core.pairing.study import load_study
from modic_core.volume import Volume

SPACING = (4.8, 1.3, 1.3)


@pytest.fixture(scope="module")
def detector():
    from modic_core.detection.infer import load_detector

    return load_detector()


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(seed=3, shape=(19, 192, 192), spacing=SPACING, modic={})


def _series(vol: Volume, first: int, n: int, like: Volume) -> Volume:
    """``n`` slices of ``vol`` from ``first``, placed where ``like``'s header says (the T1's)."""
    return Volume(vol.array[first:first + n].copy(), like.spacing, like.origin, like.direction.copy(), vol.meta)


def _write(vol: Volume, folder: Path, description: str) -> Path:
    import pydicom

    write_dicom_series(vol, folder, series_description=description, study_uid="1.2.826.0.1.3680043.8.498.1",
                       patient_id="PHANTOM", uid_seed=description)
    for f in sorted(folder.glob("*.dcm")):  # the real pair records no frame of reference
        ds = pydicom.dcmread(f)
        del ds.FrameOfReferenceUID
        ds.save_as(f)
    return folder


def _pair(phantom, tmp_path: Path, t2_first: int, t2_slices: int = 15):
    t1 = _series(phantom.t1, 2, 15, phantom.t1)
    t2 = _series(phantom.t2, t2_first, t2_slices, t1)
    return load_study(_write(t1, tmp_path / "t1", "T1 TSE SAG"), _write(t2, tmp_path / "t2", "T2 TSE SAG"))


def test_a_pair_sharing_a_frame_of_reference_that_lines_up_skips_the_slice_passes(detector, phantom, tmp_path):
    """The scanner's frame of reference holds and the discs agree: no detector pass over every slice."""
    from modic_core.analysis.alignment import check_alignment

    t1 = _series(phantom.t1, 2, 15, phantom.t1)
    t2 = _series(phantom.t2, 2, 15, t1)
    kw = dict(study_uid="1.2.826.0.1.3680043.8.498.1", patient_id="PHANTOM", frame_of_reference_uid="1.2.826.0.1.3680043.8.498.2")
    write_dicom_series(t1, tmp_path / "t1", series_description="T1 TSE SAG", uid_seed="t1", **kw)
    write_dicom_series(t2, tmp_path / "t2", series_description="T2 TSE SAG", uid_seed="t2", **kw)
    study = load_study(tmp_path / "t1", tmp_path / "t2")
    calls = []
    real = detector.detect_slices
    detector.detect_slices = lambda vol, slices: calls.append(len(slices)) or real(vol, slices)
    try:
        _, al = check_alignment(study, detector)
    finally:
        del detector.detect_slices
    assert al.ok and al.through_plane_mm is None and al.through_plane_note == NOTE_SHARED_FRAME
    assert all(n < 15 for n in calls), calls  # only central slices, never all 15
    assert "not checked: both series share the scanner's frame of reference" in al.sentence()


def test_slab_centre_is_the_weighted_middle_and_ignores_stray_slices():
    assert slab_centre([0, 0, 1, 2, 1, 0, 0]) == pytest.approx(3.0)
    assert slab_centre([0.1, 0, 4, 4, 4, 4, 0]) == pytest.approx(3.5)  # 0.1 < 0.25 x max: a stray lateral hit
    assert slab_centre([0, 0, 0]) is None


def test_a_pair_that_lines_up_passes_with_no_move(detector, phantom, tmp_path):
    from modic_core.analysis.alignment import check_alignment

    study = _pair(phantom, tmp_path, 2)
    assert study.t1.meta.frame_of_reference_uid is None
    out, al = check_alignment(study, detector)
    assert al.ok and not al.problems, al
    assert abs(al.through_plane_mm) <= SPACING[0] / 2 and al.through_plane_residual_mm == al.through_plane_mm
    assert np.allclose(al.translation_mm, 0.0) and out.t2 is study.t2
    assert "through-plane offset" in al.sentence()


def test_a_10_mm_through_plane_offset_is_found_and_repaired(detector, phantom, tmp_path):
    """T2 two slices (9.6 mm) lateral of the T1 with identical headers: the T1 shows the midline,
    the same T2 slice the foramina. Before this check the pair passed on its header, unmoved."""
    from modic_core.analysis.alignment import check_alignment

    study = _pair(phantom, tmp_path, 4)
    out, al = check_alignment(study, detector)
    assert al.through_plane_mm == pytest.approx(9.6, abs=SPACING[0] / 2), al
    assert abs(al.through_plane_residual_mm) <= SPACING[0] / 2, al
    assert al.ok and not al.problems, al
    # the move is along the slice normal (LPS x for sagittal slices) and T2 was re-resampled
    t = np.asarray(al.translation_mm)
    assert abs(abs(t[0]) - 9.6) <= SPACING[0] / 2 and np.linalg.norm(t[1:]) < 3.0, t
    assert out.t2 is not study.t2
    # the placed T2's midline is now the T1's: T1 slice 7 (phantom slice 9) shows T2 content of
    # phantom slice 9 rather than of slice 11 (what the header placed there)
    err = [float(np.abs(out.t2.array[7] - phantom.t2.array[k]).mean()) for k in (9, 11)]
    assert err[0] < err[1], err
    assert al.to_dict()["through_plane_mm"] == round(al.through_plane_mm, 2)


def test_a_t2_slab_that_stops_short_of_the_midline_is_not_ok(detector, phantom, tmp_path):
    """A 5-slice T2 whose slices all lie lateral of the spine's midline (its discs widest on its
    first slice): its midline cannot be found, so no move along the normal can be trusted. Without
    the edge rule this pair was moved 33 mm and reported a 0.4 mm residual (its midline estimate
    stops at its own edge)."""
    from modic_core.analysis.alignment import check_alignment

    study = _pair(phantom, tmp_path, 12, t2_slices=5)
    out, al = check_alignment(study, detector)
    assert not al.ok and al.through_plane_residual_mm is None, al
    assert any("midline could not be found on the T2" in p for p in al.problems), al.problems
    assert np.allclose(al.translation_mm, 0.0) and out.t2 is study.t2
    assert "through-plane offset not measurable" in al.sentence()


def test_an_offset_left_over_half_a_slice_after_the_move_is_not_ok(detector, phantom, tmp_path, monkeypatch):
    """When the re-measured offset is still over half a slice spacing the pair fails (made so here:
    after the move, the T2's disc evidence is read 2 slices lower than it is)."""
    from modic_core.analysis import alignment as mod

    study = _pair(phantom, tmp_path, 4)
    real, seen = mod.slice_weights, []

    def lagging(volume, detector):
        w = real(volume, detector)
        seen.append(volume)
        return w if len(seen) <= 2 else w[2:] + [0.0, 0.0]  # T1, placed T2: as measured; moved T2: lagging

    monkeypatch.setattr(mod, "slice_weights", lagging)
    _, al = mod.check_alignment(study, detector)
    assert not al.ok and abs(al.through_plane_residual_mm) > SPACING[0] / 2, al
    assert any("half a slice spacing" in p for p in al.problems), al.problems


def test_single_slice_pairs_keep_the_in_plane_rule():
    al = Alignment("header", (0.0, 0.0, 0.0), 1.0, 5, 6, True, through_plane_note=NOTE_SINGLE_SLICE)
    assert al.through_plane_mm is None and al.to_dict()["through_plane_mm"] is None
    assert "through-plane offset not measurable on single-slice series" in al.sentence()  # issue #22: say so


def test_the_verdict_names_a_failed_disc_check_before_the_content_problems():
    failed = Alignment("disc correspondence", (0.0, 60.0, 0.0), 5.0, 3, 7, False, problems=("x",), in_plane_ok=False)
    placed = Alignment("header", (0.0, 0.0, 0.0), 1.0, 6, 7, False, problems=("x",), in_plane_ok=True)
    assert "NOT aligned" in failed.sentence()
    assert "placed, but NOT usable as a pair" in placed.sentence()


def test_old_report_json_without_the_new_fields_loads():
    from modic_core.schema import AlignmentRecord

    old = {"method": "header", "translation_mm": [0.0, 0.0, 0.0], "residual_mm": 1.0, "discs_matched": 5, "discs_t1": 6, "ok": True}
    rec = AlignmentRecord.from_dict(old)
    assert rec.through_plane_mm is None and rec.problems == []
    new = Alignment("header", (0.0, 0.0, 0.0), 1.0, 5, 6, False, through_plane_mm=9.6, through_plane_residual_mm=4.0,
                    problems=("x",)).to_dict()
    assert AlignmentRecord.from_dict(new).through_plane_residual_mm == 4.0


# -- a T2 that covers less than the slab a level is graded on (issue #21)


def test_a_single_slice_t2_covers_only_its_own_slice_of_a_multi_slice_t1():
    """Before: a single-slice T2 counted as covering every T1 slice (its through-plane index was
    not checked), so levels were graded with T2 = 0 on two of their three slab slices."""
    from modic_core.pairing.alignment import fov_coverage

    t1 = Volume(np.ones((15, 64, 64), np.float32), (4.8, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3))
    t2 = Volume(np.ones((1, 64, 64), np.float32), (4.0, 1.0, 1.0), (0.0, 0.0, 7 * 4.8), np.eye(3))
    cov = fov_coverage(t1, t2, [(10.0, 10.0, 30.0, 30.0)] * 3, [6, 7, 8])
    assert cov.tolist() == [0.0, 1.0, 0.0]
    one = Volume(np.ones((1, 64, 64), np.float32), (4.8, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3))
    assert fov_coverage(one, t2, [(10.0, 10.0, 30.0, 30.0)], [0]).tolist() == [1.0]  # 2D pairs: today's rule


def test_levels_of_a_multi_slice_t1_not_covered_by_a_single_slice_t2_are_not_graded(detector, phantom):
    from modic_core.analysis.analyze import NOT_GRADED, StudyAnalysis
    from modic_core.pairing.study import make_study

    t1 = _series(phantom.t1, 2, 15, phantom.t1)
    mid = Volume(phantom.t2.array[9:10].copy(), phantom.t2.spacing, tuple(t1.index_to_physical([[7, 0, 0]])[0]),
                 phantom.t2.direction.copy(), phantom.t2.meta)  # T2: the midline slice only
    rep = StudyAnalysis(make_study(t1, mid), detector=detector).report("zscore", 0.5, gradcam=False)
    assert rep.levels
    for lv in rep.levels:  # every level is graded on slices 6-8; T2 has slice 7 only
        assert not lv.graded and lv.prediction == NOT_GRADED and "T2 does not cover this level" in lv.note, lv
        assert "least covered of the 3 slices" in lv.note
    assert any("not graded" in w for w in rep.warnings)
    assert rep.alignment.through_plane_mm is None  # a single-slice T2: not measurable, today's in-plane rule
