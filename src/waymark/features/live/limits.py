"""Rate limits of the live feature."""

from __future__ import annotations

from waymark.kernel.throttle import Rule

ISSUE_TICKET = Rule("live-ticket", 60, 60)
"""WebSocket tickets an account may ask for per minute (a reconnecting client asks one per
connection; its backoff keeps it far below this)."""
