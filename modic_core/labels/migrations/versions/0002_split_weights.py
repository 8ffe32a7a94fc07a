"""Each study's part (train / locked held-out) and each model version's weights folder.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07

Studies stored under 0001 get their part by the fixed rule of :func:`modic_core.labels.split.split_of`
(the same a new study gets), so upgrading a database never moves a study between parts.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from modic_core.labels.split import split_of

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("studies") as batch:
        batch.add_column(sa.Column("split", sa.String(8), nullable=False, server_default="train"))
        batch.create_check_constraint(op.f("ck_studies_split"), "split IN ('train', 'locked')")
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("weights_dir", sa.String(1024), nullable=True))
    conn = op.get_bind()
    studies = sa.table("studies", sa.column("id", sa.String), sa.column("split", sa.String))
    for (study_id,) in conn.execute(sa.select(studies.c.id)).all():
        conn.execute(studies.update().where(studies.c.id == study_id).values(split=split_of(study_id)))


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("weights_dir")
    with op.batch_alter_table("studies") as batch:
        batch.drop_constraint(op.f("ck_studies_split"), type_="check")
        batch.drop_column("split")
