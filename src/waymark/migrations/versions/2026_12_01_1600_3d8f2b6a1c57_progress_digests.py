"""progress digests: the weekly digest dealt with, per learner and week (the slot's date in
the learner's zone), so it goes once a week at the learner's own time

Revision ID: 3d8f2b6a1c57
Revises: 7c3e9a1f4b26
Create Date: 2026-12-01 16:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from waymark.infra.sql.types import UtcDateTime

revision: str = "3d8f2b6a1c57"
down_revision: str | None = "7c3e9a1f4b26"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "progress_digests",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column(
            "week", sa.Date(), nullable=False, comment="The slot's date in the learner's zone."
        ),
        sa.Column("slot_at", UtcDateTime(), nullable=False, comment="The slot's instant."),
        sa.Column("mailed", sa.Boolean(), nullable=False, comment="False: no progress that week."),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_progress_digests_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "week", name=op.f("pk_progress_digests")),
    )


def downgrade() -> None:
    op.drop_table("progress_digests")
