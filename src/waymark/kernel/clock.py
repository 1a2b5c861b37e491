"""Time, in one place, so tests and features agree on what "now" is."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


class Clock:
    """The container's clock: every service of one container reads it, so epoch seconds
    (sessions, tokens, rate limits) and datetimes (rows) always agree, and a test moves them
    all at once with `offset`."""

    def __init__(self) -> None:
        self.offset = 0.0
        """Seconds added to the system clock (tests only)."""

    def time(self) -> float:
        return time.time() + self.offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)
