"""The label store: studies, the analyses they were reviewed against, append-only reviews and an audit trail.

One :class:`LabelStore` per database URL (SQLite by default, PostgreSQL in production, see
:func:`modic_core.settings.database_url`); :meth:`LabelStore.open` migrates the database to the newest
schema. Every write is one transaction with its :class:`~modic_core.labels.models.AuditEntry`. Reviews are
only ever inserted: a reviewer's later review of a level supersedes the earlier one in
:meth:`LabelStore.latest_reviews`, and two reviewers (or processes) saving the same level at once both keep
their row. On SQLite, writes take the database lock at their start (``BEGIN IMMEDIATE``, WAL journal) and wait
up to :data:`SQLITE_BUSY_SECONDS` for it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, delete, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from modic_core import settings
from modic_core.errors import InputError
from modic_core.labels import files
from modic_core.labels.migrate import upgrade
from modic_core.labels.split import split_of
from modic_core.labels.models import GRADES, MODEL_STATUSES, Analysis, AuditEntry, ModelVersion, Review, StudyRow
from modic_core.schema import StudyReportRecord
from modic_core.volume import Study

if TYPE_CHECKING:  # pragma: no cover
    from modic_core.analysis.report import StudyReport

__all__ = ["BACKENDS", "SQLITE_BUSY_SECONDS", "LabelStore", "ModelRecord", "ReviewRecord", "StoredAnalysis", "StoredStudy", "open_store"]

#: Seconds a SQLite writer waits for another writer's lock before failing.
SQLITE_BUSY_SECONDS = 30.0
#: Per-level fields of an analysis that are kept (see :class:`~modic_core.labels.models.Analysis`).
LEVEL_FIELDS = ("level", "detected_level", "box", "z_range", "score", "probabilities", "prediction", "prediction_set",
                "graded")


@dataclass(frozen=True)
class StoredStudy:
    """A stored study: its key (salted pixel hash), its copies relative to the store's image folder, UTC time."""

    id: str
    t1_path: str
    t2_path: str
    created_at: datetime
    split: str = "train"


@dataclass(frozen=True)
class StoredAnalysis:
    """An analysis a study was reviewed against (``levels``: see :class:`~modic_core.labels.models.Analysis`)."""

    id: int
    study_id: str
    model_version: str
    normalization: str
    coverage: float | None
    levels: list[dict[str, Any]]
    created_at: datetime


@dataclass(frozen=True)
class ReviewRecord:
    """One review row (see :class:`~modic_core.labels.models.Review`); ``box`` (x0, y0, x1, y1) T1 pixels."""

    id: int
    study_id: str
    analysis_id: int | None
    level: str
    reviewer: str
    grade: str
    corrected_level: str | None
    box: tuple[float, float, float, float] | None
    comment: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "study_id": self.study_id, "analysis_id": self.analysis_id, "level": self.level,
                "reviewer": self.reviewer, "grade": self.grade, "corrected_level": self.corrected_level,
                "box": None if self.box is None else list(self.box), "comment": self.comment,
                "created_at": self.created_at.isoformat()}


@dataclass(frozen=True)
class ModelRecord:
    """A registered classifier version (see :class:`~modic_core.labels.models.ModelVersion`)."""

    id: int
    name: str
    card: dict[str, Any]
    metrics: dict[str, Any]
    status: str
    created_at: datetime
    weights_dir: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "status": self.status, "card": self.card, "metrics": self.metrics,
                "weights_dir": self.weights_dir, "created_at": self.created_at.isoformat()}


def _utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes: they were stored as UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None  # let the "begin" hook below open transactions
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # take the write lock now: no deadlock between two writers

    return engine


def _analysis_levels(analysis: StudyReport | StudyReportRecord | Mapping[str, Any]) -> StudyReportRecord:
    if isinstance(analysis, StudyReportRecord):
        return analysis
    data = analysis.to_dict() if hasattr(analysis, "to_dict") else dict(analysis)
    data = {k: v for k, v in data.items() if k not in ("schema", "schema_version")}
    return StudyReportRecord.model_validate(data)


def _review(row: Review) -> ReviewRecord:
    return ReviewRecord(id=row.id, study_id=row.study_id, analysis_id=row.analysis_id, level=row.level,
                        reviewer=row.reviewer, grade=row.grade, corrected_level=row.corrected_level,
                        box=None if row.box is None else tuple(float(v) for v in row.box),  # type: ignore[arg-type]
                        comment=row.comment, created_at=_utc(row.created_at))


class LabelStore:
    """Typed access to one label database and its image folder (``images_dir``: ``<MODIC_DATA_DIR>/labels``).

    Build with :meth:`open`; :meth:`close` releases the connections. Safe to use from several processes at
    once; one instance may be shared by threads (each call uses its own session).
    """

    def __init__(self, *, engine: Engine, images_dir: Path) -> None:
        self.engine = engine
        self.images_dir = Path(images_dir)
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str | None = None, *, data_dir: Path | None = None, migrate: bool = True) -> LabelStore:
        """The store at ``url`` (default :func:`modic_core.settings.database_url`) with its images under
        ``data_dir/labels`` (default :func:`modic_core.settings.data_dir`), migrated to the newest schema
        unless ``migrate`` is False."""
        engine = _engine(url or settings.database_url())
        if migrate:
            upgrade(engine)
        return cls(engine=engine, images_dir=Path(data_dir or settings.data_dir()) / "labels")

    def close(self) -> None:
        """Release the pooled connections."""
        self.engine.dispose()

    def __enter__(self) -> LabelStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writes
    def add_study(self, *, study: Study, analysis: StudyReport | StudyReportRecord | Mapping[str, Any],
                  model_version: str = "", actor: str = "system") -> tuple[StoredStudy, StoredAnalysis]:
        """Store ``study``'s de-identified T1/T2 copy (once per pixel key) and the ``analysis`` it is reviewed
        against (a new row each call). ``model_version`` defaults to the analysis's weights ("stage: file (sha)").
        Returns the study and the analysis as stored."""
        record = _analysis_levels(analysis)
        key = files.study_key(study)
        rel = files.write_copy(study, root=self.images_dir, key=key)
        version = model_version or "; ".join(f"{k}: {v}" for k, v in sorted((record.weights or {}).items())) or "unknown"
        levels = [{f: getattr(lv, f) for f in LEVEL_FIELDS} for lv in record.levels]
        for attempt in (0, 1):
            try:
                with self._sessions.begin() as session:
                    row = session.get(StudyRow, key)
                    if row is None:
                        row = StudyRow(id=key, t1_path=rel["t1"], t2_path=rel["t2"], split=split_of(key))
                        session.add(row)
                        session.flush()
                        self._audit(session, actor=actor, action="add_study", target=f"study:{key}", after=rel)
                    an = Analysis(study_id=key, model_version=version, normalization=record.normalization,
                                  coverage=record.coverage, levels=levels)
                    session.add(an)
                    session.flush()
                    self._audit(session, actor=actor, action="add_analysis", target=f"analysis:{an.id}",
                                after={"study_id": key, "model_version": version, "levels": len(levels)})
                    return self._study(row), self._analysis(an)
            except IntegrityError:  # another process added the same study between our read and insert
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def add_review(self, *, study_id: str, level: str, reviewer: str, grade: str, corrected_level: str | None = None,
                   box: tuple[float, float, float, float] | None = None, comment: str = "",
                   analysis_id: int | None = None) -> ReviewRecord:
        """Append ``reviewer``'s ``grade`` (one of :data:`~modic_core.labels.models.GRADES`) of ``level``.

        InputError when the grade, reviewer, box or study is not valid. Earlier reviews are kept.
        """
        if grade not in GRADES:
            raise InputError(f"The grade {grade!r} is not one of {', '.join(GRADES)}; pick one of those.")
        if not str(reviewer).strip() or not str(level).strip():
            raise InputError("A review needs a reviewer name and a level name; give both.")
        if box is not None and len(box) != 4:
            raise InputError("A box needs four numbers (x0, y0, x1, y1 in T1 pixels); give four or none.")
        with self._sessions.begin() as session:
            if session.get(StudyRow, study_id) is None:
                raise InputError(f"No stored study has the key {study_id!r}; store the study before reviewing it.")
            row = Review(study_id=study_id, analysis_id=analysis_id, level=level, reviewer=reviewer.strip(), grade=grade,
                         corrected_level=corrected_level or None, box=None if box is None else [float(v) for v in box],
                         comment=comment or "")
            session.add(row)
            session.flush()
            out = _review(row)
            self._audit(session, actor=out.reviewer, action="add_review", target=f"review:{row.id}", after=out.to_dict())
            return out

    def register_model(self, *, name: str, card: Mapping[str, Any], metrics: Mapping[str, Any],
                       status: str = "candidate", weights_dir: str | Path | None = None,
                       actor: str = "system") -> ModelRecord:
        """Register a classifier version ``name`` with its model card and metrics (JSON) as ``status``
        ("candidate" or "rejected"; "active" activates it, see :meth:`activate_model`) and its complete
        weights folder ``weights_dir`` (None: the shipped weights). InputError when the name is empty or
        taken, or the status unknown."""
        if status not in MODEL_STATUSES:
            raise InputError(f"The model status {status!r} is not one of {', '.join(MODEL_STATUSES)}; pick one of those.")
        if not str(name).strip():
            raise InputError("A model version needs a name; give one.")
        try:
            with self._sessions.begin() as session:
                if status == "active":
                    self._deactivate(session, actor=actor)
                row = ModelVersion(name=name.strip(), card=dict(card), metrics=dict(metrics), status=status,
                                   weights_dir=None if weights_dir is None else str(weights_dir))
                session.add(row)
                session.flush()
                out = self._model(row)
                self._audit(session, actor=actor, action="register_model", target=f"model:{row.name}",
                            after={"name": row.name, "status": row.status})
                return out
        except IntegrityError:
            raise InputError(f"A model version named {name!r} is already registered; pick another name.") from None

    def activate_model(self, *, name: str, actor: str = "system") -> ModelRecord:
        """Make ``name`` the only active version (the previously active one becomes "candidate"); audited.
        InputError when no version has that name."""
        with self._sessions.begin() as session:
            row = session.scalars(select(ModelVersion).where(ModelVersion.name == name)).first()
            if row is None:
                raise InputError(f"No model version is named {name!r}; see `modic-labels models` for the names.")
            if row.status != "active":
                self._deactivate(session, actor=actor)
                before = row.status
                row.status = "active"
                session.flush()
                self._audit(session, actor=actor, action="activate_model", target=f"model:{row.name}",
                            before={"status": before}, after={"status": "active"})
            return self._model(row)

    def list_models(self) -> list[ModelRecord]:
        """Every registered model version, oldest first."""
        with self._sessions() as session:
            rows = session.scalars(select(ModelVersion).order_by(ModelVersion.id)).all()
            return [self._model(r) for r in rows]

    def active_model(self) -> ModelRecord | None:
        """The active model version, or None (the app then uses the shipped weights)."""
        with self._sessions() as session:
            row = session.scalars(select(ModelVersion).where(ModelVersion.status == "active")).first()
            return None if row is None else self._model(row)

    def delete_study(self, *, study_id: str, actor: str = "system") -> bool:
        """Remove the study's rows (reviews, analyses, study) and its image folder; False when it was not stored."""
        with self._sessions.begin() as session:
            row = session.get(StudyRow, study_id)
            if row is None:
                return False
            counts = {name: session.scalar(select(func.count()).select_from(model).where(model.study_id == study_id))
                      for name, model in (("reviews", Review), ("analyses", Analysis))}
            session.execute(delete(Review).where(Review.study_id == study_id))
            session.execute(delete(Analysis).where(Analysis.study_id == study_id))
            session.delete(row)
            self._audit(session, actor=actor, action="delete_study", target=f"study:{study_id}",
                        before={"t1_path": row.t1_path, "t2_path": row.t2_path, **counts})
        files.delete_copy(root=self.images_dir, key=study_id)
        return True

    # ------------------------------------------------------------------ reads
    def get_study(self, study_id: str) -> StoredStudy | None:
        """The stored study with this key, or None."""
        with self._sessions() as session:
            row = session.get(StudyRow, study_id)
            return None if row is None else self._study(row)

    def list_studies(self) -> list[StoredStudy]:
        """All stored studies, oldest first."""
        with self._sessions() as session:
            rows = session.scalars(select(StudyRow).order_by(StudyRow.created_at, StudyRow.id)).all()
            return [self._study(r) for r in rows]

    def analyses(self, study_id: str) -> list[StoredAnalysis]:
        """The study's analyses, oldest first."""
        with self._sessions() as session:
            rows = session.scalars(select(Analysis).where(Analysis.study_id == study_id).order_by(Analysis.id)).all()
            return [self._analysis(r) for r in rows]

    def reviews(self, study_id: str) -> list[ReviewRecord]:
        """Every review of the study, in the order they were saved."""
        with self._sessions() as session:
            rows = session.scalars(select(Review).where(Review.study_id == study_id).order_by(Review.id)).all()
            return [_review(r) for r in rows]

    def latest_reviews(self, study_id: str) -> list[ReviewRecord]:
        """Each reviewer's latest review per level (the last saved), sorted by level then reviewer."""
        latest: dict[tuple[str, str], ReviewRecord] = {}
        for r in self.reviews(study_id):
            latest[(r.level, r.reviewer)] = r
        return [latest[k] for k in sorted(latest)]

    def image_paths(self, study_id: str) -> dict[str, Path]:
        """Absolute paths of the study's stored copies, ``{"t1": ..., "t2": ...}``."""
        return {role: self.images_dir / study_id / name for role, name in files.IMAGE_NAMES.items()}

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _audit(session: Session, *, actor: str, action: str, target: str, before: dict | None = None,
               after: dict | None = None) -> None:
        session.add(AuditEntry(actor=actor, action=action, target=target, before=before, after=after))

    @classmethod
    def _deactivate(cls, session: Session, *, actor: str) -> None:
        """Turn the active version(s) back into candidates, with an audit row each."""
        for row in session.scalars(select(ModelVersion).where(ModelVersion.status == "active").with_for_update()).all():
            row.status = "candidate"
            cls._audit(session, actor=actor, action="deactivate_model", target=f"model:{row.name}",
                       before={"status": "active"}, after={"status": "candidate"})
        session.flush()

    @staticmethod
    def _model(row: ModelVersion) -> ModelRecord:
        return ModelRecord(id=row.id, name=row.name, card=dict(row.card), metrics=dict(row.metrics), status=row.status,
                           created_at=_utc(row.created_at), weights_dir=row.weights_dir)

    @staticmethod
    def _study(row: StudyRow) -> StoredStudy:
        return StoredStudy(id=row.id, t1_path=row.t1_path, t2_path=row.t2_path, created_at=_utc(row.created_at),
                           split=row.split)

    @staticmethod
    def _analysis(row: Analysis) -> StoredAnalysis:
        return StoredAnalysis(id=row.id, study_id=row.study_id, model_version=row.model_version,
                              normalization=row.normalization, coverage=row.coverage, levels=list(row.levels),
                              created_at=_utc(row.created_at))

    # ------------------------------------------------------------------ bulk reads (review queue, agreement)
    def latest_analyses(self) -> dict[str, StoredAnalysis]:
        """Each stored study's latest analysis (the last added), by study key; one query."""
        last = select(func.max(Analysis.id)).group_by(Analysis.study_id)
        with self._sessions() as session:
            rows = session.scalars(select(Analysis).where(Analysis.id.in_(last))).all()
            return {r.study_id: self._analysis(r) for r in rows}

    def all_latest_reviews(self) -> list[ReviewRecord]:
        """:meth:`latest_reviews` of every study at once (each reviewer's last review per study and level),
        sorted by study, level, reviewer; one query."""
        last = select(func.max(Review.id)).group_by(Review.study_id, Review.level, Review.reviewer)
        with self._sessions() as session:
            rows = session.scalars(select(Review).where(Review.id.in_(last))).all()
            return sorted((_review(r) for r in rows), key=lambda r: (r.study_id, r.level, r.reviewer))

    # ------------------------------------------------------------------ model versions (admin)
    def deactivate_models(self, *, actor: str = "system") -> bool:
        """Make no version active (the app then uses the shipped weights): the active one becomes "candidate",
        audited. False when none was active."""
        with self._sessions.begin() as session:
            had = session.scalars(select(ModelVersion.id).where(ModelVersion.status == "active")).first() is not None
            self._deactivate(session, actor=actor)
            return had


#: Database backends the store supports.
BACKENDS = ("sqlite", "postgresql")


def open_store(url: str | None = None) -> LabelStore:
    """The store at ``url`` (default :func:`modic_core.settings.database_url`), migrated; InputError (one sentence) for an unknown scheme or an unreachable database."""
    url = url or settings.database_url()
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        raise InputError("The database URL is not valid; give one like sqlite:///labels.sqlite3 or "
                         "postgresql+psycopg://user@host:5432/db.") from None
    if backend not in BACKENDS:
        raise InputError(f"The database scheme '{backend}' is not supported; use sqlite:/// or postgresql+psycopg://.")
    try:
        return LabelStore.open(url)
    except NoSuchModuleError:
        raise InputError("The database driver in the URL is not installed; use sqlite:/// or postgresql+psycopg://.") from None
    except SQLAlchemyError:
        raise InputError(f"The {backend} database could not be opened (unreachable or refused); check --db "
                         "or MODIC_DATABASE_URL.") from None
