"""The simulated site's figures in docs/labels.md and on the model card are exactly what the shipped JSON says."""
from __future__ import annotations

import json
from pathlib import Path

from modic_core.evaluation.site_summary import estimate_text, load_site, site_rows, site_table
from modic_core.ui.modelinfo import load_simulated_site, simulated_site_chart, simulated_site_frame

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "weights" / "simulated_site.json"


def test_docs_quote_the_simulated_site_table():
    doc = load_site(SHIPPED)
    table = [line for line in site_table(doc).splitlines() if line.startswith("|")]
    assert len(table) == 2 + 2 * len(doc.arms) and len(doc.arms) >= 1
    text = (ROOT / "docs" / "labels.md").read_text()
    missing = [line for line in table if line not in text]
    assert not missing, f"docs/labels.md is stale; rerun python -m modic_core.evaluation.site_summary: {missing[:1]}"


def test_rows_and_chart_read_the_json():
    doc = json.loads(SHIPPED.read_text())
    rows = site_rows(doc)
    arm = doc["arms"][0]
    other = next(r for r in rows if r.judged_on == "other studies")
    assert other.base == estimate_text(arm["other"]["base"]["mc0_vs_mc2"])
    assert other.levels == f"{arm['other']['n_levels']} ({arm['other']['n_studies']})"
    assert other.verdict == arm["verdict_other"]
    frame = simulated_site_frame(load_simulated_site(ROOT / "weights"))
    assert len(frame) == len(rows) and frame[0]["status"] == arm["status"]
    fig = simulated_site_chart(doc)
    new = fig.data[1]
    i = list(new.x).index(f"{arm['label']}<br>other studies")
    e = arm["other"]["new"]["mc0_vs_mc2"]
    assert new.y[i] == e["value"] and abs(new.error_y.array[i] - (e["ci_high"] - e["value"])) < 1e-12


def test_too_small_locked_part_shows_the_reason_not_a_number(tmp_path):
    assert load_simulated_site(tmp_path) is None
    doc = json.loads(SHIPPED.read_text())
    doc["arms"] = doc["arms"][:1]
    doc["arms"][0]["locked"] = {"enough": False, "reason": "not enough locked levels: 4 MC0/MC2 levels of 1 studies",
                                "n_levels": 4, "n_studies": 1}
    locked = site_rows(doc)[0]
    assert locked.note.startswith("not enough locked levels") and locked.base == "-"
    assert "not enough locked levels" in site_table(doc)
    assert len(simulated_site_chart(doc).data[0].x) == 1  # only the other studies
    assert estimate_text({"value": None}) == "n/a"


def test_readme_line_says_what_the_verdicts_say():
    doc = load_site(SHIPPED)
    verdicts = {getattr(a, k) for a in doc.arms for k in ("verdict_locked", "verdict_other")}
    line = next(x for x in (ROOT / "README.md").read_text().splitlines() if "modic-train finetune" in x)
    assert verdicts == {"no clear change"} and "no clear" in line
