"""Request and response bodies for login, tokens and sessions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import msgspec

from waymark.features.accounts.repository import UserRow
from waymark.features.accounts.schemas import Email, Me, Password, Strict, Token


class LoginRequest(Strict):
    email: Email
    password: Password
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


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who is calling, established once per request."""

    via: Literal["bearer", "cookie"]
    session_ref: str
    """`s:<hash prefix>` for a browser session, `f:<family id>` for an API client."""
    session_key: str
    """The store key: the session id hash or the refresh family id."""
    user: UserRow
    """The account as read for this request (live, not disabled)."""

    @property
    def user_id(self) -> uuid.UUID:
        return self.user.id
