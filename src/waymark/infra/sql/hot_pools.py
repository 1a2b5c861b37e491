"""The hot-read pools: the driver's own connections for `HotRead`, past SQLAlchemy.

`Database.driver_connection()` hands out a connection of one of these, behind its own FIFO
permits. Both speak the same small part of asyncpg's `Connection`: `fetchrow`, `fetch`,
`fetchval`, and query loggers (`add_query_logger`), so `HotRead` and the tests that count
statements need not know which database they read.

- PostgreSQL: an `asyncpg.Pool`, opened on first use, that resets nothing on release (a hot
  read changes no session state).
- SQLite: plain `sqlite3` connections, read-only, in autocommit, each statement one hop to a
  thread that runs it and fetches its rows. Through SQLAlchemy and aiosqlite the same read
  took seven or eight hops between the event loop and a connection's thread (checkout,
  isolation level, cursor, execute, fetch, close, reset on return), each a wake-up of both
  and a handover of the GIL: the embedded profile's topic-get spent four times the CPU of
  its limit on them (bench/README.md).
"""

from __future__ import annotations

import asyncio
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
    async def release(self, conn: Any) -> None: ...
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
    def __init__(self, connect_args: dict[str, Any], size: int) -> None:
        self._args, self._size = connect_args, size
        self._pool: Any = None  # asyncpg.Pool
        self._opening = asyncio.Lock()

    async def acquire(self) -> Any:
        pool = self._pool or await self._open()
        try:
            return await pool.acquire()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # InterfaceError: the pool is closing (the server is stopping).
            raise ServiceUnavailable("the database is unreachable; try again shortly") from exc

    async def release(self, conn: Any) -> None:
        await self._pool.release(conn)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _open(self) -> Any:
        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    **self._args,
                    min_size=0,
                    max_size=self._size,
                    reset=_nothing_to_reset,
                )
            return self._pool


async def _nothing_to_reset(_conn: Any) -> None:
    return None


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

    async def release(self, conn: SqliteHotConnection) -> None:
        self._idle.append(conn)

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
