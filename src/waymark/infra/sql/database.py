"""The relational store: one async engine and the two ways features get a connection.

`transaction()` is for the edge of a request, job or command: it commits once when the block
ends and rolls back if it raises. Services receive the connection and never commit.
`read()` is for read-only work and never writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Select, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from waymark.kernel.errors import ServiceUnavailable
from waymark.settings import DatabaseSettings

_WRITES = "waymark_writes"
PING_TIMEOUT_SECONDS = 2.0


class Database:
    def __init__(self, url: str, settings: DatabaseSettings | None = None) -> None:
        settings = settings or DatabaseSettings()
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine: AsyncEngine = create_engine(url, settings)
        self.pool_timeout = settings.pool_timeout
        # One permit per connection the pool may open. asyncio.Semaphore serves waiters first
        # come, first served; the pool's own queue does not (a request arriving just as a
        # connection comes back takes it from one that has waited longer), so under load
        # some requests starved past the pool timeout while others went straight through.
        self._slots = asyncio.Semaphore(settings.pool_size + settings.max_overflow)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a write transaction, committed once on success."""
        async with self._connect() as conn:
            await conn.execution_options(**{_WRITES: True})
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads, in autocommit: no BEGIN or ROLLBACK round trips.

        Each statement sees its own snapshot; a read that needs several statements to agree
        should use `transaction()`.
        """
        async with self._connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            yield conn

    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[AsyncConnection]:
        """Check out a connection, waiting at most the pool timeout.

        A saturated pool answers 503 with Retry-After instead of queueing without bound.
        Requests get connections in the order they asked (see `_slots`). Every checkout of
        the application goes through here, so holding a permit means a pooled connection is
        free: the wait is the permit's, bounded by `pool_timeout` (the pool's own timeout
        is only a backstop).
        """
        try:
            async with asyncio.timeout(self.pool_timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise _busy() from None
        try:
            try:
                conn = await self.engine.connect()
            except PoolTimeout:
                raise _busy() from None
            try:
                yield conn
            finally:
                await conn.close()
        finally:
            self._slots.release()

    async def ping(self) -> None:
        """Raise if the database does not answer `SELECT 1` within two seconds."""
        # Through _connect like every other checkout, so the FIFO permits account for every
        # pooled connection and a permit always finds one free.
        async with asyncio.timeout(PING_TIMEOUT_SECONDS), self._connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def _busy() -> ServiceUnavailable:
    return ServiceUnavailable("the database is busy; try again shortly")


def create_engine(url: str, settings: DatabaseSettings | None = None) -> AsyncEngine:
    """An async engine for `url`; for SQLite it creates the directory and sets the pragmas."""
    settings = settings or DatabaseSettings()
    if not url.startswith("sqlite"):
        return create_async_engine(
            url,
            echo=settings.echo,
            pool_size=settings.pool_size,
            max_overflow=settings.max_overflow,
            pool_timeout=settings.pool_timeout,
            pool_pre_ping=False,
            pool_recycle=1800,
        )
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        url,
        echo=settings.echo,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout,
    )
    _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL for concurrent readers; writers take the lock up front so they queue, not fail."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            "busy_timeout=5000",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_WRITES, False) else "BEGIN")


class HotRead:
    """A one-row SELECT compiled once and, on PostgreSQL, run on the asyncpg connection itself.

    For the hottest reads only (DESIGN.md: "hot reads may go straight to the driver behind the
    repository"): it skips SQLAlchemy's per-execution work (compiled-cache lookup, parameter
    and result processing) but keeps its pool, so transactions and pool limits stay one
    mechanism. Other databases run the statement through SQLAlchemy as usual.
    """

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._compiled: tuple[str, tuple[str, ...]] | None = None

    async def one_or_none(
        self, conn: AsyncConnection, params: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        if conn.dialect.name != "postgresql":
            row = (await conn.execute(self.statement, dict(params))).first()
            return row._mapping if row is not None else None
        if self._compiled is None:
            compiled = self.statement.compile(dialect=conn.dialect)
            self._compiled = (compiled.string, tuple(compiled.positiontup or ()))
        sql, names = self._compiled
        raw = await conn.get_raw_connection()
        record: Mapping[str, Any] | None = await raw.driver_connection.fetchrow(  # type: ignore[union-attr]
            sql, *(params[name] for name in names)
        )
        return record
