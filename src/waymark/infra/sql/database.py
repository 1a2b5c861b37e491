"""The relational store: one async engine and the ways features get a connection.

`transaction()` is for the edge of a request, job or command: it commits once when the block
ends and rolls back if it raises. Services receive the connection and never commit.
`read()` is for read-only work and never writes. `HotRead.fetch` is for the few reads made
on every request (the caller's account, a topic): it runs on a small pool of the driver's
own connections (`hot_pools`), past SQLAlchemy's per-checkout work.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Select, event, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from waymark.infra.sql.hot_pools import hot_pool_for
from waymark.infra.sql.permits import FifoPermits
from waymark.kernel.errors import ServiceUnavailable
from waymark.settings import DatabaseSettings

_WRITES = "waymark_writes"
_AFTER_COMMIT = "waymark_after_commit"
PING_TIMEOUT_SECONDS = 2.0


class Database:
    def __init__(self, url: str, settings: DatabaseSettings | None = None) -> None:
        settings = settings or DatabaseSettings()
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine: AsyncEngine = create_engine(url, settings)
        self.pool_timeout = settings.pool_timeout
        # One permit per connection the pool may open (`permits.py`), served first come,
        # first served; the pool's own queue does not (a request arriving just as a
        # connection comes back takes it from one that has waited longer), so under load
        # some requests starved past the pool timeout while others went straight through.
        self._slots = FifoPermits(settings.pool_size, settings.pool_timeout, _busy)
        self._driver_slots = FifoPermits(settings.hot_pool_size, settings.pool_timeout, _busy)
        self._hot_pool = hot_pool_for(url, settings.hot_pool_size)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a write transaction, committed once on success; then the hooks
        registered on it with `after_commit` run (never after a rollback)."""
        async with self._connect() as conn:
            await conn.execution_options(**{_WRITES: True})
            hooks: list[Callable[[], None]] = []
            conn.info[_AFTER_COMMIT] = hooks
            try:
                async with conn.begin():
                    yield conn
            finally:
                # `info` lives as long as the pooled connection: nothing may leak to the next.
                conn.info.pop(_AFTER_COMMIT, None)
        for hook in hooks:
            hook()

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
        await self._slots.acquire()
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

    @property
    def has_hot_pool(self) -> bool:
        """Whether `driver_connection()` can be had: not on an in-memory SQLite database."""
        return self._hot_pool is not None

    @asynccontextmanager
    async def driver_connection(self) -> AsyncIterator[Any]:
        """A connection of the hot-read pool, in autocommit (`hot_pools`: asyncpg's own on
        PostgreSQL, a plain sqlite3 one on SQLite): for `HotRead`, which reads and gives it
        back. Its own permits, first come first served, bounded by the pool timeout like
        `_connect`."""
        conn = await self._take_driver_connection()
        try:
            yield conn
        except BaseException:
            await self._give_back_driver_connection(conn, reusable=False)
            raise
        await self._give_back_driver_connection(conn)

    @asynccontextmanager
    async def hot_reads(self) -> AsyncIterator[None]:
        """Every `HotRead` the current task makes within the block runs on one connection
        of the hot-read pool (PostgreSQL), taken at the first of them and given back when
        the block ends: a use case that reads several things waits for a connection once,
        not once per statement behind every request queued meanwhile (a team's report:
        seven statements, three features), and a block that reads nothing takes none. Each
        statement still sees its own snapshot (autocommit). Nested blocks share the outer
        one's connection; tasks started within the block take their own."""
        if self._hot_pool is None or _held_by_this_task(self) is not None:
            yield
            return
        held = _Held(self, asyncio.current_task())
        token = _HELD.set(held)
        try:
            yield
        except BaseException:
            _HELD.reset(token)
            await held.give_back(reusable=False)
            raise
        _HELD.reset(token)
        await held.give_back()

    async def _take_driver_connection(self) -> Any:
        """A hot-read connection and its permit (`driver_connection`, unscoped): the caller
        gives both back with `_give_back_driver_connection`."""
        pool = self._hot_pool
        if pool is None:
            raise RuntimeError("an in-memory SQLite database has no hot-read pool")
        await self._driver_slots.acquire()
        try:
            return await pool.acquire()
        except BaseException:
            self._driver_slots.release()
            raise

    async def _give_back_driver_connection(self, conn: Any, *, reusable: bool = True) -> None:
        """Back to the hot-read pool; one that a failure or a cancellation may have left
        mid-statement (`reusable=False`) is closed instead."""
        assert self._hot_pool is not None
        try:
            await self._hot_pool.release(conn, reusable=reusable)
        finally:
            self._driver_slots.release()

    async def ping(self) -> None:
        """Raise if the database does not answer `SELECT 1` within two seconds."""
        # Through _connect like every other checkout, so the FIFO permits account for every
        # pooled connection and a permit always finds one free.
        async with asyncio.timeout(PING_TIMEOUT_SECONDS), self._connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        if self._hot_pool is not None:
            await self._hot_pool.close()
        await self.engine.dispose()


def after_commit(conn: AsyncConnection, hook: Callable[[], None]) -> None:
    """Call `hook` once the `transaction()` that `conn` is in commits (once per transaction,
    however often it is registered); never if it rolls back. Outside `transaction()` (an
    autocommit read) there is nothing to wait for, and it runs at once."""
    hooks: list[Callable[[], None]] | None = conn.info.get(_AFTER_COMMIT)
    if hooks is None:
        hook()
    elif hook not in hooks:
        hooks.append(hook)


class _Held:
    """The hot-read connection of a `Database.hot_reads` block: its database, the task that
    opened the block, and the connection once the first read took it."""

    __slots__ = ("conn", "db", "task")

    def __init__(self, db: Database, task: asyncio.Task[Any] | None) -> None:
        self.db, self.task = db, task
        self.conn: Any = None

    async def connection(self) -> Any:
        if self.conn is None:
            self.conn = await self.db._take_driver_connection()
        return self.conn

    async def give_back(self, *, reusable: bool = True) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            await self.db._give_back_driver_connection(conn, reusable=reusable)


_HELD: ContextVar[_Held | None] = ContextVar("waymark_hot_reads", default=None)
"""The `hot_reads` block the current context is in."""


def _held_by_this_task(db: Database) -> _Held | None:
    """The `hot_reads` block the current task opened on `db`, if any. A task started within
    the block inherits the context but not the connection: one asyncpg connection runs one
    statement at a time."""
    held = _HELD.get()
    if held is None or held.db is not db or held.task is not asyncio.current_task():
        return None
    return held


def _busy() -> ServiceUnavailable:
    return ServiceUnavailable("the database is busy; try again shortly")


def create_engine(url: str, settings: DatabaseSettings | None = None) -> AsyncEngine:
    """An async engine for `url`; for SQLite it creates the directory and sets the pragmas."""
    settings = settings or DatabaseSettings()
    if not url.startswith("sqlite"):
        return create_async_engine(
            url,
            echo=settings.echo,
            # Every connection the permits allow is kept once opened. With overflow, QueuePool
            # closes a connection returned to a pool already holding `pool_size` idle ones,
            # and under load the app opened 400-500 PostgreSQL sessions every 10 seconds.
            pool_size=settings.pool_size,
            max_overflow=0,
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
        max_overflow=0,
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
    """A SELECT made on (nearly) every request, compiled once: `fetch` takes its one row,
    `fetch_all` every row.

    It runs on the database's hot-read pool of the driver's own connections (`hot_pools`),
    in autocommit: none of SQLAlchemy's per-checkout and per-execution work, which cost more
    than the query itself on the signed-in path (bench/README.md). Parameters and values go
    through the columns' own bind and result processors (the `UtcDateTime` decorator,
    UUIDs), so it returns exactly what SQLAlchemy would (a test compares them). It never
    runs in a caller's transaction: it reads what is committed. On an in-memory SQLite
    database, which has no such pool, it is an ordinary `read()`.

    An expanding IN (`bindparam(..., expanding=True)`, a list of values) is rendered as
    SQLAlchemy renders it, one placeholder per value, once per length of list (kept for
    `MAX_RENDERED_SIZES` lengths): the same SQL text SQLAlchemy would send, without its
    per-execution rendering.
    """

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._plans: dict[str, _DriverPlan] = {}

    async def fetch(self, db: Database, params: Mapping[str, Any]) -> Mapping[str, Any] | None:
        rows = await self._run(db, params, one=True)
        return rows[0] if rows else None

    async def fetch_all(self, db: Database, params: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        return await self._run(db, params, one=False)

    async def _run(
        self, db: Database, params: Mapping[str, Any], *, one: bool
    ) -> list[Mapping[str, Any]]:
        if not db.has_hot_pool:
            async with db.read() as conn:
                result = await conn.execute(self.statement, dict(params))
                rows = [result.first()] if one else list(result)
            return [row._mapping for row in rows if row is not None]
        dialect = db.engine.dialect
        plan = self._plans.get(dialect.name)
        if plan is None:
            plan = self._plans[dialect.name] = _DriverPlan(self.statement, dialect)
        sql, arguments = plan.bind(params)
        held = _held_by_this_task(db)
        if held is not None:
            records = await _fetch(await held.connection(), sql, arguments, one=one)
        else:
            async with db.driver_connection() as conn:
                records = await _fetch(conn, sql, arguments, one=one)
        return plan.rows(records)


async def _fetch(conn: Any, sql: str, arguments: Sequence[Any], *, one: bool) -> list[Any]:
    if one:
        record = await conn.fetchrow(sql, *arguments)
        return [] if record is None else [record]
    records: list[Any] = await conn.fetch(sql, *arguments)
    return records


MAX_RENDERED_SIZES = 256
"""Lengths of expanding-IN lists a `HotRead` keeps rendered SQL for (then starts afresh)."""


class _DriverPlan:
    """A statement compiled for one dialect, with the processors SQLAlchemy would apply."""

    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self._compiled = compiled
        names = tuple(compiled.positiontup or ())
        self._binds = {
            name: compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in names
        }
        self._expanding = tuple(name for name in names if compiled.binds[name].expanding)
        # Values the statement carries itself (`column != "pending"`), unless params say
        self._values: dict[str, Any] = {
            name: compiled.binds[name].effective_value
            for name in names
            if not compiled.binds[name].required
        }
        # (name, expanding) of each parameter in the order of the SQL's placeholders
        self._layout: tuple[str, tuple[tuple[str, bool], ...]] = (
            compiled.string,
            tuple((name, False) for name in names),
        )
        self._sized: dict[tuple[int, ...], tuple[str, tuple[tuple[str, bool], ...]]] = {}
        keys: list[str] = []
        self._processed: list[tuple[str, Any]] = []
        """The columns whose values SQLAlchemy would process, with their processors."""
        for column in statement.selected_columns:
            if column.key is None:
                raise ValueError("every column of a HotRead needs a name (label it)")
            keys.append(column.key)
            process = column.type.dialect_impl(dialect).result_processor(dialect, None)
            if process is not None:
                self._processed.append((column.key, process))
        self._keys = tuple(keys)

    def _rendered(self, params: Mapping[str, Any]) -> tuple[str, tuple[tuple[str, bool], ...]]:
        """The SQL and its parameters' layout for the lengths of `params`' lists."""
        if not self._expanding:
            return self._layout
        sizes = tuple(len(params[name]) for name in self._expanding)
        found = self._sized.get(sizes)
        if found is None:
            state = self._compiled.construct_expanded_state(dict(params))
            expanded = {
                value: name
                for name, values in state.parameter_expansion.items()
                for value in values
            }
            layout: list[tuple[str, bool]] = []
            for name in state.positiontup or ():
                base = expanded.get(name)
                if base is None:
                    layout.append((name, False))
                elif name == state.parameter_expansion[base][0]:  # a list starts: one slot
                    layout.append((base, True))
            if len(self._sized) >= MAX_RENDERED_SIZES:
                self._sized.clear()
            found = self._sized[sizes] = (state.statement, tuple(layout))
        return found

    def bind(self, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """The SQL to send for `params`, and its arguments in placeholder order."""
        sql, layout = self._rendered(params)
        values: list[Any] = []
        for name, expanding in layout:
            process = self._binds[name]
            value = params[name] if name in params else self._values[name]
            if not expanding:
                values.append(process(value) if process is not None else value)
            elif process is None:
                values.extend(value)
            else:
                values.extend(process(item) for item in value)
        return sql, values

    def rows(self, records: Sequence[Sequence[Any]]) -> list[Mapping[str, Any]]:
        """The records as rows of the statement's columns, processed as SQLAlchemy would."""
        if records and len(records[0]) != len(self._keys):  # once, not a strict zip per row
            raise ValueError(f"{len(records[0])} values for the columns {self._keys}")
        keys, processed = self._keys, self._processed
        rows = [dict(zip(keys, record)) for record in records]  # noqa: B905 (checked above)
        for key, process in processed:
            for row in rows:
                row[key] = process(row[key])
        return cast(list[Mapping[str, Any]], rows)
