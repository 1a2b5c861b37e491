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


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column(
                "platform_role",
                sa.String(length=16),
                nullable=False,
                server_default="learner",
                comment="learner, editor or admin (kernel.authz.PLATFORM_ROLES).",
            )
        )
        batch.add_column(
            sa.Column(
                "team_reminders",
                sa.Boolean(),
                nullable=False,
                server_default=sa.true(),
                comment="False when the account opted out of its teams' reminder mails.",
            )
        )
        batch.create_check_constraint(
            op.f("ck_users_platform_role"), "platform_role IN ('learner', 'editor', 'admin')"
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(op.f("ck_users_platform_role"), type_="check")
        batch.drop_column("team_reminders")
        batch.drop_column("platform_role")
