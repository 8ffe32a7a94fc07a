"""Database URLs for the label store's tests: SQLite in a temp folder, and a database of the session's
throw-away PostgreSQL 15 (``postgres_server`` of ``tests/postgres_support.py``, registered in ``tests/conftest.py``:
skipped without root or the binaries unless ``MODIC_REQUIRE_POSTGRES`` is set)."""
from __future__ import annotations

import pytest

from tests.postgres_support import new_database


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'labels.sqlite3'}"
    return new_database(request.getfixturevalue("postgres_server"))
