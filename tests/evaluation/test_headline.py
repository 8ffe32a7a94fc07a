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


def test_plain_headline_says_what_how_often_wrong_and_on_what_data_from_the_json(tmp_path):
    """The model card's plain lines: every figure from the comparison / detector documents (a changed sensitivity
    changes the "in 10"); a missing detector card or conformal document leaves its part out, nothing borrowed."""
    from modic_core.evaluation.headline import plain_headline
    from modic_core.schema import NormalizationComparison

    docs = load_shipped()
    text = plain_headline(detector=docs["detector"], comparison=docs["comparison"])
    lines = text.splitlines()
    assert [line.split(":**")[0] for line in lines] == ["- **What it finds", "- **How often it is wrong", "- **On what data"]
    comp = docs["comparison"]
    assert f"{comp.n_discs} discs of {comp.n_patients} patients" in lines[2]
    raw = json.loads((ROOT / "weights" / "normalization_comparison.json").read_text())
    default = comp.default_method or "zscore"
    raw["methods"][default]["metrics"]["per_class"]["MC2"]["sensitivity"]["value"] = 0.2
    (tmp_path / "c.json").write_text(json.dumps(raw))
    changed = plain_headline(detector=None, comparison=NormalizationComparison.load(tmp_path / "c.json"))
    assert "of levels that had MC2 it missed about 8 in 10" in changed and "disc finder" not in changed
    assert "disc finder missed about" in text
    assert len(headline(detector=None, comparison=comp, conformal=None).splitlines()) == 2
