"""Rate limits of the live feature."""

from __future__ import annotations

from waymark.kernel.throttle import Rule


def issue_ticket(per_minute: int) -> Rule:
    """WebSocket tickets an account may ask for per minute (`WAYMARK_LIVE__TICKETS_PER_MINUTE`,
    60: a reconnecting client asks one per connection, and its backoff keeps it far below;
    a deployment whose clients hold many sockets each may allow more)."""
    return Rule("live-ticket", per_minute, 60)
