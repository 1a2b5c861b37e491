"""Request and response bodies for signing in, tokens and sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

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
