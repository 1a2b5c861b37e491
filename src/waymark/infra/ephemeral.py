"""The rules of ephemeral state (rate limits, browser sessions, refresh-token families),
written once for both adapters (Redis, `waymark.infra.redis`; SQL tables,
`waymark.infra.sql`), so the two profiles agree to the bit:

- Rate limits are GCRA kept as a drained level: `level` seconds of the period are in use as
  of `last`. Keeping the small level instead of an absolute theoretical arrival time keeps
  float rounding far below `TIME_EPSILON`, so a burst allows exactly `limit`.
- A session or refresh family is live while `now <= expires_at`, where
  `expires_at = min(last_seen + idle_timeout, absolute_expires_at)` is computed on every write.
"""

from __future__ import annotations

import math

from waymark.kernel.ports import RateLimitDecision

TIME_EPSILON = 1e-6
"""One microsecond: below the resolution of an epoch float, so never a real difference."""


def check_rate_limit(*, limit: int, period: float, cost: int) -> None:
    """Refuse arguments no limit could honour, before touching any store."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    if not period > 0 or math.isinf(period):
        raise ValueError(f"period must be a positive number of seconds, got {period}")
    if not 1 <= cost <= limit:
        raise ValueError(f"cost must be between 1 and limit ({limit}), got {cost}")


def gcra(
    *, level: float, last: float, limit: int, period: float, now: float, cost: int
) -> tuple[RateLimitDecision, float | None]:
    """The decision for one hit and the new level to store (None: store nothing).

    The reference the Lua script in `waymark.infra.redis.rate_limiter` mirrors line by line.
    """
    interval = period / limit
    level = max(level - max(now - last, 0.0), 0.0)
    new_level = level + interval * cost
    if new_level <= period + TIME_EPSILON:
        return (
            RateLimitDecision(
                allowed=True,
                limit=limit,
                remaining=_remaining(new_level, limit=limit, period=period, interval=interval),
                reset_after=new_level,
                retry_after=0.0,
            ),
            new_level,
        )
    return (
        RateLimitDecision(
            allowed=False,
            limit=limit,
            remaining=_remaining(level, limit=limit, period=period, interval=interval),
            reset_after=level,
            retry_after=new_level - period,
        ),
        None,
    )


def _remaining(level: float, *, limit: int, period: float, interval: float) -> int:
    return min(limit, max(0, math.floor((period - level + TIME_EPSILON) / interval)))


def expires_at(*, last_seen: float, idle_timeout: float, absolute_expires_at: float) -> float:
    """When a session or family dies if nobody uses it again."""
    return min(last_seen + idle_timeout, absolute_expires_at)
