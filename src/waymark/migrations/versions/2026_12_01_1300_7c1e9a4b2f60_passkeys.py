"""passkeys: WebAuthn credentials registered to accounts, and the ceremonies under way

Revision ID: 7c1e9a4b2f60
Revises: d4e5f6a7b8c9
Create Date: 2026-12-01 13:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from waymark.infra.sql.types import UtcDateTime

revision: str = "7c1e9a4b2f60"
down_revision: str | None = "d4e5f6a7b8c9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "passkeys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("credential_id", sa.String(length=1400), nullable=False, comment="base64url."),
        sa.Column(
            "public_key", sa.LargeBinary(), nullable=False, comment="COSE_Key, as registered."
        ),
        sa.Column("sign_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "transports",
            sa.String(length=200),
            server_default="",
            nullable=False,
            comment="Space-separated.",
        ),
        sa.Column("aaguid", sa.String(length=36), nullable=False),
        sa.Column(
            "backed_up",
            sa.Boolean(),
            server_default=sa.false(),
            nullable=False,
            comment="Synced (BS flag).",
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("last_used_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_passkeys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_passkeys")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_passkeys_credential_id")),
    )
    op.create_index("ix_passkeys_user_id", "passkeys", ["user_id"])
    op.create_table(
        "passkey_ceremonies",
        sa.Column(
            "id_hash", sa.String(length=64), nullable=False, comment="SHA-256 of the ceremony's id."
        ),
        sa.Column("purpose", sa.String(length=16), nullable=False, comment="register or sign-in."),
        sa.Column(
            "user_id",
            sa.Uuid(),
            nullable=True,
            comment="Registering for this account; NULL: a sign-in.",
        ),
        sa.Column("challenge", sa.String(length=128), nullable=False, comment="base64url."),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_passkey_ceremonies")),
    )
    op.create_index(op.f("ix_passkey_ceremonies_expires_at"), "passkey_ceremonies", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_passkey_ceremonies_expires_at"), table_name="passkey_ceremonies")
    op.drop_table("passkey_ceremonies")
    op.drop_index("ix_passkeys_user_id", table_name="passkeys")
    op.drop_table("passkeys")
