"""Time, in one place, so tests and features agree on what "now" is."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
