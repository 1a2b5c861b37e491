"""live tickets: single-use WebSocket tickets of the embedded profile, under their hashes

Revision ID: d4e5f6a7b8c9
Revises: e1a2b3c4d5f6
Create Date: 2026-12-01 10:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d4e5f6a7b8c9"
down_revision: str | None = "e1a2b3c4d5f6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "live_tickets",
        sa.Column("ticket_hash", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("issued_at", sa.Double(), nullable=False, comment="Unix seconds."),
        sa.Column("expires_at", sa.Double(), nullable=False, comment="Unix seconds."),
        sa.PrimaryKeyConstraint("ticket_hash", name=op.f("pk_live_tickets")),
    )
    with op.batch_alter_table("live_tickets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_live_tickets_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("live_tickets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_live_tickets_expires_at"))
    op.drop_table("live_tickets")
