"""Disc level names (modic_core.anatomy)."""
from __future__ import annotations

import pytest

from modic_core.anatomy import LEVEL_NAMES, level_index, level_name


def test_bottom_up_lumbar_then_thoracic_then_cervical():
    assert LEVEL_NAMES[:7] == ["L5-S1", "L4-L5", "L3-L4", "L2-L3", "L1-L2", "T12-L1", "T11-T12"]
    assert "T8-T9" in LEVEL_NAMES and "C7-T1" in LEVEL_NAMES
    assert LEVEL_NAMES[-1] == "C2-C3"
    assert len(LEVEL_NAMES) == len(set(LEVEL_NAMES)) == 5 + 12 + 6


@pytest.mark.parametrize("n", range(1, 24))
def test_level_index_inverts_level_name(n):
    assert level_index(level_name(n)) == n


def test_out_of_range_numbers_keep_a_neutral_name():
    assert level_name(0) == "IVD0"
    assert level_name(24) == "IVD24"
    assert level_index("IVD24") is None
    assert level_index(" l4-l5 ") == 2
