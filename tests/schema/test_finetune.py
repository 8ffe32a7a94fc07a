"""The fine-tune's typed records (modic_core/schema/finetune.py): simulated_site and finetune_record documents."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modic_core.evaluation.site_summary import load_site, site_rows
from modic_core.schema import (Document, LockedMetrics, ModelScores, NoScores, PairedDiff, SchemaError, SimulatedSite,
                               load_document)
from modic_core.train import finetune
from modic_core.train.simulated_site import verdict

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "weights" / "simulated_site.json"


def test_kinds_are_registered_at_version_1():
    assert Document.registry["simulated_site"] is SimulatedSite and SimulatedSite.VERSION == 1
    assert Document.registry["finetune_record"].VERSION == 1


def test_shipped_site_reads_as_shared_metric_records():
    site = load_document(SHIPPED)
    assert isinstance(site, SimulatedSite) and len(site.arms) == 2
    loc = site.arms[0].locked
    assert isinstance(loc.current, ModelScores) and loc.current.mc0_vs_mc2.n_mc0 == 32
    assert isinstance(loc.paired_new_minus_current["mc0_vs_mc2_balanced_accuracy"], PairedDiff)
    assert site.choices.site_ids[:2] == ["106", "127"] and site.minutes == 5.2


def test_too_small_locked_part_round_trips_its_empty_scores():
    rng = np.random.default_rng(0)
    y = np.array([0, 2, 0, 2])
    p = rng.dirichlet(np.ones(3), size=4)
    ev = finetune.evaluate(p, p, y, ["a", "a", "b", "b"])  # 4 MC0/MC2 levels: too few
    rec = ev.to_record()
    assert not rec.enough and isinstance(rec.current, NoScores) and isinstance(rec.new, NoScores)
    d = rec.to_dict()
    assert d["current"] == {} and d["new"] == {} and d["paired_new_minus_current"] == {}
    assert LockedMetrics.from_dict(d) == rec


def test_mistyped_site_document_is_refused_with_the_field(tmp_path):
    doc = json.loads(SHIPPED.read_text())
    doc["arms"][0]["other"]["base"]["mc0_vs_mc2"]["value"] = "high"
    bad = tmp_path / "simulated_site.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(SchemaError, match="simulated_site.json"):
        load_site(bad)
    doc = json.loads(SHIPPED.read_text())
    del doc["schema_version"]
    bad.write_text(json.dumps(doc))
    with pytest.raises(SchemaError, match="version None is not supported"):
        load_site(bad)
    assert load_site(tmp_path / "absent.json") is None


def test_rows_from_the_record_and_from_its_dict_agree():
    site = SimulatedSite.load(SHIPPED)
    assert site_rows(site) == site_rows(json.loads(SHIPPED.read_text()))


def test_verdict_reads_typed_paired_differences():
    def paired(lo, hi):
        return {"mc0_vs_mc2_balanced_accuracy": PairedDiff(metric="mc0_vs_mc2_balanced_accuracy", value_a=0.7,
                                                           value_b=0.6, diff=0.1, ci_low=lo, ci_high=hi)}
    assert verdict(paired(0.01, 0.2)) == "helped" and verdict(paired(-0.2, -0.01)) == "hurt"
    assert verdict(paired(-0.1, 0.1)) == "no clear change" and verdict(paired(None, None)) == "not measurable"
    assert verdict({}) == "not measurable"
