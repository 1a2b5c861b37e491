"""Errors of the live feature, each with its stable code."""

from __future__ import annotations

from waymark.kernel.errors import WaymarkError


class TooManyStreams(WaymarkError):
    """The account (or the process) holds as many live streams open as it may."""

    status = 429
    code = "too-many-streams"
    title = "Too many live streams open: close one first"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail)
        self.headers = {"retry-after": "5"}


class TicketRefused(WaymarkError):
    """A WebSocket ticket that is unknown, used already or expired, or whose account can no
    longer connect (deleted, disabled, signed out everywhere since). Never said which."""

    status = 401
    code = "invalid-ticket"
    title = "This live ticket cannot be used: ask for a new one"
