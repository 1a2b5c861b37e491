"""linked identities: sign-in through other sites (OIDC, GitHub), and attempts under way

Revision ID: e1a2b3c4d5f6
Revises: d4e5f6071829
Create Date: 2026-12-01 11:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from waymark.infra.sql.types import UtcDateTime

revision: str = "e1a2b3c4d5f6"
down_revision: str | None = "d4e5f6071829"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "linked_identities",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column(
            "provider", sa.String(length=64), nullable=False, comment="The provider's name here."
        ),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column(
            "email",
            sa.String(length=320),
            server_default="",
            nullable=False,
            comment="As last told.",
        ),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("last_used_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_linked_identities_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_linked_identities")),
        sa.UniqueConstraint("issuer", "subject", name=op.f("uq_linked_identities_issuer_subject")),
    )
    op.create_index("ix_linked_identities_user_id", "linked_identities", ["user_id"])
    op.create_table(
        "sign_in_attempts",
        sa.Column(
            "id_hash",
            sa.String(length=64),
            nullable=False,
            comment="SHA-256 of the cookie's value.",
        ),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("verifier", sa.String(length=128), nullable=False, comment="PKCE code verifier."),
        sa.Column(
            "link_to",
            sa.Uuid(),
            nullable=True,
            comment="Linking from this signed-in account; NULL: a sign-in.",
        ),
        sa.Column("next_path", sa.String(length=2000), server_default="/", nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_sign_in_attempts")),
    )
    op.create_index(op.f("ix_sign_in_attempts_expires_at"), "sign_in_attempts", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_sign_in_attempts_expires_at"), table_name="sign_in_attempts")
    op.drop_table("sign_in_attempts")
    op.drop_index("ix_linked_identities_user_id", table_name="linked_identities")
    op.drop_table("linked_identities")
