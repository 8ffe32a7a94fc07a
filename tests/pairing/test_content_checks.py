"""Content checks of a placed T1/T2 pair (issue #21: no silent wrong grade from a wrong T2).

Found by an adversarial pass: T1 and T2 swapped in neutrally named files, T2 pixels upside down
with the header unchanged, and a "T2" that is the T1 with one pixel changed were all reported
"aligned" and graded. Each must now make the alignment check fail with a plain sentence, while
the real pairs stay "aligned".
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from modic_core.pairing import content
from modic_core.pairing.study import load_study, make_study
from modic_core.volume import Study, Volume

FIX = Path(__file__).resolve().parents[1] / "fixtures"
PAIRS = [FIX / "spider_pair", FIX / "spider2d_mini" / "85", FIX / "spider2d_mini" / "137"]


@pytest.fixture(scope="module")
def detector():
    from modic_core.detection.infer import load_detector

    return load_detector()


def _neutral(v: Volume, array: np.ndarray | None = None) -> Volume:
    """As an unnamed MHA file gives it: no sequence, description, timing or series identity."""
    meta = dataclasses.replace(v.meta, sequence="unknown", series_description=None, series_uid_hash=None,
                               repetition_time_ms=None, echo_time_ms=None)
    return Volume(v.array if array is None else array, v.spacing, v.origin, v.direction.copy(), meta)


def _check(study: Study, detector):
    from modic_core.analysis.alignment import check_alignment

    return check_alignment(study, detector)[1]


# -- the scores on a drawn slice (no detector)


def _slice(*, t2: bool) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """A 120 x 120 sagittal slice (columns anterior -> posterior): a vertebral column with one disc
    box, the canal behind it. T1: marrow 200, disc 90, CSF 40; T2: marrow 150, disc 170, CSF 250."""
    img = np.full((120, 120), 60.0)
    marrow, disc, csf = (150.0, 170.0, 250.0) if t2 else (200.0, 90.0, 40.0)
    img[10:110, 30:70] = marrow  # vertebral bodies
    img[54:66, 30:70] = disc
    img[10:110, 72:86] = csf  # the canal
    return img, (28.0, 50.0, 72.0, 70.0)


def test_contrast_score_is_positive_for_t1_then_t2_and_negative_swapped():
    a, box = _slice(t2=False)
    b, _ = _slice(t2=True)
    good, n = content.contrast_score(a[None], b[None], [box], [0])
    bad, _ = content.contrast_score(b[None], a[None], [box], [0])
    assert n == 1 and good > content.MIN_CONTRAST_SCORE > bad
    # posterior to the left: the same images mirrored give the same score
    mirrored, _ = content.contrast_score(a[None, :, ::-1], b[None, :, ::-1], [(48.0, 50.0, 92.0, 70.0)], [0], posterior=-1.0)
    assert mirrored == pytest.approx(good)


def test_posterior_sign_from_the_direction_matrix():
    pir = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    assert content.posterior_sign(pir) == 1.0
    assert content.posterior_sign(-pir) == -1.0


def test_similarity_of_a_series_with_itself_is_one_and_of_t1_t2_lower():
    a, _ = _slice(t2=False)
    b, _ = _slice(t2=True)
    one_off = a.copy()
    one_off[5, 5] += 1.0
    assert content.similarity(a, one_off) > content.MAX_SIMILARITY
    assert content.similarity(a, b) < content.MAX_SIMILARITY


# -- the whole check on real pairs (single-slice SPIDER exports, shipped detector)


@pytest.mark.parametrize("root", PAIRS, ids=lambda p: p.name)
def test_real_pairs_pass_with_no_problem(detector, root):
    al = _check(load_study(root / "t1.mha", root / "t2.mha"), detector)
    assert al.ok and al.problems == (), al
    assert al.contrast_score > content.MIN_CONTRAST_SCORE and al.similarity < content.MAX_SIMILARITY
    assert al.flip_gain < content.MAX_FLIP_GAIN


@pytest.mark.parametrize("root", PAIRS, ids=lambda p: p.name)
def test_t1_and_t2_contents_swapped_are_flagged(detector, root):
    s = load_study(root / "t1.mha", root / "t2.mha")
    al = _check(make_study(_neutral(s.t2_native), _neutral(s.t1)), detector)
    assert not al.ok and any("swapped" in p for p in al.problems), al
    assert "NOT usable" in al.sentence()


@pytest.mark.parametrize("root", PAIRS, ids=lambda p: p.name)
def test_a_t2_upside_down_under_its_header_is_flagged(detector, root):
    s = load_study(root / "t1.mha", root / "t2.mha")
    t2 = s.t2_native
    flipped = Volume(t2.array[:, ::-1].copy(), t2.spacing, t2.origin, t2.direction.copy(), t2.meta)
    al = _check(make_study(s.t1, flipped), detector)
    assert not al.ok and any("upside down" in p for p in al.problems), al


def test_a_t2_that_is_the_t1_with_one_pixel_changed_is_flagged(detector):
    s = load_study(PAIRS[0] / "t1.mha", PAIRS[0] / "t2.mha")
    arr = s.t1.array.copy()
    arr[0, arr.shape[1] // 2, arr.shape[2] // 2] += 1.0
    al = _check(make_study(s.t1, _neutral(s.t1, arr)), detector)
    assert not al.ok and any("identical" in p for p in al.problems), al
    assert al.similarity > 0.999


def test_a_flagged_pair_is_unreliable_with_the_sentence_in_the_report(detector):
    from modic_core.analysis.analyze import StudyAnalysis

    s = load_study(PAIRS[0] / "t1.mha", PAIRS[0] / "t2.mha")
    rep = StudyAnalysis(make_study(_neutral(s.t2_native), _neutral(s.t1)), detector=detector).report("zscore", 0.5, gradcam=False)
    assert not rep.reliable
    assert any("swapped" in w for w in rep.warnings)
    d = rep.to_dict()["alignment"]
    assert d["ok"] is False and d["problems"] and d["contrast_score"] < 0
