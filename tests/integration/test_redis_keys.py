"""What the Redis adapters leave in Redis: the documented keys, each with a bounded TTL
(records linger `LINGER_MS` past their expiry), and no answer at all (an error, never an
"allowed") when Redis is down."""

from __future__ import annotations

import pytest
import redis
from redis.asyncio import Redis

from tests.contract.redis_server import redis_client, redis_prefix, redis_url
from waymark.infra.redis import (
    RedisRateLimiter,
    RedisRefreshTokenStore,
    RedisSessionStore,
    create_redis,
)
from waymark.kernel.errors import ServiceUnavailable
from waymark.kernel.ports import RefreshFamily, Rotated, SessionRecord

__all__ = ["redis_client", "redis_prefix", "redis_url"]

T0 = 1_795_000_000.25


async def _keys(client: Redis, prefix: str) -> dict[str, tuple[str, int]]:
    """Every key under `prefix` (without it) with its type and TTL in milliseconds."""
    found: dict[str, tuple[str, int]] = {}
    async for key in client.scan_iter(match=f"{prefix}*"):
        found[key.removeprefix(prefix)] = (str(await client.type(key)), await client.pttl(key))
    return found


async def test_the_rate_limiter_keeps_one_hash_per_key_for_one_period(
    redis_client: Redis, redis_prefix: str
) -> None:
    limiter = RedisRateLimiter(redis_client, prefix=redis_prefix)
    await limiter.hit("login:ip:203.0.113.7", limit=5, period=60, now=T0)
    keys = await _keys(redis_client, redis_prefix)
    assert list(keys) == ["rl:login:ip:203.0.113.7"]
    kind, ttl = keys["rl:login:ip:203.0.113.7"]
    assert kind == "hash"
    assert 55_000 < ttl <= 60_000
    state = await redis_client.hgetall(f"{redis_prefix}rl:login:ip:203.0.113.7")
    assert state == {"last": "1795000000.25", "level": "12"}


async def test_a_session_lives_until_its_idle_or_absolute_expiry(
    redis_client: Redis, redis_prefix: str
) -> None:
    sessions = RedisSessionStore(redis_client, prefix=redis_prefix)
    record = SessionRecord(
        id_hash="abc",
        user_id="u1",
        created_at=T0,
        last_seen_at=T0,
        idle_timeout=100,
        absolute_expires_at=T0 + 1000,
        csrf_token="c",
    )
    await sessions.create(record)
    keys = await _keys(redis_client, redis_prefix)
    assert set(keys) == {"sess:abc", "sess-user:u1"}
    assert keys["sess:abc"][0] == "hash"
    assert 155_000 < keys["sess:abc"][1] <= 160_000
    assert keys["sess-user:u1"][0] == "zset"
    assert 1_055_000 < keys["sess-user:u1"][1] <= 1_060_000

    # Touched 60 s later the idle expiry slides: 100 s again, not the 40 s left.
    await sessions.touch("abc", now=T0 + 60)
    assert 155_000 < await redis_client.pttl(f"{redis_prefix}sess:abc") <= 160_000
    # Near the absolute expiry, that is what bounds the TTL.
    for now in range(150, 1000, 90):
        assert await sessions.touch("abc", now=T0 + now) is not None
    assert 95_000 < await redis_client.pttl(f"{redis_prefix}sess:abc") <= 100_000

    await sessions.delete("abc")
    assert await _keys(redis_client, redis_prefix) == {}


async def test_a_refresh_family_and_its_tokens(redis_client: Redis, redis_prefix: str) -> None:
    tokens = RedisRefreshTokenStore(redis_client, prefix=redis_prefix)
    await tokens.create_family(
        RefreshFamily(
            id="f1",
            user_id="u1",
            created_at=T0,
            last_used_at=T0,
            idle_timeout=1000,
            absolute_expires_at=T0 + 5000,
            current_hash="h0",
        )
    )
    result = await tokens.rotate("h0", successor="raw-1", successor_hash="h1", now=T0, grace=8)
    assert isinstance(result, Rotated)

    keys = await _keys(redis_client, redis_prefix)
    assert {name: kind for name, (kind, _) in keys.items()} == {
        "rf:f1": "hash",
        "rf-user:u1": "zset",
        "rt:h0": "hash",
        "rt:h1": "hash",
        "rt-next:h0": "string",
    }
    assert 1_055_000 < keys["rf:f1"][1] <= 1_060_000
    for absolute in ("rf-user:u1", "rt:h0", "rt:h1"):
        assert 5_055_000 < keys[absolute][1] <= 5_060_000
    assert 3_000 < keys["rt-next:h0"][1] <= 8_000
    assert await redis_client.get(f"{redis_prefix}rt-next:h0") == "raw-1"
    assert await redis_client.hgetall(f"{redis_prefix}rt:h0") == {
        "family": "f1",
        "rotated_at": "1795000000.25",
    }
    family = await redis_client.hgetall(f"{redis_prefix}rf:f1")
    assert family["current_hash"] == "h1"
    assert family["revoked"] == "0"
    # No raw token is kept anywhere but in the grace-window key.
    for name, (kind, _) in keys.items():
        if kind == "hash" and name != "rt-next:h0":
            values = await redis_client.hvals(f"{redis_prefix}{name}")
            assert "raw-1" not in values


async def test_the_prefix_isolates_deployments(redis_client: Redis, redis_prefix: str) -> None:
    blue = RedisRateLimiter(redis_client, prefix=f"{redis_prefix}blue:")
    green = RedisRateLimiter(redis_client, prefix=f"{redis_prefix}green:")
    assert (await blue.hit("k", limit=1, period=60, now=T0)).allowed
    assert not (await blue.hit("k", limit=1, period=60, now=T0)).allowed
    assert (await green.hit("k", limit=1, period=60, now=T0)).allowed


async def test_when_redis_is_down_nothing_is_allowed() -> None:
    """Every store call raises ServiceUnavailable (a 503 with Retry-After at the edge)."""
    client = create_redis("redis://127.0.0.1:1/0")
    try:
        limiter = RedisRateLimiter(client)
        with pytest.raises(ServiceUnavailable) as caught:
            await limiter.hit("k", limit=5, period=60, now=T0)
        assert isinstance(caught.value.__cause__, redis.ConnectionError)
        sessions = RedisSessionStore(client)
        with pytest.raises(ServiceUnavailable):
            await sessions.touch("abc", now=T0)
        tokens = RedisRefreshTokenStore(client)
        with pytest.raises(ServiceUnavailable):
            await tokens.rotate("h0", successor="s", successor_hash="h1", now=T0, grace=5)
        with pytest.raises(ServiceUnavailable):
            await tokens.is_live("f", user_id="u", now=T0)
    finally:
        await client.aclose()


async def test_the_client_parses_with_hiredis(redis_client: Redis) -> None:
    assert redis.utils.HIREDIS_AVAILABLE
    connection = await redis_client.connection_pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        assert "Hiredis" in type(connection._parser).__name__
    finally:
        await redis_client.connection_pool.release(connection)
