"""The README's headline figures are exactly what `python -m modic_core.evaluation.headline` prints from the shipped JSONs."""
from __future__ import annotations

import json
from pathlib import Path

from modic_core.evaluation.headline import headline, load_shipped
from modic_core.schema import ConformalEvaluation

ROOT = Path(__file__).resolve().parents[2]


def test_readme_quotes_the_headline_figures():
    lines = headline(**load_shipped()).splitlines()
    assert len(lines) == 4 and all(line.startswith("- **") for line in lines)
    readme = (ROOT / "README.md").read_text()
    missing = [line for line in lines if line not in readme]
    assert not missing, f"README is stale; rerun python -m modic_core.evaluation.headline: {missing[:2]}"


def test_headline_follows_the_json(tmp_path):
    """A changed figure in the conformal document changes the quoted line (so the README test above would fail)."""
    raw = json.loads((ROOT / "weights" / "conformal.json").read_text())
    raw["scores"][raw["chosen_score"]]["singleton_share"]["value"] = 0.25
    (tmp_path / "conformal.json").write_text(json.dumps(raw))
    docs = load_shipped()
    docs["conformal"] = ConformalEvaluation.load(tmp_path / "conformal.json")
    assert "25.0 % of levels get a single grade" in headline(**docs)
    assert headline(**docs) not in (ROOT / "README.md").read_text()
