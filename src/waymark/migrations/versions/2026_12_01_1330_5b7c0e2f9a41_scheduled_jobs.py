"""scheduled jobs: one row per job and slot (inserted with the slot's outbox message), and the
weekly progress digest's opt-out; an index on progress days for the streak roll-over

Revision ID: 5b7c0e2f9a41
Revises: e0a580718ef7
Create Date: 2026-12-01 13:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from waymark.infra.sql.types import UtcDateTime

revision: str = "5b7c0e2f9a41"
down_revision: str | None = "e0a580718ef7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scheduled_slots",
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("slot_at", UtcDateTime(), nullable=False, comment="The instant the slot fires."),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.Column(
            "message_id",
            sa.String(length=36),
            nullable=True,
            comment="The outbox message that runs it (enqueued).",
        ),
        sa.CheckConstraint(
            "state IN ('enqueued', 'skipped')", name=op.f("ck_scheduled_slots_state")
        ),
        sa.PrimaryKeyConstraint("job", "slot_at", name=op.f("pk_scheduled_slots")),
    )
    op.add_column(
        "users",
        sa.Column(
            "weekly_digest",
            sa.Boolean(),
            nullable=False,
            server_default=sa.true(),
            comment="False when the account opted out of the weekly progress digest mail.",
        ),
    )

    # The streak roll-over reads the last few days of every learner, hourly.
    with op.batch_alter_table("progress_days", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_progress_days_day"), ["day"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("progress_days", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_progress_days_day"))
    op.drop_column("users", "weekly_digest")
    op.drop_table("scheduled_slots")
