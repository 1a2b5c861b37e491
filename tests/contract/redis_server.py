"""The test Redis: WAYMARK_TEST_REDIS_URL (default: the local server), a key prefix per test.

With CI=true an unreachable server fails the run; elsewhere those tests are skipped with a
loud reason. Tests never flush the database: each one deletes the keys under its own prefix.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
import redis
from redis.asyncio import Redis

from tests.needs import unavailable
from waymark.infra.redis import create_redis

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def redis_test_url() -> str:
    return os.environ.get("WAYMARK_TEST_REDIS_URL", DEFAULT_REDIS)


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = redis_test_url()
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2) as client:
            client.ping()
    except (redis.RedisError, OSError) as exc:
        unavailable("Redis", f"{url} is not usable: {exc!r}")
    return url


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    client = create_redis(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def redis_prefix(redis_client: Redis) -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"waymark-test:{uuid.uuid4().hex}:"
    yield prefix
    await delete_keys(redis_client, prefix)


async def delete_keys(client: Redis, prefix: str) -> int:
    keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
    if keys:
        await client.delete(*keys)
    return len(keys)
