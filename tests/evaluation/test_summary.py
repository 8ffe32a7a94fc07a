"""The README's result tables are exactly what `python -m modic_core.evaluation.summary` prints from the shipped JSONs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from modic_core.evaluation.summary import comparison_table_md, detector_table

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name,fn", [("detector.json", detector_table), ("normalization_comparison.json", comparison_table_md)])
def test_readme_quotes_the_shipped_results(name, fn):
    doc = json.loads((ROOT / "weights" / name).read_text())
    readme = (ROOT / "README.md").read_text()
    table = [line for line in fn(doc).splitlines() if line.startswith("|")]
    assert len(table) >= 4
    missing = [line for line in table if line not in readme]
    assert not missing, f"README is stale; rerun python -m modic_core.evaluation.summary: {missing[:2]}"
