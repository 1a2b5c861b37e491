"""mfa: TOTP secrets (sealed), recovery codes, mailed codes, sign-in challenges, step-ups;
how a token family's sign-in was proved

Revision ID: 56137265a898
Revises: 5b7c0e2f9a41
Create Date: 2026-12-01 13:20:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from waymark.infra.sql.types import UtcDateTime

revision: str = "56137265a898"
down_revision: str | None = "5b7c0e2f9a41"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _user(table: str, *, primary_key: bool = False) -> sa.Column[object]:
    return sa.Column(
        "user_id",
        sa.Uuid(),
        sa.ForeignKey("users.id", name=op.f(f"fk_{table}_user_id_users"), ondelete="CASCADE"),
        nullable=False,
        primary_key=primary_key,
    )


def upgrade() -> None:
    op.add_column(
        "ephemeral_refresh_families",
        sa.Column(
            "amr",
            sa.String(length=64),
            server_default="",
            nullable=False,
            comment="How its sign-in was proved (RFC 8176 values, spaces between).",
        ),
    )
    op.create_table(
        "mfa_totp",
        _user("mfa_totp", primary_key=True),
        sa.Column(
            "secret",
            sa.LargeBinary(),
            nullable=False,
            comment="AES-256-GCM sealed (infra.security.secret_box), bound to this row's user.",
        ),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column(
            "confirmed_at",
            UtcDateTime(),
            nullable=True,
            comment="NULL: enrolment begun, not confirmed; MFA off.",
        ),
        sa.Column(
            "last_step",
            sa.BigInteger(),
            nullable=True,
            comment="The last time step accepted: never again.",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_mfa_totp")),
    )
    op.create_table(
        "mfa_recovery_codes",
        _user("mfa_recovery_codes"),
        sa.Column(
            "code_hash", sa.String(length=64), nullable=False, comment="SHA-256 of the code."
        ),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "code_hash", name=op.f("pk_mfa_recovery_codes")),
    )
    op.create_table(
        "mfa_challenges",
        sa.Column(
            "id_hash",
            sa.String(length=64),
            nullable=False,
            comment="SHA-256 of the challenge token.",
        ),
        _user("mfa_challenges"),
        sa.Column(
            "mode",
            sa.String(length=16),
            nullable=False,
            comment="What it ends in: token or session.",
        ),
        sa.Column(
            "via", sa.String(length=64), nullable=False, comment="The first factor's strategy."
        ),
        sa.Column("tries", sa.Integer(), server_default="0", nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column(
            "email_code_hash",
            sa.String(length=64),
            nullable=True,
            comment="SHA-256 of the code mailed for it, if any.",
        ),
        sa.Column("email_code_expires_at", UtcDateTime(), nullable=True),
        sa.Column("email_codes_sent", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_mfa_challenges")),
    )
    op.create_index(op.f("ix_mfa_challenges_user_id"), "mfa_challenges", ["user_id"])
    op.create_index(op.f("ix_mfa_challenges_expires_at"), "mfa_challenges", ["expires_at"])
    op.create_table(
        "mfa_step_ups",
        sa.Column(
            "session_key",
            sa.String(length=128),
            nullable=False,
            comment="The session id's hash or the token family's id.",
        ),
        _user("mfa_step_ups"),
        sa.Column("verified_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("session_key", name=op.f("pk_mfa_step_ups")),
    )
    op.create_index(op.f("ix_mfa_step_ups_user_id"), "mfa_step_ups", ["user_id"])
    op.create_table(
        "mfa_email",
        _user("mfa_email", primary_key=True),
        sa.Column("enabled_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_mfa_email")),
    )


def downgrade() -> None:
    op.drop_table("mfa_email")
    op.drop_index(op.f("ix_mfa_step_ups_user_id"), table_name="mfa_step_ups")
    op.drop_table("mfa_step_ups")
    op.drop_index(op.f("ix_mfa_challenges_expires_at"), table_name="mfa_challenges")
    op.drop_index(op.f("ix_mfa_challenges_user_id"), table_name="mfa_challenges")
    op.drop_table("mfa_challenges")
    op.drop_table("mfa_recovery_codes")
    op.drop_table("mfa_totp")
    op.drop_column("ephemeral_refresh_families", "amr")
