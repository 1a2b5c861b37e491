"""The Redis client: hiredis parser, bounded pool, short timeouts."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis

from waymark.settings import RedisSettings

DEFAULT_PREFIX = "waymark:"


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
    return Redis.from_pool(pool)
