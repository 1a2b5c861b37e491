"""The Redis client: hiredis parser, bounded pool, short timeouts."""

from __future__ import annotations

from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import BusyLoadingError, MasterDownError, OutOfMemoryError, ReadOnlyError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from waymark.kernel.errors import ServiceUnavailable
from waymark.settings import RedisSettings

DEFAULT_PREFIX = "waymark:"


UNAVAILABLE = (
    RedisConnectionError,  # refused, reset, no free pooled connection (BusyLoading is one)
    RedisTimeoutError,
    ReadOnlyError,  # a replica during failover
    MasterDownError,
    OutOfMemoryError,  # maxmemory reached with noeviction
    BusyLoadingError,
)
"""Errors meaning the server cannot serve now, not that the command was wrong."""


class WaymarkRedis(Redis):
    """redis-py's client, but an unreachable or saturated server is `ServiceUnavailable`
    (503 with Retry-After), never a 500: every command, scripts included, goes through
    `execute_command`. Stores built on it fail closed without a try block each."""

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        try:
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        except UNAVAILABLE as exc:
            raise ServiceUnavailable("the session store is unavailable; try again shortly") from exc


def create_redis(url: str, settings: RedisSettings | None = None) -> Redis:
    """A client for `url` (`redis://`, `rediss://`, `unix://`). Connects lazily: no I/O here.

    When every pooled connection is busy, a caller waits up to `pool_timeout` seconds and then
    gets an error: saturation answers quickly instead of stalling. redis-py picks the hiredis
    parser by itself when hiredis is installed.
    """
    settings = settings or RedisSettings()
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=settings.max_connections,
        timeout=settings.pool_timeout,
        socket_timeout=settings.socket_timeout,
        socket_connect_timeout=settings.connect_timeout,
        decode_responses=True,
    )
    return WaymarkRedis.from_pool(pool)
