"""Business errors of authentication, each with its stable code."""

from __future__ import annotations

import uuid

from waymark.kernel.errors import WaymarkError


class InvalidRefreshToken(WaymarkError):
    """A refresh token that is unknown, expired, revoked, or was used already.

    One status, code and title whatever the reason, so a guesser learns nothing."""

    status = 401
    code = "invalid-token"
    title = "Invalid, expired or revoked refresh token"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail)
        self.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'  # RFC 6750


class RefreshReused(InvalidRefreshToken):
    """A rotated refresh token came back after the grace window: its family is revoked."""

    def __init__(self, user_id: uuid.UUID, family_id: str) -> None:
        super().__init__("refresh token reused; family revoked")
        self.user_id = user_id
        self.family_id = family_id
