"""The label store: de-identified studies, the analyses they were reviewed against, clinicians' reviews.

``LabelStore.open(url)`` (default ``MODIC_DATABASE_URL``, else SQLite in ``MODIC_DATA_DIR``) migrates the
database (Alembic, :mod:`modic_core.labels.migrate`) and gives typed, keyword-only reads and writes.
Nothing from a file's header other than pixels and geometry is kept.
"""
from __future__ import annotations

from modic_core.labels.models import GRADES, MODEL_STATUSES
from modic_core.labels.store import LabelStore, ModelRecord, ReviewRecord, StoredAnalysis, StoredStudy

__all__ = ["GRADES", "MODEL_STATUSES", "LabelStore", "ModelRecord", "ReviewRecord", "StoredAnalysis", "StoredStudy"]
