"""The T1/T2 alignment check with the shipped detector on real pairs (modic_core.analysis.alignment)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modic_core.pairing.study import load_study, resample_to
from modic_core.volume import Study, Volume

FIX = Path(__file__).resolve().parents[1] / "fixtures"
MINI = FIX / "spider2d_mini"
MISALIGNED = FIX / "spider_misaligned"


@pytest.fixture(scope="module")
def detector():
    from modic_core.detection.infer import load_detector

    return load_detector()


def _study(root: Path, sid: str) -> Study:
    base = root / sid if (root / sid / "t1.mha").is_file() else root / "studies" / sid
    return load_study(base / "t1.mha", base / "t2.mha", study_id=sid)


def _moved(study: Study, shift) -> Study:
    n = study.t2_native
    moved = Volume(n.array, n.spacing, tuple(np.asarray(n.origin) + shift), n.direction.copy(), n.meta)
    return Study(t1=study.t1, t2=resample_to(moved, study.t1), t2_native=moved, study_id=study.study_id)


@pytest.mark.parametrize("sid", ["85", "137", "160"])
def test_aligned_pairs_pass_on_their_header(detector, sid):
    from modic_core.analysis.alignment import check_alignment

    study = _study(MINI, sid)
    out, al = check_alignment(study, detector)
    assert al.ok and al.method == "header", al
    assert al.residual_mm < 3.0 and al.discs_matched >= min(4, al.discs_t1)  # the rule: >= 4 discs, or all found
    assert out.t2 is study.t2  # nothing moved


@pytest.mark.parametrize("shift", [(0.0, 10.0, 70.0), (0.0, -8.0, -40.0)])
def test_a_table_move_is_found_and_undone(detector, shift):
    from modic_core.analysis.alignment import check_alignment

    study = _moved(_study(MINI, "137"), np.array(shift))
    out, al = check_alignment(study, detector)
    assert al.ok and al.method == "disc correspondence", al
    assert al.header_discs_matched < 4  # the header placement was caught as wrong
    err = np.asarray(al.translation_mm)[1:] + np.asarray(shift)[1:]  # in-plane (A-P, S-I) error
    assert np.linalg.norm(err) < 3.0, al.translation_mm
    assert out.t2 is not study.t2


@pytest.mark.parametrize("sid", ["9", "55"])
def test_pairs_the_cohort_marks_not_aligned_are_flagged_or_repaired(detector, sid):
    from modic_core.analysis.alignment import check_alignment

    _, al = check_alignment(_study(MISALIGNED, sid), detector)
    assert (not al.ok) or al.method == "disc correspondence", al
