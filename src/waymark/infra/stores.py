"""The ephemeral stores of one profile: rate limits, browser sessions, refresh-token families,
the live channels' fan-out with its replay logs, who is online in a team's channel, and the
WebSocket tickets.

Redis holds them when `WAYMARK_REDIS_URL` is set; otherwise tables in the SQL database do.
The composition root builds them here; features see only the ports.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from waymark.infra.redis import (
    RedisRateLimiter,
    RedisRefreshTokenStore,
    RedisSessionStore,
    create_redis,
)
from waymark.infra.redis.live import RedisLiveChannels
from waymark.infra.redis.live_tickets import RedisLiveTickets
from waymark.infra.redis.pipelined import PipelinedRedis
from waymark.infra.redis.presence import RedisPresence
from waymark.infra.sql.database import Database
from waymark.infra.sql.live import SqlLiveChannels
from waymark.infra.sql.live_tickets import SqlLiveTickets
from waymark.infra.sql.presence import SqlPresence
from waymark.infra.sql.rate_limiter import SqlRateLimiter
from waymark.infra.sql.refresh_tokens import SqlRefreshTokenStore
from waymark.infra.sql.sessions import SqlSessionStore
from waymark.kernel.live import LiveChannels, LiveTicketStore
from waymark.kernel.ports import RateLimiter, RefreshTokenStore, SessionStore
from waymark.kernel.presence import Presence
from waymark.settings import Settings


@dataclass(frozen=True, slots=True, kw_only=True)
class EphemeralStores:
    """The three stores of one profile; `aclose()` releases what the factory opened."""

    backend: Literal["sql", "redis"]
    rate_limiter: RateLimiter
    sessions: SessionStore
    refresh_tokens: RefreshTokenStore
    live: LiveChannels
    presence: Presence
    live_tickets: LiveTicketStore
    expired_purges: Mapping[str, Callable[[float], Awaitable[int]]] = field(
        default_factory=dict, repr=False
    )
    """Per SQL table, what deletes its dead rows at a time `now` and says how many; empty for
    Redis, which expires its keys itself. Periodic maintenance runs them."""
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

    async def aclose(self) -> None:
        await self.live.aclose()
        if self._close is not None:
            await self._close()


def build_ephemeral_stores(settings: Settings, db: Database) -> EphemeralStores:
    """Redis adapters when `settings.redis_url` is set, else the SQL ones on `db`. No I/O."""
    if settings.redis_url:
        client = create_redis(settings.redis_url, settings.redis)
        reads = PipelinedRedis(
            settings.redis_url,
            timeout=settings.redis.socket_timeout,
            connect_timeout=settings.redis.connect_timeout,
        )
        prefix = settings.redis.key_prefix

        async def close() -> None:
            await reads.aclose()
            await client.aclose()

        return EphemeralStores(
            backend="redis",
            rate_limiter=RedisRateLimiter(client, prefix=prefix),
            sessions=RedisSessionStore(client, prefix=prefix),
            refresh_tokens=RedisRefreshTokenStore(client, prefix=prefix, reads=reads),
            live=RedisLiveChannels(
                client,
                url=settings.redis_url,
                prefix=prefix,
                replay_length=settings.live.replay_length,
                connect_timeout=settings.redis.connect_timeout,
            ),
            presence=RedisPresence(client, prefix=prefix),
            live_tickets=RedisLiveTickets(client, prefix=prefix),
            _close=close,
            _ping=client.ping,
        )

    rate_limiter = SqlRateLimiter(db)
    sessions = SqlSessionStore(db)
    refresh_tokens = SqlRefreshTokenStore(db)
    presence = SqlPresence(db)
    live_tickets = SqlLiveTickets(db)
    # The database belongs to the container, which disposes of it.
    return EphemeralStores(
        backend="sql",
        rate_limiter=rate_limiter,
        sessions=sessions,
        refresh_tokens=refresh_tokens,
        live=SqlLiveChannels(
            db,
            replay_length=settings.live.replay_length,
            poll_interval=settings.live.poll_interval,
        ),
        presence=presence,
        live_tickets=live_tickets,
        expired_purges={
            "rate-limits": rate_limiter.purge_expired,
            "sessions": sessions.purge_expired,
            "refresh-families": refresh_tokens.purge_expired,
            "live-presence": presence.purge_expired,
            "live-tickets": live_tickets.purge_expired,
        },
    )
