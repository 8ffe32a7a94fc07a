"""The study label: one function for the dashboard and the exports."""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from modic_core.analysis.cache import study_fingerprint
from modic_core.datasets.demo import load_demo
from modic_core.export import cli
from modic_core.export.labels import study_label

# Labels the dashboard showed before the two copies were merged (a label must not change between versions).
KNOWN = {"phantom-dicom": "b9122c75", "spider-104": "cd5f6ec7"}


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_study_label_is_stable_and_the_fingerprint_is_optional(name):
    s = load_demo(name)
    assert study_label(s) == study_label(s, study_fingerprint(s)) == KNOWN[name]


def test_hashed_uid_wins_over_the_fingerprint_else_the_fingerprint_is_used():
    s = load_demo("phantom-dicom")
    assert s.t1.meta.study_hash
    assert study_label(s, "any fingerprint") == hashlib.sha256(b"modic-ui/" + s.t1.meta.study_hash.encode()).hexdigest()[:8]
    no_uid = dataclasses.replace(s, t1=dataclasses.replace(s.t1, meta=dataclasses.replace(s.t1.meta, study_hash=None)))
    assert study_label(no_uid, "f" * 32) == hashlib.sha256(b"modic-ui/" + b"f" * 32).hexdigest()[:8]


def test_the_command_line_and_the_dashboard_share_it():
    """The CLI's exports and the case viewer page call this one function (no copy of the hash)."""
    assert cli.study_label is study_label
    page = (Path(__file__).resolve().parents[2] / "pages" / "case_viewer.py").read_text()
    assert "study_label(study, fp)" in page and "sha256" not in page
