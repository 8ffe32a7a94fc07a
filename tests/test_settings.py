"""Settings are read at call time, validated, and all documented in docs/settings.md."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from modic_core import settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_environment_variable_of_the_package_is_documented():
    used = set()
    for f in (ROOT / "modic_core").rglob("*.py"):
        used |= set(re.findall(r"\bMODIC_[A-Z0-9_]+", f.read_text()))
    used -= {"MODIC_"}
    section = (ROOT / "docs" / "settings.md").read_text()
    missing = sorted(v for v in used if f"`{v}`" not in section)
    assert missing == [], f"undocumented settings: {missing}"


def test_read_at_call_time(monkeypatch, tmp_path):
    monkeypatch.setenv("MODIC_WEIGHTS_DIR", str(tmp_path))
    assert settings.weights_dir() == tmp_path
    monkeypatch.delenv("MODIC_WEIGHTS_DIR")
    assert settings.weights_dir() == ROOT / "weights"
    monkeypatch.setenv("MODIC_THRESHOLD", "0.7")
    assert settings.default_threshold() == 0.7


@pytest.mark.parametrize("value", ["nan", "abc", "-1", "1.5", "0"])
def test_bad_threshold_is_refused(monkeypatch, value):
    monkeypatch.setenv("MODIC_THRESHOLD", value)
    with pytest.raises(ValueError):
        settings.default_threshold()


def test_server_folders_are_off_by_default(monkeypatch, tmp_path):
    monkeypatch.delenv("MODIC_SERVER_FOLDERS", raising=False)
    assert settings.allowed_server_folders() == ()
    monkeypatch.setenv("MODIC_SERVER_FOLDERS", str(tmp_path))
    assert settings.allowed_server_folders() == (tmp_path.resolve(),)


def test_coverage_default_override_and_refusal(monkeypatch):
    from modic_core.errors import InputError

    monkeypatch.delenv("MODIC_COVERAGE", raising=False)
    assert settings.default_coverage() == settings.DEFAULT_COVERAGE == 0.90
    monkeypatch.setenv("MODIC_COVERAGE", "0.8")
    assert settings.default_coverage() == 0.8
    for bad in ("90", "0.4", "1", "nan", "ninety"):
        monkeypatch.setenv("MODIC_COVERAGE", bad)
        with pytest.raises(InputError, match=r"^The environment variable MODIC_COVERAGE='.*' must be a share between 0.5 "
                                             r"and 0.99, e\.g\. 0\.9 for 90 %\.$"):
            settings.default_coverage()
    assert settings.check_coverage("0.95") == 0.95
    with pytest.raises(InputError, match="The prediction-set coverage 99 must be a share"):
        settings.check_coverage(99)


def test_data_dir_and_database_url_default_and_override(monkeypatch, tmp_path):
    monkeypatch.delenv("MODIC_DATA_DIR", raising=False)
    monkeypatch.delenv("MODIC_DATABASE_URL", raising=False)
    assert settings.data_dir() == ROOT / "data"
    assert settings.database_url() == f"sqlite:///{ROOT / 'data' / 'labels.sqlite3'}"
    monkeypatch.setenv("MODIC_DATA_DIR", str(tmp_path))
    assert settings.database_url() == f"sqlite:///{tmp_path / 'labels.sqlite3'}"
    monkeypatch.setenv("MODIC_DATABASE_URL", "postgresql+psycopg://modic@db:5432/labels")
    assert settings.database_url() == "postgresql+psycopg://modic@db:5432/labels"
