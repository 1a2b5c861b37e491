"""Request and response bodies for signing in, tokens and sessions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from waymark.features.accounts.schemas import (
    CurrentPassword,
    DisplayName,
    Email,
    Me,
    Strict,
    Token,
)


class LoginRequest(Strict):
    email: Email
    password: CurrentPassword
    mode: Literal["token", "session"] = "token"
    """`token`: access + refresh tokens for API clients; `session`: a cookie for browsers."""


class RefreshRequest(Strict):
    refresh_token: Token


class TokenPair(msgspec.Struct, kw_only=True):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105  (the OAuth token type, not a secret)
    expires_in: int
    refresh_token: str


class SessionLogin(msgspec.Struct, kw_only=True):
    """A browser login: the session id travels only in the HttpOnly cookie."""

    user: Me
    csrf_token: str
    """Send it back as `X-CSRF-Token` on every state-changing request."""


class SessionView(msgspec.Struct, kw_only=True):
    id: str
    kind: Literal["session", "api"]
    created_at: datetime
    last_seen_at: datetime
    ip: str
    user_agent: str
    current: bool


class SignInOption(msgspec.Struct, kw_only=True, frozen=True):
    """A provider on the sign-in page: its button says `Sign in with <label>`."""

    name: str
    label: str


class LinkedIdentity(msgspec.Struct, kw_only=True):
    """An identity at another site that signs in to this account."""

    id: uuid.UUID
    provider: str
    issuer: str
    subject: str
    email: str
    """The address the other site last told; never used to link."""
    created_at: datetime
    last_used_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> LinkedIdentity:
        return cls(**{name: getattr(row, name) for name in cls.__struct_fields__})


# -- Second factors -----------------------------------------------------------------------------

FactorKind = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=32,
        pattern=r"^[a-z][a-z0-9-]*$",
        description="`totp` (an authenticator app's code), `recovery` (a recovery code), or "
        "another factor this account has (`factors` of the challenge).",
    ),
]
Code = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=64, description="The code, as shown or typed."),
]


class MfaChallenge(msgspec.Struct, kw_only=True):
    """The first factor passed, and the account has MFA on: answer this challenge
    (`POST /api/v1/auth/mfa/challenge`) to get the session or tokens."""

    mfa_required: Literal[True] = True
    challenge: str
    """Single use, for `expires_in` seconds and 5 wrong answers. Not a bearer token."""
    expires_in: int
    factors: list[str]
    """What the account can answer with."""


class ChallengeAnswer(Strict):
    challenge: Token
    code: Code | None = None
    """For a code's kinds (`totp`, `recovery`, `email`)."""
    kind: FactorKind = "totp"
    credential: dict[str, Any] | None = None
    """For `webauthn`: what `navigator.credentials.get()` gave (`PublicKeyCredential.toJSON()`)
    for the options of `POST /api/v1/auth/mfa/challenge/passkey`."""


class FactorAnswer(Strict):
    code: Code | None = None
    """For a code's kinds (`totp`, `recovery`)."""
    kind: FactorKind = "totp"
    credential: dict[str, Any] | None = None
    """For `webauthn`: a passkey's assertion for the options of
    `POST /api/v1/me/mfa/step-up/passkey`."""


class TotpConfirm(Strict):
    code: Code
    password: CurrentPassword = ""
    """The current password again (re-authentication): a stolen session alone cannot turn
    on a second factor that would lock the owner out. Not asked when passwords are off;
    left out after a re-authentication through a linked provider (docs/sign-in.md)."""


class TotpEnrolment(msgspec.Struct, kw_only=True):
    """A new TOTP secret, not yet on: confirm it with a first code."""

    secret: str
    """Base32, for typing into an app that cannot scan."""
    otpauth_uri: str
    qr_svg: str
    """The URI as an SVG QR code, drawn by the server."""


class RecoveryCodes(msgspec.Struct, kw_only=True):
    """Shown once: only their hashes are kept. Each works once, in place of a code."""

    recovery_codes: list[str]


class MfaStatus(msgspec.Struct, kw_only=True):
    enabled: bool
    factors: list[str]
    recovery_codes_left: int


class ChallengeRef(Strict):
    challenge: Token


class PasskeyCeremony(msgspec.Struct, kw_only=True):
    """A ceremony begun: hand `public_key` to `navigator.credentials.create()` or `.get()`
    (as `publicKey`, its base64url fields decoded), then send the result back with
    `ceremony`. The ceremony answers once, within a few minutes."""

    ceremony: str
    public_key: dict[str, Any] = msgspec.field(name="publicKey")


class PasskeyOptions(msgspec.Struct, kw_only=True):
    """Options for `navigator.credentials.get()` (as `publicKey`, its base64url fields
    decoded), bound to one sign-in's challenge or one session's step-up: answer it with
    `kind: webauthn`."""

    public_key: dict[str, Any] = msgspec.field(name="publicKey")


PasskeyName = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=100,
        # Something visible, and no control characters.
        pattern=r"^[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$",
        description="1 to 100 characters, not blank, no control characters.",
    ),
]
Ceremony = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class PasskeyRegistration(Strict):
    ceremony: Ceremony
    credential: dict[str, Any]
    """What `navigator.credentials.create()` gave (`PublicKeyCredential.toJSON()`)."""
    name: DisplayName = ""
    """Shown in the list; a name is made up when left empty."""


class PasskeySignIn(Strict):
    ceremony: Ceremony
    credential: dict[str, Any]
    """What `navigator.credentials.get()` gave (`PublicKeyCredential.toJSON()`)."""
    mode: Literal["token", "session"] = "token"


class PasskeyRename(Strict):
    name: PasskeyName


class PasskeyView(msgspec.Struct, kw_only=True):
    """A passkey registered to your account (its key itself is never shown)."""

    id: uuid.UUID
    name: str
    created_at: datetime
    last_used_at: datetime | None
    transports: list[str]
    aaguid: str
    """The authenticator's model (all zeros when it does not say)."""
    synced: bool
    """Backed up by its provider (a synced passkey), rather than bound to one device."""

    @classmethod
    def of(cls, row: Any) -> PasskeyView:
        return cls(
            id=row.id,
            name=row.name,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            transports=row.transports.split(),
            aaguid=row.aaguid,
            synced=row.backed_up,
        )
