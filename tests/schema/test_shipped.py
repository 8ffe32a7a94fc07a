"""Every JSON file shipped in the repository that names its kind (``schema``) reads with the typed records, and
writing it back gives the same document: same keys, same numbers of the same JSON type."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from modic_core.schema import load_document

ROOT = Path(__file__).resolve().parents[2]


def _shipped_documents() -> list[str]:
    """Tracked *.json files (weights/, benchmarks/, docs/, anywhere) whose top level has a ``schema`` key."""
    try:
        files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "*.json"], capture_output=True, text=True,
                               check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):  # not a git checkout (e.g. an sdist): every JSON file on disk
        files = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*.json") if ".venv" not in p.parts]
    out = []
    for f in sorted(files):
        try:
            doc = json.loads((ROOT / f).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and "schema" in doc:
            out.append(f)
    return out


SHIPPED = _shipped_documents()


def _same(a, b, where="") -> list[str]:
    """Differences between two parsed JSON values; numbers must agree in value and in JSON type (int/float/bool)."""
    if type(a) is not type(b):
        return [f"{where or '/'}: {a!r} became {b!r}"]
    if isinstance(a, dict):
        if set(a) != set(b):
            return [f"{where or '/'}: keys {sorted(set(a) ^ set(b))} differ"]
        return [d for k in a for d in _same(a[k], b[k], f"{where}/{k}")]
    if isinstance(a, list):
        if len(a) != len(b):
            return [f"{where}: length {len(a)} became {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _same(x, y, f"{where}[{i}]")]
    return [] if a == b else [f"{where}: {a!r} became {b!r}"]


def test_the_shipped_documents_are_found():
    kinds = {json.loads((ROOT / f).read_text())["schema"] for f in SHIPPED}
    assert {"classifier_card", "detector_card", "nyul_landmarks", "normalization_comparison", "benchmark",
            "conformal_evaluation", "learning_curve"} <= kinds


@pytest.mark.parametrize("path", SHIPPED)
def test_shipped_document_loads_and_writes_back_the_same_numbers(path, tmp_path):
    raw = json.loads((ROOT / path).read_text(encoding="utf-8"))
    doc = load_document(ROOT / path)
    assert doc.KIND == raw["schema"] and doc.VERSION == raw["schema_version"]
    assert _same(raw, doc.to_dict()) == []
    doc.save(tmp_path / "copy.json")
    assert _same(raw, json.loads((tmp_path / "copy.json").read_text(encoding="utf-8"))) == []
    assert type(doc).load(tmp_path / "copy.json") == doc
