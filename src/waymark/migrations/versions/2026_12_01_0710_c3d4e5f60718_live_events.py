"""live events: the embedded live channels' replay log

Revision ID: c3d4e5f60718
Revises: b7d1e2f3a4c5
Create Date: 2026-12-01 07:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c3d4e5f60718"
down_revision: str | None = "b7d1e2f3a4c5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "live_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("channel", sa.String(length=200), nullable=False),
        sa.Column(
            "prev_id",
            sa.BigInteger(),
            nullable=True,
            comment="The channel's previous event; NULL: none before.",
        ),
        sa.Column("kind", sa.String(length=100), nullable=False),
        sa.Column("data", sa.Text(), nullable=False, comment="JSON."),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False, comment="Unix seconds."),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_events")),
        sa.UniqueConstraint(
            "channel", "dedupe_key", name=op.f("uq_live_events_channel_dedupe_key")
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_live_events_channel_id", "live_events", ["channel", "id"])


def downgrade() -> None:
    op.drop_index("ix_live_events_channel_id", table_name="live_events")
    op.drop_table("live_events")
