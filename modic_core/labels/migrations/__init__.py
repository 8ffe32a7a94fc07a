"""Alembic migrations of the label store (``env.py``, ``versions/``); run by :func:`modic_core.labels.migrate.upgrade`."""
