"""The least a limit app needs to ask Redis one command per request: one connection, the
command's bytes written as they are, replies parsed by hiredis and handed back in order.

Redis answers the commands of one connection in the order it received them, so concurrent
requests share the connection without a pool: each writes its command and waits for the
next reply in line (a FIFO of futures). Nothing is pooled, retried or timed out: a limit
app that loses Redis fails its requests, and the harness reports the errors.
`python -m bench.micro.redis_clients` compares it with redis-py's asyncio client and checks
that both read the same values.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, cast
from urllib.parse import urlsplit

import hiredis


def command(*parts: bytes) -> bytes:
    """One command in RESP, ready to write (a request array of bulk strings)."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


class RespConnection(asyncio.Protocol):
    def __init__(self) -> None:
        self._reader = hiredis.Reader()
        self._waiting: deque[asyncio.Future[Any]] = deque()
        self._transport: asyncio.Transport | None = None
        self._lost: Exception | None = None

    @classmethod
    async def open(cls, url: str) -> RespConnection:
        """Connect to `redis://host:port/db` (a loopback Redis; no password, no TLS)."""
        parts = urlsplit(url)
        loop = asyncio.get_running_loop()
        _transport, conn = await loop.create_connection(
            cls, parts.hostname or "127.0.0.1", parts.port or 6379
        )
        db = parts.path.strip("/") or "0"
        if db != "0":
            await conn.call(command(b"SELECT", db.encode()))
        return conn

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while (reply := self._reader.gets()) is not False:
            future = self._waiting.popleft()  # the reply to the oldest command sent
            if future.cancelled():
                continue
            if isinstance(reply, hiredis.ReplyError):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = exc or ConnectionResetError("Redis closed the connection")
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_exception(self._lost)

    def call(self, request: bytes) -> asyncio.Future[Any]:
        """Send one encoded command; the future resolves to its reply (bytes, list, None…)."""
        if self._lost is not None or self._transport is None:
            raise ConnectionError(f"no connection to Redis: {self._lost}")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        self._transport.write(request)
        return future

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class RedisHolder:
    """What asks Redis through one `RespConnection`, opened at the limit's startup."""

    redis: RespConnection | None = None

    async def open(self, redis_url: str) -> None:
        self.redis = await RespConnection.open(redis_url)

    def close(self) -> None:
        if self.redis is not None:
            self.redis.close()
