"""The product uses only the public APIs of the libraries it depends on (no ``_private`` imports)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def private_library_imports(source: str) -> list[str]:
    """``module.name`` of every ``from library import _private`` in ``source`` (not modic_core)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and not node.module.startswith("modic_core"):
            found += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_") and a.name != "__future__"]
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if any(p.startswith("_") for p in a.name.split(".")[1:])]
    return found


def test_the_checker_finds_a_private_import():
    assert private_library_imports("from pydicom.pixels.utils import _get_jpg_parameters\n") == [
        "pydicom.pixels.utils._get_jpg_parameters"]
    assert private_library_imports("from modic_core.io import _x\nimport numpy as np\n") == []


def test_no_private_library_import_in_the_product():
    files = sorted((ROOT / "modic_core").rglob("*.py")) + sorted((ROOT / "pages").glob("*.py")) + [ROOT / "app.py"]
    bad = {str(f.relative_to(ROOT)): hits for f in files if (hits := private_library_imports(f.read_text()))}
    assert not bad, f"private library APIs imported: {bad}"
