"""The label store's first schema: studies, analyses, reviews, audit, model_versions.

Revision ID: 0001
Revises:
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("t1_path", sa.String(255), nullable=False),
        sa.Column("t2_path", sa.String(255), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_studies")),
    )
    op.create_table(
        "analyses",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("study_id", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(255), nullable=False),
        sa.Column("normalization", sa.String(64), nullable=False),
        sa.Column("coverage", sa.Double(), nullable=True),
        sa.Column("levels", sa.JSON(), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"], name=op.f("fk_analyses_study_id_studies"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analyses")),
    )
    op.create_index(op.f("ix_analyses_study_id"), "analyses", ["study_id"])
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("study_id", sa.String(64), nullable=False),
        sa.Column("analysis_id", sa.Integer(), nullable=True),
        sa.Column("level", sa.String(32), nullable=False),
        sa.Column("reviewer", sa.String(128), nullable=False),
        sa.Column("grade", sa.String(16), nullable=False),
        sa.Column("corrected_level", sa.String(32), nullable=True),
        sa.Column("box", sa.JSON(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.CheckConstraint("grade IN ('MC0', 'MC1', 'MC2', 'MC3', 'not_gradable')", name=op.f("ck_reviews_grade")),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"], name=op.f("fk_reviews_study_id_studies"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["analysis_id"], ["analyses.id"], name=op.f("fk_reviews_analysis_id_analyses"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
    )
    op.create_index("ix_reviews_study_level_reviewer", "reviews", ["study_id", "level", "reviewer"])
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("at", _TZ, nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(128), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit")),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("card", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.CheckConstraint("status IN ('active', 'candidate', 'rejected')", name=op.f("ck_model_versions_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_versions")),
        sa.UniqueConstraint("name", name=op.f("uq_model_versions_name")),
    )


def downgrade() -> None:
    op.drop_table("model_versions")
    op.drop_table("audit")
    op.drop_index("ix_reviews_study_level_reviewer", table_name="reviews")
    op.drop_table("reviews")
    op.drop_index(op.f("ix_analyses_study_id"), table_name="analyses")
    op.drop_table("analyses")
    op.drop_table("studies")
