"""A lean Redis client for the reads made on every signed-in request (is this token's family
still live?), beside redis-py, which does everything else.

redis-py spends about 60 µs of CPU on one HMGET: a blocking pool with a condition variable,
command packing, a timeout per socket operation (bench/micro/redis_clients.py measures it).
Here a command costs about 10 µs: a few connections of our own, each shared by every request
in flight, since Redis answers the commands of one connection in the order it received
them; a reply belongs to the oldest command still waiting (a FIFO of futures), and hiredis
parses the stream. It is a shortcut, so it stays narrow:

- Only plain reads go through it (no scripts, no transactions, nothing that changes state).
- It fails closed like the rest: a refused or lost connection, a reply that does not come
  within `timeout`, or a server that cannot serve (READONLY, LOADING, ...) is
  `ServiceUnavailable` (503). A connection whose reply is late is dropped with everything
  waiting on it, since later replies can no longer be matched; the next command opens a
  new one.
- The stores that use it are tested against the same Redis with redis-py, read for read.
"""

from __future__ import annotations

import asyncio
import itertools
import ssl
from collections import deque
from collections.abc import Sequence
from typing import Any, cast

import hiredis
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection, parse_url

from waymark.kernel.errors import ServiceUnavailable

UNAVAILABLE_REPLIES = ("READONLY", "LOADING", "MASTERDOWN", "OOM", "BUSY", "TRYAGAIN")
"""Error replies meaning the server cannot serve now, not that the command was wrong."""


def encode(*parts: str | bytes) -> bytes:
    """One command in RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _unavailable(reason: str) -> ServiceUnavailable:
    return ServiceUnavailable(f"the session store is unavailable ({reason}); try again shortly")


class _Connection(asyncio.Protocol):
    """One connection: commands written in order, replies matched to them in order. A
    watchdog, armed while replies are awaited, drops the connection when the oldest has
    waited `timeout` (one timer per connection, not one per command)."""

    def __init__(self, timeout: float) -> None:
        self._reader = hiredis.Reader(encoding="utf-8")
        self._waiting: deque[tuple[float, asyncio.Future[Any]]] = deque()
        self._transport: asyncio.Transport | None = None
        self._timeout = timeout
        self._watchdog: asyncio.TimerHandle | None = None
        self._late = False
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while (reply := self._reader.gets()) is not False:
            _, future = self._waiting.popleft()  # the oldest command's reply
            if not future.done():
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        reason = "no reply in time" if self._late else "connection lost"
        while self._waiting:
            _, future = self._waiting.popleft()
            if not future.done():
                future.set_exception(_unavailable(reason))

    def send(self, request: bytes) -> asyncio.Future[Any]:
        assert self._transport is not None
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._waiting and self._watchdog is None:
            self._watchdog = loop.call_later(self._timeout, self._check)
        self._waiting.append((loop.time(), future))
        self._transport.write(request)
        return future

    def _check(self) -> None:
        self._watchdog = None
        if not self._waiting:
            return
        loop = asyncio.get_running_loop()
        oldest = self._waiting[0][0]
        if loop.time() - oldest >= self._timeout:
            # A late reply would be taken for the next command's: the connection is done.
            self._late = True
            self.close()
            return
        self._watchdog = loop.call_later(oldest + self._timeout - loop.time(), self._check)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class PipelinedRedis:
    """`connections` connections to the Redis of `url` (`redis://`, `rediss://`, `unix://`,
    with a user, password and database as redis-py reads them), opened on first use."""

    def __init__(
        self, url: str, *, connections: int = 2, timeout: float, connect_timeout: float
    ) -> None:
        if connections < 1:
            raise ValueError("connections must be at least 1")
        self._options = parse_url(url)
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._slots: list[_Connection | None] = [None] * connections
        self._opening: list[asyncio.Lock] = [asyncio.Lock() for _ in range(connections)]
        self._turn = itertools.cycle(range(connections))

    async def hmget(self, key: str, fields: Sequence[str]) -> list[str | None]:
        reply = await self.execute("HMGET", key, *fields)
        return cast(list[str | None], reply)

    async def execute(self, *command: str | bytes) -> Any:
        """Send one read command and wait for its reply (decoded as UTF-8 text)."""
        slot = next(self._turn)
        conn = self._slots[slot]
        if conn is None or conn.lost:
            conn = await self._open(slot)
        reply = await conn.send(encode(*command))
        if isinstance(reply, hiredis.ReplyError):
            message = str(reply)
            if message.startswith(UNAVAILABLE_REPLIES):
                raise _unavailable(message.split(" ", 1)[0])
            raise RuntimeError(f"Redis refused {command[0]!r}: {message}")
        return reply

    async def _open(self, slot: int) -> _Connection:
        async with self._opening[slot]:
            conn = self._slots[slot]
            if conn is not None and not conn.lost:
                return conn  # another request opened it meanwhile
            try:
                async with asyncio.timeout(self._connect_timeout):
                    conn = await self._connect()
            except (OSError, TimeoutError) as exc:
                raise _unavailable(type(exc).__name__) from exc
            self._slots[slot] = conn
            return conn

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        options = self._options
        kind = options.get("connection_class")
        if kind is UnixDomainSocketConnection:
            _, conn = await loop.create_unix_connection(
                lambda: _Connection(self._timeout), options["path"]
            )
        else:
            tls = ssl.create_default_context() if kind is SSLConnection else None
            _, conn = await loop.create_connection(
                lambda: _Connection(self._timeout),
                options.get("host", "localhost"),
                options.get("port", 6379),
                ssl=tls,
            )
        setup: list[tuple[str, ...]] = []
        if options.get("password"):
            user = options.get("username")
            setup.append(
                ("AUTH", user, options["password"]) if user else ("AUTH", options["password"])
            )
        if options.get("db"):
            setup.append(("SELECT", str(options["db"])))
        for command in setup:
            reply = await conn.send(encode(*command))
            if isinstance(reply, hiredis.ReplyError):
                conn.close()
                raise ConnectionRefusedError(f"{command[0]} refused: {reply}")
        return conn

    async def aclose(self) -> None:
        for index, conn in enumerate(self._slots):
            if conn is not None:
                conn.close()
            self._slots[index] = None
