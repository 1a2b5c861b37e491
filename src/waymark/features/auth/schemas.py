"""Request and response bodies for signing in, tokens and sessions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

import msgspec

from waymark.features.accounts.schemas import CurrentPassword, Email, Me, Strict, Token


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
