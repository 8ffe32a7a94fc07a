"""Formula-injection escaping of the CSVs the product writes."""
from __future__ import annotations

import io

import pandas as pd
import pytest

from modic_core.io.csv_safe import escape_cell, escape_frame, unescape_cell


@pytest.mark.parametrize("text", ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_formula_like_text_is_escaped_and_round_trips(text):
    assert escape_cell(text) == "'" + text
    assert unescape_cell(escape_cell(text)) == text


@pytest.mark.parametrize("value", ["L4-L5", "MC0", "", "'quoted", "1a2b", -0.5, 3, None, float("nan")])
def test_other_values_are_untouched(value):
    out = escape_cell(value)
    assert out is value or out == value
    if isinstance(value, str):
        assert unescape_cell(value) == value


def test_frame_escapes_text_columns_only():
    df = pd.DataFrame({"study_id": ["=HYPERLINK(\"x\")", "12"], "p": [-0.5, 0.25], "level": ["L4-L5", "-L1"]})
    back = pd.read_csv(io.StringIO(escape_frame(df).to_csv(index=False)))
    assert back["study_id"].astype(str).tolist() == ["'=HYPERLINK(\"x\")", "12"]
    assert back["p"].tolist() == [-0.5, 0.25]  # numbers stay numbers
    assert back["level"].tolist() == ["L4-L5", "'-L1"]
    assert df["study_id"][0].startswith("=")  # the input frame is not modified
