"""A throw-away PostgreSQL 15 server for the tests that need one (the label store's, the browser walk's).

The server is started once per test session as the ``postgres`` user (``initdb`` refuses root) on a free local
port and removed afterwards. Without root or the binaries the PostgreSQL tests are skipped with the reason,
unless ``MODIC_REQUIRE_POSTGRES`` is set (CI): then they fail. Registered for every folder in
``tests/conftest.py``; :func:`new_database` gives each test its own empty database on it.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unavailable() -> str | None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "the PostgreSQL fixture runs initdb as the postgres user, which needs root"
    if not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None:
        return f"PostgreSQL 15 binaries not found in {PG_BIN}"
    return None


@pytest.fixture(scope="session")
def postgres_server():
    """Base URL ``postgresql+psycopg://modic@127.0.0.1:PORT`` of a throw-away server."""
    reason = _unavailable()
    if reason:
        if os.environ.get("MODIC_REQUIRE_POSTGRES"):
            pytest.fail(f"MODIC_REQUIRE_POSTGRES is set but {reason}.")
        pytest.skip(reason)
    folder = Path(tempfile.mkdtemp(prefix="modic-pg-"))
    shutil.chown(folder, user="postgres", group="postgres")
    data = folder / "data"
    port = _free_port()
    run = lambda *args: subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True,
                                       timeout=120)
    try:
        run(str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "modic")
        run(str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", f"-k {folder} -h 127.0.0.1 -p {port}", "-l",
            str(folder / "log"), "-w", "start")
        yield f"postgresql+psycopg://modic@127.0.0.1:{port}"
    finally:
        if (data / "postmaster.pid").exists():
            run(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def new_database(base: str, prefix: str = "labels_") -> str:
    """URL of a new, empty database on the server at ``base`` (the :func:`postgres_server` URL)."""
    name = prefix + uuid.uuid4().hex[:8]
    engine = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return f"{base}/{name}"
