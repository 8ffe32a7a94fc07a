"""The README is a short front door: its links resolve, its picture is small, and what moved to docs/ is there."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_is_short_and_starts_with_the_commands():
    lines = README.splitlines()
    assert len(lines) <= 150
    start = README.index("## Start")
    assert README.index("make run", start) < README.index("## Using the dashboard")
    assert "make test" in README[start:README.index("## Using the dashboard")]


def test_every_local_link_and_picture_exists():
    targets = re.findall(r"\]\(([^)#]+)\)", README)
    local = [t for t in targets if "://" not in t]
    assert len(local) >= 15
    assert [t for t in local if not (ROOT / t).is_file()] == []
    docs = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))
    assert [d for d in docs if d not in local] == [], "a page in docs/ that the README does not link"


def test_case_viewer_picture_is_a_small_png():
    png = ROOT / "docs" / "img" / "case_viewer.png"
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) < 300 * 1024


def test_ci_runs_the_readme_test_command_and_checks_the_console_scripts():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in README and "\nmake test" in ci
    assert ".venv/bin/modic-analyze --help" in ci
    make = (ROOT / "Makefile").read_text()
    assert "-m pip install -q --disable-pip-version-check --no-deps -e ." in make
