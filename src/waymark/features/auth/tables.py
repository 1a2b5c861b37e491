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
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
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
    Column(
        "reauth_session", String(128), comment="Re-authenticating this session (its key); NULL: no."
    ),
)

reauthentications = Table(
    "reauthentications",
    metadata,
    Column(
        "session_key",
        String(128),
        primary_key=True,
        comment="The session id's hash or the token family's id.",
    ),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("provider", String(64), nullable=False),
    Column("reauthenticated_at", UtcDateTime(), nullable=False),
)

link_confirmations = Table(
    "identity_link_confirmations",
    metadata,
    Column("id_hash", String(64), primary_key=True, comment="SHA-256 of the mailed token."),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("provider", String(64), nullable=False),
    Column("issuer", String(500), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("email", String(320), nullable=False, server_default=""),
    Column("expires_at", UtcDateTime(), nullable=False, index=True),
)

# -- Second factors ---------------------------------------------------------------------------

mfa_totp = Table(
    "mfa_totp",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "secret",
        LargeBinary,
        nullable=False,
        comment="AES-256-GCM sealed (infra.security.secret_box), bound to this row's user.",
    ),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("confirmed_at", UtcDateTime(), comment="NULL: enrolment begun, not confirmed; MFA off."),
    Column("last_step", BigInteger, comment="The last time step accepted: never again."),
)

mfa_recovery_codes = Table(
    "mfa_recovery_codes",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("code_hash", String(64), nullable=False, comment="SHA-256 of the code."),
    Column("created_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("user_id", "code_hash"),
)

mfa_challenges = Table(
    "mfa_challenges",
    metadata,
    Column("id_hash", String(64), primary_key=True, comment="SHA-256 of the challenge token."),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("mode", String(16), nullable=False, comment="What it ends in: token or session."),
    Column("via", String(64), nullable=False, comment="The first factor's strategy."),
    Column("tries", Integer, nullable=False, server_default="0"),
    Column("expires_at", UtcDateTime(), nullable=False, index=True),
    Column("email_code_hash", String(64), comment="SHA-256 of the code mailed for it, if any."),
    Column("email_code_expires_at", UtcDateTime()),
    Column("email_codes_sent", Integer, nullable=False, server_default="0"),
)

mfa_email = Table(
    "mfa_email",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("enabled_at", UtcDateTime(), nullable=False),
)

mfa_step_ups = Table(
    "mfa_step_ups",
    metadata,
    Column(
        "session_key",
        String(128),
        primary_key=True,
        comment="The session id's hash or the token family's id.",
    ),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("verified_at", UtcDateTime(), nullable=False),
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
