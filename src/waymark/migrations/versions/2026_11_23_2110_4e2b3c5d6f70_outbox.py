"""outbox

Revision ID: 4e2b3c5d6f70
Revises: 3f1a2b4c5d6e
Create Date: 2026-11-23 21:10:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4e2b3c5d6f70"
down_revision: str | None = "3f1a2b4c5d6e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column(
            "kind",
            sa.String(length=64),
            nullable=False,
            comment="What the message is, e.g. mail.send.",
        ),
        sa.Column("payload", sa.Text(), nullable=False, comment="JSON, encoded by msgspec."),
        sa.Column(
            "correlation_id",
            sa.String(length=128),
            nullable=True,
            comment="The request or job that caused the message.",
        ),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "available_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="Not claimed before this.",
        ),
        sa.Column(
            "locked_until",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="The lease of the relay running it.",
        ),
        sa.Column("locked_by", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "processed_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When it became done or dead.",
        ),
        sa.CheckConstraint("state IN ('pending', 'done', 'dead')", name=op.f("ck_outbox_state")),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_outbox_attempts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbox_dedupe_key")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_state_available_at", ["state", "available_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_state_available_at")

    op.drop_table("outbox")
