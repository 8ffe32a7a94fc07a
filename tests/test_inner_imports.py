"""Every import sits at module level unless it carries a ``# lazy:`` reason.

Walks every ``.py`` under ``modic_core/`` and ``pages/`` plus ``app.py``. An ``import`` or
``from ... import`` inside a function body (nested functions and methods included) is allowed
only when the same line or the line above holds a comment starting ``# lazy:`` that says why
(a heavy optional library such as torch, ray or streamlit, imported only on the path that needs
it). One comment line may head a run of consecutive import statements with the same reason. Avoiding an import-time cycle is not a reason: ``tests/test_import_cycles.py`` keeps the
graph acyclic, so such an import can always move to the top of its module.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAZY_MARK = "# lazy:"


def _sources() -> list[Path]:
    """The dashboard and library files the rule covers, sorted."""
    files = sorted((REPO / "modic_core").rglob("*.py")) + sorted((REPO / "pages").rglob("*.py"))
    return [*files, REPO / "app.py"]


def unreasoned_inner_imports(source: str) -> list[int]:
    """Line numbers of imports inside a function of ``source`` that have no ``# lazy:`` reason.

    An import has a reason when its own first line holds ``# lazy:``, or the line above is a
    ``# lazy:`` comment line, or the line above ends an import statement that has a reason
    (a comment heading a run of consecutive imports).
    """
    tree = ast.parse(source)
    lines = source.splitlines()
    inner = sorted(
        {node for func in ast.walk(tree) if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef))
         for node in ast.walk(func) if isinstance(node, (ast.Import, ast.ImportFrom))},
        key=lambda node: node.lineno,
    )
    reasoned_ends: set[int] = set()  # last lines of inner imports that have a reason
    found = []
    for node in inner:
        above = lines[node.lineno - 2].strip() if node.lineno >= 2 else ""
        if LAZY_MARK in lines[node.lineno - 1] or above.startswith(LAZY_MARK) or node.lineno - 1 in reasoned_ends:
            reasoned_ends.add(node.end_lineno or node.lineno)
        else:
            found.append(node.lineno)
    return found


def test_checker_flags_an_inner_import_without_reason() -> None:
    source = (
        "import os\n"
        "def f():\n"
        "    from modic_core import settings\n"
        "    # lazy: torch is heavy and optional\n"
        "    import torch\n"
        "    import ray  # lazy: only the batch mode needs ray\n"
        "    import torchvision\n"
        "    class C:\n"
        "        def m(self):\n"
        "            from . import anatomy\n"
        "    import json\n"
        "    return settings, torch, ray, torchvision, C, json\n"
    )
    assert unreasoned_inner_imports(source) == [3, 10, 11]


def test_a_lazy_comment_covers_the_run_of_imports_below_it_only() -> None:
    source = (
        "def f():\n"
        "    # lazy: highdicom is heavy; only DICOM input needs it\n"
        "    from highdicom.enum import AxisHandedness\n"
        "    from highdicom.spatial import (\n"
        "        get_plane_sort_index,\n"
        "    )\n"
        "    import pydicom\n"
        "\n"
        "    import json\n"
        "    return AxisHandedness, get_plane_sort_index, pydicom, json\n"
    )
    assert unreasoned_inner_imports(source) == [9]


def test_checker_accepts_module_level_and_class_level_imports() -> None:
    source = "import os\nif os.name:\n    import sys\nclass C:\n    import json\n"
    assert unreasoned_inner_imports(source) == []


def test_no_inner_import_without_a_lazy_reason() -> None:
    offenders = [
        f"{path.relative_to(REPO)}:{line}"
        for path in _sources()
        for line in unreasoned_inner_imports(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, (
        "imports inside functions without a '# lazy:' reason (move them to module level):\n  "
        + "\n  ".join(offenders)
    )
