"""re-authentication through a linked provider: the attempt says which session it
re-authenticates, and a recent one is kept per session

Revision ID: 9d2b4e6f8a13
Revises: 9e4b7d2c5a18
Create Date: 2026-12-01 16:40:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from waymark.infra.sql.types import UtcDateTime

revision: str = "9d2b4e6f8a13"
down_revision: str | None = "9e4b7d2c5a18"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sign_in_attempts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "reauth_session",
                sa.String(length=128),
                nullable=True,
                comment="Re-authenticating this session (its key); NULL: no.",
            )
        )
    op.create_table(
        "reauthentications",
        sa.Column(
            "session_key",
            sa.String(length=128),
            nullable=False,
            comment="The session id's hash or the token family's id.",
        ),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("reauthenticated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_reauthentications_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_key", name=op.f("pk_reauthentications")),
    )
    op.create_index(op.f("ix_reauthentications_user_id"), "reauthentications", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_reauthentications_user_id"), table_name="reauthentications")
    op.drop_table("reauthentications")
    with op.batch_alter_table("sign_in_attempts", schema=None) as batch_op:
        batch_op.drop_column("reauth_session")
