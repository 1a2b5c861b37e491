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
