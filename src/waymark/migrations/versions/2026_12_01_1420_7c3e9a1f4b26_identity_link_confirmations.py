"""identity link confirmations: an identity whose verified address an account has, waiting
for that account's owner to confirm by mail

Revision ID: 7c3e9a1f4b26
Revises: 56137265a898
Create Date: 2026-12-01 14:20:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from waymark.infra.sql.types import UtcDateTime

revision: str = "7c3e9a1f4b26"
down_revision: str | None = "56137265a898"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "identity_link_confirmations",
        sa.Column(
            "id_hash", sa.String(length=64), nullable=False, comment="SHA-256 of the mailed token."
        ),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=320), server_default="", nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_identity_link_confirmations_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_identity_link_confirmations")),
    )
    op.create_index(
        op.f("ix_identity_link_confirmations_expires_at"),
        "identity_link_confirmations",
        ["expires_at"],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_identity_link_confirmations_expires_at"), table_name="identity_link_confirmations"
    )
    op.drop_table("identity_link_confirmations")
