"""The hot-read pools: the driver's own connections for `HotRead`, past SQLAlchemy.

`Database.driver_connection()` hands out a connection of one of these, behind its own FIFO
permits. Both speak the same small part of asyncpg's `Connection`: `fetchrow`, `fetch`,
`fetchval`, and query loggers (`add_query_logger`), so `HotRead` and the tests that count
statements need not know which database they read.

- PostgreSQL: asyncpg connections, opened as needed and kept, handed out and back by a pop
  and an append (the permits in front already bound them); nothing is reset on release (a
  hot read changes no session state), and one that failed or was cancelled is closed.
- SQLite: plain `sqlite3` connections, read-only, in autocommit, each statement one hop to a
  thread that runs it and fetches its rows. Through SQLAlchemy and aiosqlite the same read
  took seven or eight hops between the event loop and a connection's thread (checkout,
  isolation level, cursor, execute, fetch, close, reset on return), each a wake-up of both
  and a handover of the GIL: the embedded profile's topic-get spent four times the CPU of
  its limit on them (bench/README.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple, Protocol

import asyncpg
from sqlalchemy.engine import make_url

from waymark.kernel.errors import ServiceUnavailable

SQLITE_BUSY_TIMEOUT_MS = 5000


class HotPool(Protocol):
    async def acquire(self) -> Any: ...
    async def release(self, conn: Any, *, reusable: bool = True) -> None: ...
    async def close(self) -> None: ...


def hot_pool_for(url: str, size: int) -> HotPool | None:
    """The hot-read pool for the database at `url`, or None where there can be none: an
    in-memory SQLite database is a new, empty one on every connection."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return PostgresHotPool(parsed.translate_connect_args(username="user"), size)
    if not parsed.database or parsed.database == ":memory:" or parsed.query.get("mode"):
        return None
    return SqliteHotPool(parsed.database, size)


class PostgresHotPool:
    """At most `size` asyncpg connections, opened as needed and kept. The permits in front
    (`Database`) let at most `size` out at once, so an idle one is always there or may be
    opened: taking and giving back is a list's pop and append. asyncpg's own `Pool` queued
    a second time behind the permits and, on every release, shielded a task and armed a
    timeout around a reset with nothing to reset: 6-9 % of the signed-in path at 512
    connections (bench/README.md)."""

    def __init__(self, connect_args: dict[str, Any], size: int) -> None:
        self._args, self._size = connect_args, size
        self._idle: list[Any] = []  # asyncpg.Connection
        self._open: set[Any] = set()

    async def acquire(self) -> Any:
        while self._idle:
            conn = self._idle.pop()
            if not conn.is_closed():
                return conn
            self._open.discard(conn)
        try:
            conn = await asyncpg.connect(**self._args)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise ServiceUnavailable("the database is unreachable; try again shortly") from exc
        self._open.add(conn)
        return conn

    async def release(self, conn: Any, *, reusable: bool = True) -> None:
        """Keep `conn` for the next read, unless a failure or a cancellation may have left
        it mid-statement (`reusable=False`) or it is closed: then it is closed at once
        (a new one is opened when needed)."""
        if reusable and not conn.is_closed() and not conn.is_in_transaction():
            self._idle.append(conn)
            return
        self._open.discard(conn)
        conn.terminate()

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            self._open.discard(conn)
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await conn.close(timeout=2)
        for conn in self._open:  # in use as the database closes
            conn.terminate()
        self._open.clear()


class LoggedQuery(NamedTuple):
    """What a query logger is given (asyncpg's `LoggedQuery`, the fields used here)."""

    query: str
    args: tuple[Any, ...]


class SqliteHotPool:
    """At most `size` read-only sqlite3 connections, opened as needed, and as many threads
    to run their statements. The permits in front (`Database`) keep a connection with one
    task at a time, so it moves between threads but is never used from two at once."""

    def __init__(self, path: str, size: int) -> None:
        self._path = path
        self._threads = ThreadPoolExecutor(max_workers=size, thread_name_prefix="waymark-hot")
        self._idle: list[SqliteHotConnection] = []
        self._all: list[SqliteHotConnection] = []

    async def acquire(self) -> SqliteHotConnection:
        if self._idle:
            return self._idle.pop()
        raw = await asyncio.get_running_loop().run_in_executor(self._threads, self._connect)
        conn = SqliteHotConnection(raw, self._threads)
        self._all.append(conn)
        return conn

    async def release(self, conn: SqliteHotConnection, *, reusable: bool = True) -> None:
        if reusable:
            self._idle.append(conn)
            return
        # Cancelled or failed: its thread may still be running the statement, so it is
        # neither handed out again nor closed under that thread; it closes once dropped.
        self._all.remove(conn)

    async def close(self) -> None:
        for conn in self._all:
            conn.raw.close()
        self._all.clear()
        self._idle.clear()
        self._threads.shutdown(wait=True)

    def _connect(self) -> sqlite3.Connection:
        # Autocommit (isolation_level=None): each statement reads what is committed, from its
        # own snapshot, and holds no read transaction open between requests.
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA query_only=ON")
        return conn


class SqliteHotConnection:
    def __init__(self, raw: sqlite3.Connection, threads: ThreadPoolExecutor) -> None:
        self.raw = raw
        self._threads = threads
        self._loggers: list[Callable[[LoggedQuery], None]] = []

    async def fetchrow(self, sql: str, *args: Any) -> tuple[Any, ...] | None:
        rows = await self._run(sql, args, one=True)
        return rows[0] if rows else None

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        return await self._run(sql, args, one=False)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else row[0]

    def add_query_logger(self, callback: Callable[[LoggedQuery], None]) -> None:
        self._loggers.append(callback)

    def remove_query_logger(self, callback: Callable[[LoggedQuery], None]) -> None:
        self._loggers.remove(callback)

    async def _run(self, sql: str, args: Sequence[Any], *, one: bool) -> list[tuple[Any, ...]]:
        loop = asyncio.get_running_loop()
        rows = await loop.run_in_executor(self._threads, _query, self.raw, sql, args, one)
        for log in self._loggers:
            log(LoggedQuery(sql, tuple(args)))
        return rows


def _query(conn: sqlite3.Connection, sql: str, args: Sequence[Any], one: bool) -> list[Any]:
    """Run on a pool thread: the statement and its rows, in one hop."""
    cursor = conn.execute(sql, args)
    try:
        if one:
            row = cursor.fetchone()
            return [] if row is None else [row]
        return cursor.fetchall()
    finally:
        cursor.close()
