"""notifications: an account's in-app notifications, read and unread

Revision ID: b7d1e2f3a4c5
Revises: a1c2e3f40516
Create Date: 2026-12-01 07:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from waymark.infra.sql.types import UtcDateTime

revision: str = "b7d1e2f3a4c5"
down_revision: str | None = "a1c2e3f40516"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column(
            "seq",
            sa.Integer(),
            autoincrement=False,
            nullable=False,
            comment="1, 2, ... per account.",
        ),
        sa.Column("id", sa.Uuid(), nullable=False, comment="Random (uuid4)."),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("text", sa.String(length=400), nullable=False),
        sa.Column("link", sa.String(length=400), nullable=True, comment="A path of this site."),
        sa.Column(
            "data",
            sa.Text(),
            nullable=False,
            server_default="{}",
            comment="JSON: what it is about.",
        ),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("read_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["users.id"],
            name=op.f("fk_notifications_account_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "seq", name=op.f("pk_notifications")),
        sa.UniqueConstraint("id", name=op.f("uq_notifications_id")),
        sa.UniqueConstraint(
            "account_id", "dedupe_key", name=op.f("uq_notifications_account_id_dedupe_key")
        ),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index("ix_notifications_unread", ["account_id", "read_at"], unique=False)
        batch_op.create_index("ix_notifications_read_at", ["read_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_read_at")
        batch_op.drop_index("ix_notifications_unread")
    op.drop_table("notifications")
