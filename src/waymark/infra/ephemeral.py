"""Ephemeral state: rate limits, browser sessions and refresh-token families.

Redis holds them when `WAYMARK_REDIS_URL` is set; otherwise tables in the SQL database do.
Both adapters follow the rules written once here, so the two profiles agree to the bit:

- Rate limits are GCRA kept as a drained level: `level` seconds of the period are in use as
  of `last`. Keeping the small level instead of an absolute theoretical arrival time keeps
  float rounding far below `TIME_EPSILON`, so a burst allows exactly `limit`.
- A session or refresh family is live while `now <= expires_at`, where
  `expires_at = min(last_seen + idle_timeout, absolute_expires_at)` is computed on every write.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from waymark.kernel.ports import RateLimitDecision, RateLimiter, RefreshTokenStore, SessionStore

if TYPE_CHECKING:
    from waymark.infra.sql.database import Database
    from waymark.settings import Settings

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


# -- The factory -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class EphemeralStores:
    """The three stores of one profile; `aclose()` releases what the factory opened."""

    backend: Literal["sql", "redis"]
    rate_limiter: RateLimiter
    sessions: SessionStore
    refresh_tokens: RefreshTokenStore
    _purge: Callable[[float], Awaitable[int]] | None = field(default=None, repr=False)
    _close: Callable[[], Awaitable[None]] | None = field(default=None, repr=False)
    _ping: Callable[[], Awaitable[object]] | None = field(default=None, repr=False)

    @property
    def server(self) -> bool:
        """Whether the stores live in a server of their own (Redis) that readiness must check."""
        return self._ping is not None

    async def ping(self) -> None:
        """Raise unless the store's server answers (nothing to do for the SQL tables)."""
        if self._ping is not None:
            await self._ping()

    async def purge_expired(self, now: float) -> int:
        """Delete dead rows (the SQL tables); Redis expires its keys itself. Returns how many."""
        return 0 if self._purge is None else await self._purge(now)

    async def aclose(self) -> None:
        if self._close is not None:
            await self._close()


def build_ephemeral_stores(settings: Settings, db: Database) -> EphemeralStores:
    """Redis adapters when `settings.redis_url` is set, else the SQL ones on `db`. No I/O."""
    if settings.redis_url:
        from waymark.infra.redis import (
            RedisRateLimiter,
            RedisRefreshTokenStore,
            RedisSessionStore,
            create_redis,
        )

        client = create_redis(settings.redis_url, settings.redis)
        prefix = settings.redis.key_prefix
        return EphemeralStores(
            backend="redis",
            rate_limiter=RedisRateLimiter(client, prefix=prefix),
            sessions=RedisSessionStore(client, prefix=prefix),
            refresh_tokens=RedisRefreshTokenStore(client, prefix=prefix),
            _close=client.aclose,
            _ping=client.ping,
        )

    from waymark.infra.sql.ephemeral import (
        SqlRateLimiter,
        SqlRefreshTokenStore,
        SqlSessionStore,
    )

    rate_limiter = SqlRateLimiter(db)
    sessions = SqlSessionStore(db)
    refresh_tokens = SqlRefreshTokenStore(db)

    async def purge(now: float) -> int:
        return (
            await rate_limiter.purge_expired(now)
            + await sessions.purge_expired(now)
            + await refresh_tokens.purge_expired(now)
        )

    # The database belongs to the container, which disposes of it.
    return EphemeralStores(
        backend="sql",
        rate_limiter=rate_limiter,
        sessions=sessions,
        refresh_tokens=refresh_tokens,
        _purge=purge,
    )
