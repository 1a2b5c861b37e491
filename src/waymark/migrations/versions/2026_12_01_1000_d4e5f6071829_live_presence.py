"""live presence: who is online in a team's live channel (embedded profile)

Revision ID: d4e5f6071829
Revises: c3d4e5f60718
Create Date: 2026-12-01 10:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d4e5f6071829"
down_revision: str | None = "c3d4e5f60718"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "live_presence",
        sa.Column("room", sa.String(length=200), nullable=False),
        sa.Column(
            "holder", sa.String(length=64), nullable=False, comment="One connection's own id."
        ),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False, comment="Unix seconds."),
        sa.PrimaryKeyConstraint("room", "holder", name=op.f("pk_live_presence")),
    )
    op.create_index("ix_live_presence_room_account_id", "live_presence", ["room", "account_id"])


def downgrade() -> None:
    op.drop_index("ix_live_presence_room_account_id", table_name="live_presence")
    op.drop_table("live_presence")
