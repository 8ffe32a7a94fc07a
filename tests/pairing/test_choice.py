"""The T1/T2 pairing rule shared by uploads and the PACS (modic_core/pairing/choice.py)."""
from __future__ import annotations

import pytest

from modic_core.pairing.choice import PairCandidate, best_pair, is_confident, same_group


def test_sagittal_t1_t2_win_over_special_and_axial_series():
    cands = [PairCandidate("T2", "sagittal", "T2 STIR SAG", 15), PairCandidate("T1", "axial", "T1 AX", 30),
             PairCandidate("T1", "sagittal", "T1 TSE SAG", 15), PairCandidate("T2", "sagittal", "T2 TSE SAG", 15)]
    i, j = best_pair(cands)
    assert (i, j) == (2, 3) and is_confident(cands[i], cands[j])


def test_two_patients_are_never_paired_when_one_patient_has_both():
    cands = [PairCandidate("T1", "sagittal", patient_hash="p1"), PairCandidate("T2", "sagittal", patient_hash="p2"),
             PairCandidate("unknown", "sagittal", patient_hash="p1")]
    i, j = best_pair(cands)
    assert (i, j) == (0, 2) and not is_confident(cands[i], cands[j]) and same_group(cands[i], cands[j])
    assert not same_group(cands[0], cands[1])


def test_fewer_than_two_candidates():
    with pytest.raises(ValueError):
        best_pair([PairCandidate("T1", "sagittal")])
