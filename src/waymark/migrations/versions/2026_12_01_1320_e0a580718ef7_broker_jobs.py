"""broker jobs: the outbox keeps a request's trace context; processed job keys for workers

Revision ID: e0a580718ef7
Revises: 652b93169c53
Create Date: 2026-12-01 13:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e0a580718ef7"
down_revision: str | None = "652b93169c53"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "traceparent",
                sa.String(length=55),
                nullable=True,
                comment="That request's W3C trace context, if any.",
            )
        )
    op.create_table(
        "processed_jobs",
        sa.Column(
            "id",
            sa.String(length=36),
            nullable=False,
            comment="The job's id (its outbox message's).",
        ),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_processed_jobs")),
    )
    with op.batch_alter_table("processed_jobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_processed_jobs_processed_at"), ["processed_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("processed_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_processed_jobs_processed_at"))
    op.drop_table("processed_jobs")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("traceparent")
