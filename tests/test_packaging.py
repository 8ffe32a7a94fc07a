"""The package installs with pip, brings its console scripts, and its layers hold."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_pip_install_gives_console_scripts_and_a_working_cli(tmp_path):
    import shutil

    src = tmp_path / "src"  # build from a copy: setuptools writes build/ and *.egg-info beside the sources
    shutil.copytree(ROOT / "modic_core", src / "modic_core", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "--target", str(target), str(src)],
                   check=True, capture_output=True, cwd=tmp_path)
    scripts = {p.name for p in (target / "bin").iterdir()}
    assert {"modic-analyze", "modic-batch", "modic-evaluate", "modic-labels", "modic-train"} <= scripts
    env = {**os.environ, "PYTHONPATH": str(target), "MODIC_WEIGHTS_DIR": str(ROOT / "weights")}
    # run outside the checkout so that the installed copy, not the source tree, is imported
    out = subprocess.run([sys.executable, "-c", "import modic_core, modic_core.settings as s; "
                          "print(modic_core.__file__); print(s.weights_dir())"],
                         check=True, capture_output=True, text=True, cwd=tmp_path, env=env).stdout.split()
    assert out[0].startswith(str(target))
    assert out[1] == str(ROOT / "weights")
    proc = subprocess.run([sys.executable, "-m", "modic_core.train"], capture_output=True, text=True,
                          cwd=tmp_path, env=env)
    assert proc.returncode == 2 and "usage: modic-train" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "modic_core.labels", "models", "--db", f"sqlite:///{tmp_path / 'l.db'}"],
                          capture_output=True, text=True, cwd=tmp_path, env=env)  # the installed migrations run
    assert proc.returncode == 0 and "No model version" in proc.stdout, proc.stderr


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_app_and_pages_never_import_the_test_suite():
    files = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "modic_core").rglob("*.py"))]
    offenders = [f.relative_to(ROOT).as_posix() for f in files
                 if any(n == "tests" or n.startswith("tests.") for n in _imports(f))]
    assert offenders == []


def test_import_layers_hold():
    exe = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(exe), "--config", str(ROOT / "pyproject.toml")], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:]
