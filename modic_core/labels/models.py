"""The label store's tables as typed SQLAlchemy 2 ORM models (the schema Alembic migrates to).

Nothing here holds a name, an ID, a date of birth or a file name from the source images: studies are
keyed by a salted hash of their pixels (:func:`modic_core.labels.files.study_key`), file paths are the
store's own ``<hash>/t1.mha``. Times are UTC. ``reviews`` and ``audit`` are append-only: the store
only ever inserts into them (deleting a study removes its reviews with it, and says so in ``audit``).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, CheckConstraint, DateTime, ForeignKey, Index, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from modic_core.labels.split import SPLITS

__all__ = ["GRADES", "MODEL_STATUSES", "Analysis", "AuditEntry", "Base", "ModelVersion", "Review", "StudyRow", "utcnow"]

#: What a reviewer may record for one level ("not_gradable": the level cannot be graded on these images).
GRADES = ("MC0", "MC1", "MC2", "MC3", "not_gradable")
#: A registered model version's state: at most one is used by the app ("active").
MODEL_STATUSES = ("active", "candidate", "rejected")

#: Constraint names the same on every backend, so migrations can name them.
NAMING = {"ix": "ix_%(column_0_label)s", "uq": "uq_%(table_name)s_%(column_0_name)s",
          "ck": "ck_%(table_name)s_%(constraint_name)s", "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
          "pk": "pk_%(table_name)s"}


def utcnow() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(timezone.utc)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    """Declarative base of the label store; ``Base.metadata`` is what migrations must produce."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: DateTime(timezone=True)}


class StudyRow(Base):
    """A stored study: ``id`` the salted pixel hash (16 hex digits); ``t1_path``/``t2_path`` the
    de-identified copies relative to ``MODIC_DATA_DIR/labels`` (``<id>/t1.mha``); ``split`` its part."""

    __tablename__ = "studies"
    __table_args__ = (CheckConstraint(_in("split", SPLITS), name="split"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    t1_path: Mapped[str] = mapped_column(String(255))
    t2_path: Mapped[str] = mapped_column(String(255))
    #: "train" or "locked" (the held-out part fine-tunes are judged on), by :func:`modic_core.labels.split.split_of`.
    split: Mapped[str] = mapped_column(String(8), server_default="train")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Analysis(Base):
    """One analysis a study was reviewed against: the model version, the normalization method and per
    level ``{"level", "detected_level" (the detector's name when the user renamed the level, else ""),
    "box" (x0, y0, x1, y1 T1 pixels), "z_range", "score", "probabilities", "prediction",
    "prediction_set", "graded"}`` in ``levels`` (a JSON list, top to bottom)."""

    __tablename__ = "analyses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    study_id: Mapped[str] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    model_version: Mapped[str] = mapped_column(String(255))
    normalization: Mapped[str] = mapped_column(String(64))
    coverage: Mapped[float | None]
    levels: Mapped[list[Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Review(Base):
    """One reviewer's grade of one level (append-only; the reviewer's latest row per level counts).

    ``level`` the name the analysis gave; ``corrected_level`` the reviewer's name for it, if changed;
    ``box`` (x0, y0, x1, y1) in T1 pixels if adjusted or added.
    """

    __tablename__ = "reviews"
    __table_args__ = (CheckConstraint(_in("grade", GRADES), name="grade"),
                      Index("ix_reviews_study_level_reviewer", "study_id", "level", "reviewer"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    study_id: Mapped[str] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    analysis_id: Mapped[int | None] = mapped_column(ForeignKey("analyses.id", ondelete="SET NULL"))
    level: Mapped[str] = mapped_column(String(32))
    reviewer: Mapped[str] = mapped_column(String(128))
    grade: Mapped[str] = mapped_column(String(16))
    corrected_level: Mapped[str | None] = mapped_column(String(32))
    box: Mapped[list[Any] | None]
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """One write to the store (append-only): who, when, what (``action``, e.g. ``"add_review"``), on which
    row (``target``), and the row's JSON before and after (``null`` for an insert / a delete)."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(128))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]


class ModelVersion(Base):
    """A classifier version: its model card and metrics (JSON) and its status (:data:`MODEL_STATUSES`)."""

    __tablename__ = "model_versions"
    __table_args__ = (CheckConstraint(_in("status", MODEL_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    card: Mapped[dict[str, Any]]
    metrics: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="candidate")
    #: The complete weights folder of this version (what ``MODIC_WEIGHTS_DIR`` accepts); None: the shipped one.
    weights_dir: Mapped[str | None] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
