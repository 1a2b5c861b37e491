"""The lean pipelined Redis reader (`waymark.infra.redis.pipelined`) against the real Redis:
the same answers as redis-py however many requests share a connection, and 503 (never a
wrong answer) when Redis is gone, silent or refuses."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit

import pytest
from redis.asyncio import Redis

from tests.contract.redis_server import (  # noqa: F401  (fixtures)
    redis_client,
    redis_prefix,
    redis_url,
)
from waymark.infra.redis.pipelined import PipelinedRedis
from waymark.kernel.errors import ServiceUnavailable


@pytest.fixture
async def reads(redis_url: str) -> AsyncIterator[PipelinedRedis]:  # noqa: F811
    client = PipelinedRedis(redis_url, connections=2, timeout=1, connect_timeout=1)
    yield client
    await client.aclose()


async def test_concurrent_reads_get_their_own_answers(
    reads: PipelinedRedis,
    redis_client: Redis,  # noqa: F811
    redis_prefix: str,  # noqa: F811
) -> None:
    """Hundreds of reads in flight on two connections: each gets the reply to its own
    command, the same redis-py reads."""
    for n in range(300):
        await redis_client.hset(f"{redis_prefix}h{n}", mapping={"a": str(n), "b": f"b{n}"})
    keys = [f"{redis_prefix}h{n}" for n in range(300)] + [f"{redis_prefix}missing"]
    fast = await asyncio.gather(*(reads.hmget(key, ["a", "b", "c"]) for key in keys * 3))
    slow = [await redis_client.hmget(key, ["a", "b", "c"]) for key in keys * 3]
    assert fast == slow
    assert fast[7] == ["7", "b7", None]
    assert fast[300] == [None, None, None]


async def test_it_reads_the_database_the_url_names(
    redis_url: str,  # noqa: F811
    redis_prefix: str,  # noqa: F811
) -> None:
    other = urlsplit(redis_url)._replace(path="/3").geturl()
    writer = Redis.from_url(other, decode_responses=True)
    reader = PipelinedRedis(other, timeout=1, connect_timeout=1)
    try:
        await writer.hset(f"{redis_prefix}db3", mapping={"x": "in three"})
        assert await reader.hmget(f"{redis_prefix}db3", ["x"]) == ["in three"]
    finally:
        await writer.delete(f"{redis_prefix}db3")
        await writer.aclose()
        await reader.aclose()


async def test_no_listener_is_503() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    reader = PipelinedRedis(f"redis://127.0.0.1:{port}/0", timeout=1, connect_timeout=1)
    with pytest.raises(ServiceUnavailable):
        await reader.hmget("k", ["a"])
    await reader.aclose()


class StallingProxy:
    """Forwards to Redis, but while `stalled` it swallows Redis's replies: a peer that
    accepts commands and never answers (threads: independent of the test's event loop)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.stalled = False
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, True), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, replies: bool) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if not (replies and self.stalled):
                    dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()


@pytest.fixture
def stalling(redis_url: str) -> Iterator[StallingProxy]:  # noqa: F811
    parts = urlsplit(redis_url)
    proxy = StallingProxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    yield proxy
    proxy.close()


async def test_a_silent_redis_is_503_in_time_and_the_connection_is_replaced(
    stalling: StallingProxy,
    redis_client: Redis,  # noqa: F811
    redis_prefix: str,  # noqa: F811
) -> None:
    await redis_client.hset(f"{redis_prefix}k", mapping={"a": "1"})
    reader = PipelinedRedis(
        f"redis://127.0.0.1:{stalling.port}/0", connections=1, timeout=0.3, connect_timeout=1
    )
    try:
        assert await reader.hmget(f"{redis_prefix}k", ["a"]) == ["1"]
        stalling.stalled = True
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable, match="no reply in time"):
            await reader.hmget(f"{redis_prefix}k", ["a"])
        assert time.monotonic() - started < 1.5
        # The late reply must never be taken for a later command's: that connection is
        # closed, and the next command opens another.
        stalling.stalled = False
        before = stalling.accepted
        await redis_client.hset(f"{redis_prefix}k", mapping={"a": "2"})
        assert await reader.hmget(f"{redis_prefix}k", ["a"]) == ["2"]
        assert stalling.accepted == before + 1
    finally:
        await reader.aclose()
