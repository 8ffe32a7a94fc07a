"""Disc-centre geometry of the T1/T2 alignment check (modic_core.pairing.alignment)."""
from __future__ import annotations

import numpy as np
import pytest

from modic_core.errors import InputError
from modic_core.pairing.alignment import Alignment, match_centres, measure, translation_from_centres
from modic_core.pairing.identity import identity_warnings
from modic_core.volume import VolumeMeta


def column(n: int = 7, *, spacing: float = 35.0, seed: int = 0) -> np.ndarray:
    """Disc centres (LPS mm) of a lumbar column: a gentle curve, head-foot spacing ~35 mm."""
    rng = np.random.default_rng(seed)
    z = -np.arange(n) * spacing
    y = 8.0 * np.sin(np.linspace(0, np.pi, n)) + rng.normal(0, 0.3, n)
    return np.stack([np.zeros(n), y, z], axis=1)


def test_match_is_one_to_one_and_within_distance():
    a = column()
    b = a + [0, 1.0, 0]
    m = match_centres(a, b)
    assert len(m) == 7 and {i for i, _, _ in m} == set(range(7)) and all(abs(d - 1.0) < 1e-9 for *_, d in m)
    assert match_centres(a, a + [0, 0, 10.0]) == []  # 10 mm off: no disc matches (neighbours are 35 mm away)


def test_measure_ok_rule():
    a = column()
    assert measure(a, a + [0, 1.0, 0])[2] is True
    n, med, ok = measure(a, a + [0, 3.5, 0])  # matched (< 4 mm) but median above 3 mm
    assert n == 7 and med == pytest.approx(3.5) and ok is False
    assert measure(a, a[:3] + [0, 0.5, 0])[2] is False  # only 3 of 7 discs found on T2
    assert measure(a, np.zeros((0, 3)))[:2] == (0, None)


@pytest.mark.parametrize("shift", [[0, 12.0, 110.0], [0, -9.0, -60.0], [0, 4.0, 35.0], [0, 0.0, -17.5]])
def test_translation_recovers_table_moves_with_missing_and_extra_discs(shift):
    a = column(seed=1)
    b = np.concatenate([a[1:6], [[0, 40.0, -300.0]]]) - shift  # T2 misses two discs, has one false box
    t, n = translation_from_centres(a, b)
    assert n == 5
    np.testing.assert_allclose(t, shift, atol=0.5)


def test_translation_keeps_the_through_plane_axis_fixed():
    a = column()
    t, n = translation_from_centres(a, a - [5.0, 2.0, 40.0], keep_axis=[1, 0, 0])
    assert n == 7 and t[0] == pytest.approx(0.0) and t[2] == pytest.approx(40.0, abs=0.5)


def test_translation_of_nothing_is_zero():
    t, n = translation_from_centres(np.zeros((0, 3)), column())
    assert n == 0 and not np.any(t)


def test_alignment_sentence_and_dict():
    al = Alignment("disc correspondence", (0.0, 3.0, 40.0), 1.234, 5, 7, True, False, 38.0, 0)
    assert "aligned" in al.sentence() and "40 mm" in al.sentence() and "5 of 7" in al.sentence()
    assert al.to_dict()["residual_mm"] == 1.23
    assert "NOT aligned" in Alignment("header", residual_mm=9.0, discs_matched=1, discs_t1=6).sentence()


def test_identity_refuses_two_patients_and_warns_on_two_examinations():
    with pytest.raises(InputError, match="different patients"):
        identity_warnings(VolumeMeta(patient_hash="a"), VolumeMeta(patient_hash="b"))
    assert identity_warnings(VolumeMeta(patient_hash="a"), VolumeMeta(patient_hash=None)) == []
    w = identity_warnings(VolumeMeta(study_hash="s1", frame_of_reference_uid="1.2"),
                          VolumeMeta(study_hash="s2", frame_of_reference_uid="1.3"))
    assert len(w) == 2 and "different studies" in w[0] and "frames of reference" in w[1]
