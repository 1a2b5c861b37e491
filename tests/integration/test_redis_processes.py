"""Several processes share one limit and one rotation, because each check is one Lua script."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from redis.asyncio import Redis

from tests.contract.redis_server import redis_client, redis_prefix, redis_url
from waymark.infra.redis import RedisRefreshTokenStore
from waymark.kernel.ports import RefreshFamily

__all__ = ["redis_client", "redis_prefix", "redis_url"]

T0 = 1_795_000_000.25
PROCESSES = 4

# Each process waits for the same wall-clock moment, then fires its calls concurrently
# over its own connection pool and prints what it got.
WORKER = """
import asyncio, json, sys, time
import msgspec
from waymark.infra.redis import RedisRateLimiter, RedisRefreshTokenStore, create_redis

url, prefix, start, what, me, now = sys.argv[1:7]
now = float(now)

async def main():
    client = create_redis(url)
    await client.ping()
    await asyncio.sleep(max(0.0, float(start) - time.time()))
    if what == "hit":
        limiter = RedisRateLimiter(client, prefix=prefix)
        calls = [limiter.hit("shared", limit=15, period=60, now=now) for _ in range(10)]
    else:
        tokens = RedisRefreshTokenStore(client, prefix=prefix)
        calls = [
            tokens.rotate("h0", successor=f"{me}-{i}", successor_hash=f"h-{me}-{i}",
                          now=now, grace=30)
            for i in range(10)
        ]
    results = await asyncio.gather(*calls)
    await client.aclose()
    print(json.dumps(msgspec.to_builtins([[type(r).__name__, r] for r in results])))

asyncio.run(main())
"""


async def _run_workers(url: str, prefix: str, what: str) -> list[tuple[str, dict[str, Any]]]:
    start = time.time() + 2.0
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            WORKER,
            url,
            prefix,
            repr(start),
            what,
            f"p{n}",
            repr(T0),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for n in range(PROCESSES)
    ]
    results: list[tuple[str, dict[str, Any]]] = []
    for proc in procs:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        assert proc.returncode == 0, err.decode()
        results.extend((kind, fields) for kind, fields in json.loads(out))
    return results


async def test_processes_share_one_limit(redis_url: str, redis_prefix: str) -> None:
    results = await _run_workers(redis_url, redis_prefix, "hit")
    assert len(results) == PROCESSES * 10
    allowed = [fields for _, fields in results if fields["allowed"]]
    assert len(allowed) == 15
    assert sorted(r["remaining"] for r in allowed) == list(range(15))


async def test_processes_share_one_rotation(
    redis_client: Redis, redis_url: str, redis_prefix: str
) -> None:
    tokens = RedisRefreshTokenStore(redis_client, prefix=redis_prefix)
    await tokens.create_family(
        RefreshFamily(
            id="f1",
            user_id="u1",
            created_at=T0,
            last_used_at=T0,
            idle_timeout=3600,
            absolute_expires_at=T0 + 86400,
            current_hash="h0",
        )
    )
    results = await _run_workers(redis_url, redis_prefix, "rotate")
    assert len(results) == PROCESSES * 10
    assert {kind for kind, _ in results} == {"Rotated"}
    successors = {fields["token"] for _, fields in results}
    assert len(successors) == 1
    (listed,) = await tokens.list_for_user("u1", now=T0)
    (winner,) = successors
    assert listed.current_hash == f"h-{winner}"
