"""Which Redis client should the `auth-me` limit use for its one HMGET per request?

The limit must do the app's Redis work (one `HMGET {prefix}rf:{family} user_id revoked
expires_at`) at the least cost, so the ratio measures the app's overhead and not a slower
client. Compared, on the same Redis, with many commands in flight at once as under load:

- **redis-py, app's pool**: `redis.asyncio` with hiredis, the `BlockingConnectionPool` of
  50 connections the app builds (`src/waymark/infra/redis/client.py`), `decode_responses`;
- **redis-py, plain**: the default `ConnectionPool` (no blocking, no decoding);
- **raw RESP**: `bench/limits/_resp.py`, one connection, hiredis parsing, a FIFO of futures.

    uv run python -m bench.micro.redis_clients [--commands 20000] [--concurrency 48]

`--concurrency` stays under the app pool's 50 connections by default: above it, callers
wait on the pool's condition, which wakes them in no particular order (at 64, one waited past
the 2 s pool timeout here and got "No connection available").

Each line gives the best of `--rounds`: commands per second of wall time and microseconds
of this process's CPU per command (the figure that matters on a shared 2-core machine).
Before timing, every client reads the same seeded families (live, revoked, missing) and
must return the same values. Needs Redis (BENCH_REDIS_URL, default the local one); the
keys it writes carry a prefix of their own and are deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import uvloop
from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis

from bench.limits._resp import RespConnection, command

FIELDS = ("user_id", "revoked", "expires_at")
Lookup = Callable[[str], Awaitable[list[Any]]]


def _text(values: list[Any]) -> list[str | None]:
    return [v.decode() if isinstance(v, bytes) else v for v in values]


async def _seed(client: Redis, prefix: str, families: int) -> list[str]:
    keys = []
    for n in range(families):
        key = f"{prefix}rf:family-{n}"
        revoked = "1" if n % 10 == 9 else "0"
        await client.hset(
            key,
            mapping={"user_id": f"user-{n}", "revoked": revoked, "expires_at": "1999999999.5"},
        )
        keys.append(key)
    keys.append(f"{prefix}rf:missing")  # HMGET of a missing key: three nils
    return keys


async def _time(
    lookup: Lookup, keys: list[str], commands: int, concurrency: int
) -> tuple[float, float]:
    per_task = commands // concurrency

    async def worker(offset: int) -> None:
        for i in range(per_task):
            await lookup(keys[(offset + i) % len(keys)])

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(n * 7) for n in range(concurrency)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    done = per_task * concurrency
    return done / wall, 1e6 * cpu / done


async def main(args: argparse.Namespace) -> None:
    url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"waymark-bench-micro:{os.getpid()}:"
    admin = Redis.from_url(url)
    app_pool = Redis.from_pool(
        BlockingConnectionPool.from_url(url, max_connections=50, timeout=2.0, decode_responses=True)
    )
    plain = Redis(connection_pool=ConnectionPool.from_url(url))
    raw = await RespConnection.open(url)
    fields = [f.encode() for f in FIELDS]

    async def via_app_pool(key: str) -> list[Any]:
        return list(await app_pool.hmget(key, FIELDS))

    async def via_plain(key: str) -> list[Any]:
        return list(await plain.hmget(key, FIELDS))

    async def via_raw(key: str) -> list[Any]:
        return list(await raw.call(command(b"HMGET", key.encode(), *fields)))

    clients: dict[str, Lookup] = {
        "redis-py, app's pool": via_app_pool,
        "redis-py, plain": via_plain,
        "raw RESP": via_raw,
    }
    try:
        keys = await _seed(admin, prefix, args.families)
        expected = [_text(list(await admin.hmget(key, FIELDS))) for key in keys]
        for name, lookup in clients.items():
            got = [_text(await lookup(key)) for key in keys]
            if got != expected:
                raise SystemExit(f"{name} read other values than redis-py: {got[:3]}…")
        print(f"all clients read the same {len(keys)} families (live, revoked, missing)")
        for name, lookup in clients.items():
            runs = [
                await _time(lookup, keys, args.commands, args.concurrency)
                for _ in range(args.rounds)
            ]
            rate = max(r[0] for r in runs)
            cpu_us = min(r[1] for r in runs)
            print(f"{name:<22} {rate:>9,.0f} commands/s  {cpu_us:6.1f} µs CPU per command")
    finally:
        batch = [key async for key in admin.scan_iter(match=f"{prefix}*", count=1000)]
        if batch:
            await admin.delete(*batch)
        raw.close()
        for client in (admin, app_pool, plain):
            await client.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.micro.redis_clients")
    parser.add_argument("--commands", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=48)
    parser.add_argument("--families", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    uvloop.run(main(parser.parse_args()))
