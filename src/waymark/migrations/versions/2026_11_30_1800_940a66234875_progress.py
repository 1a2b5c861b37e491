"""progress: the log of status changes and the read models projected from it

Revision ID: 940a66234875
Revises: 7d8e9f0a1b23
Create Date: 2026-11-30 18:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from waymark.infra.sql.types import UtcDateTime

revision: str = "940a66234875"
down_revision: str | None = "7d8e9f0a1b23"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "progress_days",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column(
            "day", sa.Date(), nullable=False, comment="A day with a change, in the account's zone."
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_progress_days_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "day", name=op.f("pk_progress_days")),
    )
    op.create_table(
        "progress_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("roadmap_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False, comment="1, 2, ... per account and roadmap"),
        sa.Column("topic_key", sa.String(length=129), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=False),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("roadmap_version", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.CheckConstraint(
            "from_status IN ('pending', 'learning', 'done', 'skipped')",
            name=op.f("ck_progress_events_from_status"),
        ),
        sa.CheckConstraint(
            "to_status IN ('pending', 'learning', 'done', 'skipped')",
            name=op.f("ck_progress_events_to_status"),
        ),
        sa.CheckConstraint("from_status <> to_status", name=op.f("ck_progress_events_changes")),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_progress_events_seq")),
        sa.ForeignKeyConstraint(
            ["roadmap_id"],
            ["roadmaps.id"],
            name=op.f("fk_progress_events_roadmap_id_roadmaps"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_progress_events_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_progress_events")),
        sa.UniqueConstraint(
            "user_id", "roadmap_id", "seq", name=op.f("uq_progress_events_user_id_roadmap_id_seq")
        ),
    )
    with op.batch_alter_table("progress_events", schema=None) as batch_op:
        batch_op.create_index("ix_progress_events_user_id_at", ["user_id", "at"], unique=False)

    op.create_table(
        "progress_visits",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("roadmap_id", sa.Integer(), nullable=False),
        sa.Column("seen_version", sa.Integer(), nullable=False),
        sa.Column("seen_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["roadmap_id"],
            ["roadmaps.id"],
            name=op.f("fk_progress_visits_roadmap_id_roadmaps"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_progress_visits_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "roadmap_id", name=op.f("pk_progress_visits")),
    )
    op.create_table(
        "roadmap_progress",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("roadmap_id", sa.Integer(), nullable=False),
        sa.Column("roadmap_slug", sa.String(length=64), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("learning", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("last_activity_at", UtcDateTime(), nullable=False),
        sa.Column(
            "completed_at",
            UtcDateTime(),
            nullable=True,
            comment="Set while every current topic is done or skipped.",
        ),
        sa.ForeignKeyConstraint(
            ["roadmap_id"],
            ["roadmaps.id"],
            name=op.f("fk_roadmap_progress_roadmap_id_roadmaps"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_roadmap_progress_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "roadmap_id", name=op.f("pk_roadmap_progress")),
    )
    op.create_table(
        "section_progress",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("roadmap_id", sa.Integer(), nullable=False),
        sa.Column("section_key", sa.String(length=64), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("learning", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["roadmap_id"],
            ["roadmaps.id"],
            name=op.f("fk_section_progress_roadmap_id_roadmaps"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_section_progress_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "user_id", "roadmap_id", "section_key", name=op.f("pk_section_progress")
        ),
    )
    op.create_table(
        "topic_progress",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("roadmap_id", sa.Integer(), nullable=False),
        sa.Column("topic_key", sa.String(length=129), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("changed_at", UtcDateTime(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False, comment="The event that set it."),
        sa.CheckConstraint(
            "status IN ('pending', 'learning', 'done', 'skipped')",
            name=op.f("ck_topic_progress_status"),
        ),
        sa.ForeignKeyConstraint(
            ["roadmap_id"],
            ["roadmaps.id"],
            name=op.f("fk_topic_progress_roadmap_id_roadmaps"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_topic_progress_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "user_id", "roadmap_id", "topic_key", name=op.f("pk_topic_progress")
        ),
    )


def downgrade() -> None:
    op.drop_table("topic_progress")
    op.drop_table("section_progress")
    op.drop_table("roadmap_progress")
    op.drop_table("progress_visits")
    with op.batch_alter_table("progress_events", schema=None) as batch_op:
        batch_op.drop_index("ix_progress_events_user_id_at")

    op.drop_table("progress_events")
    op.drop_table("progress_days")
