"""The plain sentence beside a call (modic_core.evaluation.call_meaning), on hand-built out-of-fold data."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modic_core.evaluation.call_meaning import (CONFIDENCE_EDGES, MIN_LEVELS, CallMeaning, call_table, load_call_table,
                                                no_data_sentence)

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"


def _calls(top: float, grade: int, n: int, n_right: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` probability rows calling class ``grade`` with top probability ``top``; the first ``n_right`` truly it."""
    rest = (1.0 - top) / 2
    p = np.full((n, 3), rest)
    p[:, grade] = top
    other = (grade + 1) % 3
    y = np.array([grade] * n_right + [other] * (n - n_right))
    return p, y


def test_enough_levels_give_about_n_in_ten():
    p, y = _calls(0.75, 2, 20, 14)
    table = call_table(probs=p, y=y, method="zscore")
    m = table.meaning(grade="MC2", confidence=0.78)
    assert (m.n, m.n_right, m.lower, m.upper) == (20, 14, 0.7, 0.8)
    assert m.sentence == ("Of levels called MC2 with this confidence (0.70-0.80), about 7 in 10 were MC2 "
                          "(cross-validation, n = 20 levels).")


def test_below_the_minimum_says_too_few():
    p, y = _calls(0.75, 2, MIN_LEVELS - 1, MIN_LEVELS - 1)
    m = call_table(probs=p, y=y, method="zscore").meaning(grade="MC2", confidence=0.71)
    assert not m.enough and m.in_ten is None
    assert m.sentence.startswith("Too few levels called MC2 at this confidence (0.70-0.80)")
    assert f"n = {MIN_LEVELS - 1} levels" in m.sentence
    # another grade or another bin holds none of these levels
    assert call_table(probs=p, y=y, method="zscore").meaning(grade="MC0", confidence=0.75).n == 0
    assert call_table(probs=p, y=y, method="zscore").meaning(grade="MC2", confidence=0.85).n == 0
    assert "n = 1 level)" in CallMeaning(grade="MC1", lower=0.5, upper=0.6, n=1, n_right=0).sentence


def test_bins_are_fixed_and_edges_go_up():
    assert CONFIDENCE_EDGES[0] == 0.0 and CONFIDENCE_EDGES[-1] == 1.0
    table = call_table(probs=np.zeros((0, 3)), y=[], method="zscore")
    assert table.bin_of(0.4999) == 0 and table.bin_of(0.5) == 1 and table.bin_of(0.9) == 5 and table.bin_of(1.0) == 5
    assert table.meaning(grade="MC0", confidence=0.45).confidence_label == "below 0.50"


def test_half_rounds_up_and_wrong_calls_count_against():
    p1, y1 = _calls(0.95, 0, 20, 15)  # 7.5 in 10 -> 8
    p2, y2 = _calls(0.55, 0, 30, 3)   # 1 in 10
    table = call_table(probs=np.vstack([p1, p2]), y=np.concatenate([y1, y2]), method="zscore")
    assert table.meaning(grade="MC0", confidence=0.99).in_ten == 8
    assert table.meaning(grade="MC0", confidence=0.5).in_ten == 1


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError):
        call_table(probs=np.zeros((3, 2)), y=[0, 1, 2], method="zscore")


def _oof(folder: Path, method: str, rows: list[tuple[int, list[float], str]]) -> None:
    pd.DataFrame([{"study_id": str(i), "level": "L4-L5", "modic": y, "fold": i % 5, "manufacturer": "x",
                   "field_strength_t": 1.5, "logit_mc0": z[0], "logit_mc1": z[1], "logit_mc2": z[2], "role": role}
                  for i, (y, z, role) in enumerate(rows)]).to_csv(folder / f"conformal_oof_{method}.csv", index=False)


def test_loaded_from_the_methods_own_files_real_levels_only(tmp_path):
    shutil.copy(WEIGHTS / "classifier_zscore.json", tmp_path / "classifier_zscore.json")
    rows = [(2, [0.0, 0.0, 8.0], "cv")] * 18 + [(0, [0.0, 0.0, 8.0], "cv")] * 4 \
        + [(1, [0.0, 0.0, 8.0], "synthetic_mc1")] * 50  # synthetic lesions are not real levels: left out
    _oof(tmp_path, "zscore", rows)
    m = load_call_table(method="zscore", folder=tmp_path).meaning(grade="MC2", confidence=0.99)
    assert (m.n, m.n_right, m.in_ten) == (22, 18, 8)
    # no OOF file of this method: no table (the z-score file is not borrowed)
    shutil.copy(WEIGHTS / "classifier_zscore.json", tmp_path / "classifier_nyul.json")
    assert load_call_table(method="nyul", folder=tmp_path) is None
    assert "No cross-validated predictions are shipped for Nyul" in no_data_sentence("Nyul")


def test_shipped_zscore_table_counts_every_real_cross_validation_level():
    oof = pd.read_csv(WEIGHTS / "conformal_oof_zscore.csv")
    table = load_call_table(method="zscore", folder=WEIGHTS)
    assert sum(n for n, _ in table.cells.values()) == int((oof["role"] == "cv").sum())
    assert sum(r for _, r in table.cells.values()) <= sum(n for n, _ in table.cells.values())


def test_short_cell_says_the_same_as_the_sentence():
    """The table column (viewer, CSV) is the sentence's figure in a few words, or says there are too few."""
    p, y = _calls(0.75, 2, 20, 14)
    m = call_table(probs=p, y=y, method="zscore").meaning(grade="MC2", confidence=0.78)
    assert m.short == "About 7 in 10 right (CV)"
    assert CallMeaning(grade="MC2", lower=0.7, upper=0.8, n=12, n_right=12).short == "Too few in CV (n = 12)"


def test_viewer_table_carries_the_call_meaning_column():
    """modic_core.ui.viewer._table_rows: one "call meaning" cell per graded level, from the shipped z-score CV."""
    from types import SimpleNamespace

    from modic_core.ui.call_meaning import call_texts
    from modic_core.ui.viewer import _table_rows

    lv = SimpleNamespace(level="L4-L5", score=0.9, z_range=(0, 0), box=(0, 0, 10, 10), prediction="MC2", uncertain=False,
                         probabilities={"MC0": 0.2, "MC1": 0.05, "MC2": 0.75}, prediction_set=("MC2",), signal=None,
                         graded=True)
    table = _table_rows([lv], graded=True, meanings=call_texts([lv], method="zscore"))
    column = next(c for c in table["columns"] if "meaning" in c)
    cell = table["rows"][0][column]
    assert cell.startswith("About ") and cell.endswith(" in 10 right (CV)") or cell.startswith("Too few in CV")
