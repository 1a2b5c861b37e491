"""teams: members and their roles, invites, assigned roadmaps and hidden topics

Revision ID: a1c2e3f40516
Revises: 5b6c7d8e9f01
Create Date: 2026-11-30 21:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from waymark.infra.sql.types import UtcDateTime

revision: str = "a1c2e3f40516"
down_revision: str | None = "5b6c7d8e9f01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", sa.Uuid(), nullable=False, comment="Random (uuid4)."),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "members_see_progress",
            sa.Boolean(),
            nullable=False,
            server_default=sa.false(),
            comment="Whether members (not only managers and up) see the team's progress.",
        ),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
    )
    op.create_table(
        "team_members",
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False, comment="kernel.authz.TeamRole"),
        sa.Column("joined_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint(
            "role IN ('member', 'manager', 'admin', 'owner')", name=op.f("ck_team_members_role")
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_team_members_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_team_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("team_id", "user_id", name=op.f("pk_team_members")),
    )
    with op.batch_alter_table("team_members", schema=None) as batch_op:
        batch_op.create_index("ix_team_members_user_id", ["user_id"], unique=False)
        batch_op.create_index("ix_team_members_team_id_role", ["team_id", "role"], unique=False)

    op.create_table(
        "team_invites",
        sa.Column("id", sa.Uuid(), nullable=False, comment="Random (uuid4)."),
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column(
            "email", sa.String(length=320), nullable=False, comment="Canonical: only it may accept."
        ),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column(
            "token_hash", sa.String(length=64), nullable=False, comment="SHA-256; never the token."
        ),
        sa.Column("invited_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("sent_at", UtcDateTime(), nullable=False, comment="The latest mail (a resend)."),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint(
            "role IN ('member', 'manager', 'admin')", name=op.f("ck_team_invites_role")
        ),
        sa.ForeignKeyConstraint(
            ["invited_by"],
            ["users.id"],
            name=op.f("fk_team_invites_invited_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_team_invites_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_invites")),
        sa.UniqueConstraint("team_id", "email", name=op.f("uq_team_invites_team_id_email")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_team_invites_token_hash")),
    )
    with op.batch_alter_table("team_invites", schema=None) as batch_op:
        batch_op.create_index("ix_team_invites_invited_by", ["invited_by"], unique=False)

    op.create_table(
        "team_roadmaps",
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("roadmap_id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("assigned_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["roadmap_id"],
            ["roadmaps.id"],
            name=op.f("fk_team_roadmaps_roadmap_id_roadmaps"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_team_roadmaps_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("team_id", "roadmap_id", name=op.f("pk_team_roadmaps")),
        sa.UniqueConstraint("team_id", "slug", name=op.f("uq_team_roadmaps_team_id_slug")),
    )
    op.create_table(
        "team_hidden_topics",
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("roadmap_id", sa.Integer(), nullable=False),
        sa.Column("topic_key", sa.String(length=129), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id", "roadmap_id"],
            ["team_roadmaps.team_id", "team_roadmaps.roadmap_id"],
            name=op.f("fk_team_hidden_topics_team_id_team_roadmaps"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "team_id", "roadmap_id", "topic_key", name=op.f("pk_team_hidden_topics")
        ),
    )


def downgrade() -> None:
    op.drop_table("team_hidden_topics")
    op.drop_table("team_roadmaps")
    with op.batch_alter_table("team_invites", schema=None) as batch_op:
        batch_op.drop_index("ix_team_invites_invited_by")
    op.drop_table("team_invites")
    with op.batch_alter_table("team_members", schema=None) as batch_op:
        batch_op.drop_index("ix_team_members_team_id_role")
        batch_op.drop_index("ix_team_members_user_id")
    op.drop_table("team_members")
    op.drop_table("teams")
