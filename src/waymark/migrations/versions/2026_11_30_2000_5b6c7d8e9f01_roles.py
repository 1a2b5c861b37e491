"""roles: each account's platform role, and whether it takes team reminder mails

Revision ID: 5b6c7d8e9f01
Revises: 8e9f0a1b2c34
Create Date: 2026-11-30 20:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b6c7d8e9f01"
down_revision: str | None = "8e9f0a1b2c34"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


ROLES_CHECK = "platform_role IN ('learner', 'editor', 'admin')"


def upgrade() -> None:
    # Plain ADD COLUMN, never a batch rebuild of `users`: on SQLite a rebuild drops the table,
    # and with foreign keys on that deletes every row that references an account (tokens,
    # audit, progress). SQLite cannot add a CHECK to an existing table, so the role's check is
    # PostgreSQL's; on SQLite the only writer (`Administration`) takes the enum.
    op.add_column(
        "users",
        sa.Column(
            "platform_role",
            sa.String(length=16),
            nullable=False,
            server_default="learner",
            comment="learner, editor or admin (kernel.authz.PLATFORM_ROLES).",
        ),
    )
    op.add_column(
        "users",
        sa.Column(
            "team_reminders",
            sa.Boolean(),
            nullable=False,
            server_default=sa.true(),
            comment="False when the account opted out of its teams' reminder mails.",
        ),
    )
    if op.get_bind().dialect.name != "sqlite":
        op.create_check_constraint(op.f("ck_users_platform_role"), "users", ROLES_CHECK)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(op.f("ck_users_platform_role"), "users", type_="check")
    op.drop_column("users", "team_reminders")
    op.drop_column("users", "platform_role")
