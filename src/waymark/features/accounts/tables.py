"""Accounts: users, single-use email tokens, and the authentication audit log.

Sessions and refresh-token families are not here: they are ephemeral state behind
`kernel.ports` (Redis in production, the SQL store when embedded).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    Uuid,
    true,
)

from waymark.infra.sql.metadata import metadata
from waymark.infra.sql.types import UtcDateTime

users = Table(
    "users",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("email", String(320), nullable=False, unique=True, comment="Normalised (lower case)."),
    Column("password_hash", String(255), nullable=False),
    Column("display_name", String(100), nullable=False, server_default=""),
    Column(
        "time_zone",
        String(64),
        nullable=False,
        server_default="UTC",
        comment="IANA name; the days of streaks are this zone's.",
    ),
    Column(
        "platform_role",
        String(16),
        nullable=False,
        server_default="learner",
        comment="learner, editor or admin (kernel.authz.PLATFORM_ROLES).",
    ),
    Column(
        "team_reminders",
        Boolean,
        nullable=False,
        server_default=true(),
        comment="False when the account opted out of its teams' reminder mails.",
    ),
    Column(
        "weekly_digest",
        Boolean,
        nullable=False,
        server_default=true(),
        comment="False when the account opted out of the weekly progress digest mail.",
    ),
    Column("email_verified_at", UtcDateTime()),
    Column("disabled_at", UtcDateTime()),
    Column(
        "tokens_valid_after",
        UtcDateTime(),
        nullable=False,
        comment="Access tokens and sessions issued before this instant are refused.",
    ),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    CheckConstraint("platform_role IN ('learner', 'editor', 'admin')", name="platform_role"),
)

email_tokens = Table(
    "email_tokens",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("purpose", String(32), nullable=False),
    Column(
        "token_hash", String(64), nullable=False, unique=True, comment="SHA-256; never the token."
    ),
    Column("new_email", String(320)),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("used_at", UtcDateTime()),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("ip", String(64), nullable=False, server_default=""),
    Column("user_agent", String(256), nullable=False, server_default=""),
    Column("detail", Text, nullable=False, server_default="{}", comment="JSON, never secrets."),
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_audit_events_user_id_created_at", "user_id", "created_at"),
)
