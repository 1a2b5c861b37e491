"""Sign-in through other sites: the identities linked to accounts, and the attempts under
way (their secrets kept here, server-side; the browser holds only a random id). Passkeys:
the credentials registered to accounts, and the ceremonies under way (their challenges)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Table,
    UniqueConstraint,
    Uuid,
    false,
)

from waymark.infra.sql.metadata import metadata
from waymark.infra.sql.types import UtcDateTime

linked_identities = Table(
    "linked_identities",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("provider", String(64), nullable=False, comment="The provider's name here."),
    Column("issuer", String(500), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("email", String(320), nullable=False, server_default="", comment="As last told."),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_used_at", UtcDateTime()),
    UniqueConstraint("issuer", "subject"),
    Index("ix_linked_identities_user_id", "user_id"),
)

sign_in_attempts = Table(
    "sign_in_attempts",
    metadata,
    Column("id_hash", String(64), primary_key=True, comment="SHA-256 of the cookie's value."),
    Column("provider", String(64), nullable=False),
    Column("state", String(64), nullable=False),
    Column("nonce", String(64), nullable=False),
    Column("verifier", String(128), nullable=False, comment="PKCE code verifier."),
    Column("link_to", Uuid, comment="Linking from this signed-in account; NULL: a sign-in."),
    Column("next_path", String(2000), nullable=False, server_default="/"),
    Column("expires_at", UtcDateTime(), nullable=False, index=True),
)

passkeys = Table(
    "passkeys",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("credential_id", String(1400), nullable=False, unique=True, comment="base64url."),
    Column("public_key", LargeBinary, nullable=False, comment="COSE_Key, as registered."),
    Column("sign_count", BigInteger, nullable=False, server_default="0"),
    Column(
        "transports", String(200), nullable=False, server_default="", comment="Space-separated."
    ),
    Column("aaguid", String(36), nullable=False),
    Column(
        "backed_up", Boolean, nullable=False, server_default=false(), comment="Synced (BS flag)."
    ),
    Column("name", String(100), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_used_at", UtcDateTime()),
    Index("ix_passkeys_user_id", "user_id"),
)

passkey_ceremonies = Table(
    "passkey_ceremonies",
    metadata,
    Column("id_hash", String(64), primary_key=True, comment="SHA-256 of the ceremony's id."),
    Column("purpose", String(16), nullable=False, comment="register or sign-in."),
    Column("user_id", Uuid, comment="Registering for this account; NULL: a sign-in."),
    Column("challenge", String(128), nullable=False, comment="base64url."),
    Column("expires_at", UtcDateTime(), nullable=False, index=True),
)
