"""Alembic environment of the label store: online migrations on the connection the caller passes in
``config.attributes["connection"]`` (:func:`modic_core.labels.migrate.upgrade`), else on
``sqlalchemy.url`` of the config. No alembic.ini is needed."""
from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from modic_core.labels.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")  # SQLite alters tables by copying them
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()
