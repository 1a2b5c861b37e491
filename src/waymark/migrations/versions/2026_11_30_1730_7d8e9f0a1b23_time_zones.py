"""time zones: each account's IANA time zone, for the days of its streaks

Revision ID: 7d8e9f0a1b23
Revises: 6c7d8e9f0a12
Create Date: 2026-11-30 17:30:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7d8e9f0a1b23"
down_revision: str | None = "6c7d8e9f0a12"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column(
                "time_zone",
                sa.String(64),
                nullable=False,
                server_default="UTC",
                comment="IANA name; the days of streaks are this zone's.",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("time_zone")
