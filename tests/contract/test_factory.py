"""`build_ephemeral_stores` (infra/stores.py): Redis when a URL is set, else the SQL tables."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis.asyncio import Redis

from waymark.infra.redis import RedisRateLimiter, RedisRefreshTokenStore, RedisSessionStore
from waymark.infra.sql.database import Database
from waymark.infra.sql.rate_limiter import SqlRateLimiter
from waymark.infra.sql.refresh_tokens import SqlRefreshTokenStore
from waymark.infra.sql.sessions import SqlSessionStore
from waymark.infra.stores import build_ephemeral_stores
from waymark.settings import RedisSettings, Settings

T0 = 1_795_000_000.25


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, var_dir=Path("var"), **values)  # type: ignore[call-arg, arg-type]


async def test_without_a_redis_url_the_stores_are_sql_tables(db: Database) -> None:
    stores = build_ephemeral_stores(_settings(), db)
    assert stores.backend == "sql"
    assert isinstance(stores.rate_limiter, SqlRateLimiter)
    assert isinstance(stores.sessions, SqlSessionStore)
    assert isinstance(stores.refresh_tokens, SqlRefreshTokenStore)
    await stores.rate_limiter.hit("k", limit=1, period=10, now=T0)
    purges = stores.expired_purges
    assert set(purges) == {
        "rate-limits",
        "sessions",
        "refresh-families",
        "live-presence",
        "live-tickets",
    }
    assert [await purge(T0 + 10) for purge in purges.values()] == [1, 0, 0, 0, 0]
    await stores.aclose()
    await db.ping()  # the database is the container's to close, not the stores'


async def test_with_a_redis_url_the_stores_are_redis(
    db: Database, redis_url: str, redis_client: Redis, redis_prefix: str
) -> None:
    settings = _settings(redis_url=redis_url, redis=RedisSettings(key_prefix=redis_prefix))
    stores = build_ephemeral_stores(settings, db)
    assert stores.backend == "redis"
    assert isinstance(stores.rate_limiter, RedisRateLimiter)
    assert isinstance(stores.sessions, RedisSessionStore)
    assert isinstance(stores.refresh_tokens, RedisRefreshTokenStore)
    assert (await stores.rate_limiter.hit("k", limit=1, period=10, now=T0)).allowed
    assert await redis_client.exists(f"{redis_prefix}rl:k") == 1
    assert stores.expired_purges == {}  # Redis expires its keys itself
    await stores.aclose()


def test_the_redis_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WAYMARK_REDIS_URL", raising=False)
    assert Settings(_env_file=None).redis_url is None  # type: ignore[call-arg]
    monkeypatch.setenv("WAYMARK_REDIS_URL", "redis://cache:6379/2")
    monkeypatch.setenv("WAYMARK_REDIS__KEY_PREFIX", "blue:")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.redis_url == "redis://cache:6379/2"
    assert settings.redis.key_prefix == "blue:"
