"""Schema migrations of the label store, configured in code (no alembic.ini at run time).

:func:`upgrade` brings a database to the newest schema (:data:`HEAD`), :func:`downgrade` back; :func:`diff` lists what differs
between a database and the ORM models (empty when they match).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Connection, Engine

from modic_core.labels.models import Base

__all__ = ["HEAD", "MIGRATIONS_DIR", "alembic_config", "current_revision", "diff", "downgrade", "upgrade"]

#: The folder of ``env.py`` and ``versions/`` inside the package.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: The newest schema revision.
HEAD = "0002"


def alembic_config(*, url: str | None = None) -> Config:
    """An Alembic config whose ``script_location`` is the package's migrations folder (and ``url``, if given,
    for the ``alembic`` command-line tool's way of running ``env.py``)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _pragma(conn: Connection, sql: str) -> None:
    """A PRAGMA on the driver's connection, outside any transaction (where SQLite honours foreign_keys)."""
    cur = conn.connection.dbapi_connection.cursor()
    try:
        cur.execute(sql)
    finally:
        cur.close()


def _run(engine: Engine, step: Callable[[Config], None]) -> None:
    """Run one Alembic command in one transaction. On SQLite, foreign keys are off while it runs: a schema
    change there rebuilds a table (copy, drop, rename), and dropping a table with foreign keys on would
    cascade-delete the rows that point at it (a study's reviews); they are checked after, and on again."""
    cfg = alembic_config()
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            _pragma(conn, "PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                step(cfg)
                if sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                    raise RuntimeError("the migration left rows pointing at missing rows; nothing was changed")
        finally:
            if sqlite:
                _pragma(conn, "PRAGMA foreign_keys=ON")


def upgrade(engine: Engine, *, revision: str = "head") -> None:
    """Migrate the database of ``engine`` to ``revision`` (default: the newest), in one transaction."""
    _run(engine, lambda cfg: command.upgrade(cfg, revision))


def downgrade(engine: Engine, *, revision: str) -> None:
    """Migrate the database of ``engine`` back to ``revision`` (``"base"``: no tables of ours), in one transaction."""
    _run(engine, lambda cfg: command.downgrade(cfg, revision))


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at (None: never migrated)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def diff(engine: Engine) -> list:
    """Alembic's autogenerate differences between the database and :data:`Base.metadata` ([] when equal)."""
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), Base.metadata)
