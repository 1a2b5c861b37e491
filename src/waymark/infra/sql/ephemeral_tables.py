"""Tables of the embedded ephemeral store: rate-limit levels, sessions, refresh families.

Times are Unix epoch seconds in double precision, like the ports that read and write them.
`expires_at` is stored (not derived in queries) so every adapter compares the same number,
and so `purge_expired` finds dead rows through an index.
"""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, Column, Double, ForeignKey, String, Table, Text

from waymark.infra.sql.metadata import metadata

ephemeral_rate_limits = Table(
    "ephemeral_rate_limits",
    metadata,
    Column("key", Text, primary_key=True),
    Column("last_at", Double, nullable=False),
    Column("level", Double, nullable=False, comment="Seconds of the period in use at last_at."),
    Column("expires_at", Double, nullable=False, index=True),
)

ephemeral_sessions = Table(
    "ephemeral_sessions",
    metadata,
    Column("id_hash", String(128), primary_key=True),
    Column("user_id", String(128), nullable=False, index=True),
    Column("created_at", Double, nullable=False),
    Column("last_seen_at", Double, nullable=False),
    Column("idle_timeout", Double, nullable=False),
    Column("absolute_expires_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False, index=True),
    Column("csrf_token", Text, nullable=False),
    Column("ip", Text, nullable=False),
    Column("user_agent", Text, nullable=False),
    Column("auth_level", String(16), nullable=False),
    CheckConstraint("auth_level IN ('password', 'mfa')", name="auth_level"),
)

ephemeral_refresh_families = Table(
    "ephemeral_refresh_families",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("user_id", String(128), nullable=False, index=True),
    Column("created_at", Double, nullable=False),
    Column("last_used_at", Double, nullable=False),
    Column("idle_timeout", Double, nullable=False),
    Column("absolute_expires_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False, index=True),
    Column("current_hash", String(128), nullable=False, unique=True),
    Column("ip", Text, nullable=False),
    Column("user_agent", Text, nullable=False),
    Column("revoked", Boolean, nullable=False),
    Column(
        "amr",
        String(64),
        nullable=False,
        server_default="",
        comment="How its sign-in was proved (RFC 8176 values, spaces between).",
    ),
)

ephemeral_refresh_rotations = Table(
    "ephemeral_refresh_rotations",
    metadata,
    Column("token_hash", String(128), primary_key=True),
    Column(
        "family_id",
        ForeignKey("ephemeral_refresh_families.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("rotated_at", Double, nullable=False),
    Column(
        "successor",
        Text,
        comment="The raw successor token, kept only for the grace window, then cleared.",
    ),
    Column("successor_expires_at", Double),
)
