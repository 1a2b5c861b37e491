"""Limit for `topic-get`: raw ASGI + the database driver running the app's query, nothing else.

One query per request, one round trip, no transaction, through a pool of the app's size
(asyncpg on PostgreSQL; plain sqlite3 connections on SQLite, one hop to a thread a query),
the row encoded with msgspec in the shape of the app's `TopicDetail`. The SQL and the shape
live here, at the top, in one place: keep them in step with `src/waymark/features/roadmaps`
(the harness checks the limit answers like the app before it
measures anything).

Configuration: `database_url` (the app's SQLAlchemy URL), `pool_size`,
`prefix` (`/api/v1/roadmaps/`), `headers` (the app's response headers for a topic, sent as
they are but for content-length).
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import msgspec

from bench.limits._asgi import (
    NOT_FOUND_HEADERS,
    READY_HEADERS,
    Receive,
    Scope,
    Send,
    encode_headers,
    lifespan,
    load_config,
    respond,
)

TOPIC_SQL = (
    "SELECT t.key, t.title, t.description, t.kind, t.position,"
    " s.key, s.title, s.position, r.slug, r.title"
    " FROM roadmap_topics t"
    " JOIN roadmap_sections s ON s.id = t.section_id"
    " JOIN roadmaps r ON r.id = t.roadmap_id"
    " WHERE r.slug = $1 AND t.key = $2 AND t.retired_at IS NULL"
)
SQLITE_TOPIC_SQL = TOPIC_SQL.replace("$1", "?").replace("$2", "?")


class SectionRef(msgspec.Struct):
    id: str
    title: str
    position: int


class RoadmapRef(msgspec.Struct):
    slug: str
    title: str


class TopicDetail(msgspec.Struct):
    id: str
    title: str
    description: str
    kind: str
    position: int
    section: SectionRef
    roadmap: RoadmapRef


def encode_row(row: Any) -> bytes:
    """The JSON body for one row of TOPIC_SQL, in the column order of the SELECT."""
    return _encode(
        TopicDetail(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            SectionRef(row[5], row[6], row[7]),
            RoadmapRef(row[8], row[9]),
        )
    )


_encode = msgspec.json.Encoder().encode
_TOPICS = "/topics/"


class Store(Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def fetch_topic(self, slug: str, key: str) -> Any: ...


async def _no_reset(_conn: Any) -> None:
    return None


class PostgresStore:
    def __init__(self, dsn: str, min_size: int, max_size: int) -> None:
        self._dsn, self._min, self._max = dsn, min_size, max_size
        self._pool: Any = None

    async def open(self) -> None:
        import asyncpg

        # A no-op `reset` replaces the pool's reset query on every release (`RESET ALL`,
        # `UNLISTEN *`, …): a read-only query leaves nothing to reset, so one round trip is
        # the whole cost of a request, which is the point of a limit.
        self._pool = await asyncpg.create_pool(
            self._dsn,
            min_size=self._min,
            max_size=self._max,
            max_queries=2**31,
            reset=_no_reset,
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    async def fetch_topic(self, slug: str, key: str) -> Any:
        async with self._pool.acquire() as conn:
            return await conn.fetchrow(TOPIC_SQL, slug, key)


class SqliteStore:
    """`size` plain sqlite3 connections, read-only, in autocommit, and as many threads: each
    request is one hop to a thread that runs the query and fetches its row (what the app's
    `HotRead` does on SQLite, and the least a thread-bound driver allows)."""

    def __init__(self, path: str, size: int) -> None:
        self._path, self._size = path, size
        self._threads = ThreadPoolExecutor(max_workers=size)
        self._idle: asyncio.Queue[sqlite3.Connection] = asyncio.Queue()
        self._all: list[sqlite3.Connection] = []

    async def open(self) -> None:
        for _ in range(self._size):
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA query_only=ON")
            self._all.append(conn)
            self._idle.put_nowait(conn)

    async def close(self) -> None:
        for conn in self._all:
            conn.close()
        self._threads.shutdown()

    async def fetch_topic(self, slug: str, key: str) -> Any:
        conn = await self._idle.get()
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._threads, _fetch_one, conn, slug, key)
        finally:
            self._idle.put_nowait(conn)


def _fetch_one(conn: sqlite3.Connection, slug: str, key: str) -> Any:
    cursor = conn.execute(SQLITE_TOPIC_SQL, (slug, key))
    try:
        return cursor.fetchone()
    finally:
        cursor.close()


def make_store(config: dict[str, Any]) -> Store:
    url: str = config["database_url"]
    scheme, _, rest = url.partition("://")
    size = int(config["pool_size"])
    if scheme.startswith("sqlite"):
        return SqliteStore(rest.removeprefix("/"), size)
    return PostgresStore(f"postgresql://{rest}", size, size)


_config = load_config()
PREFIX: str = _config["prefix"]
HEADERS = encode_headers(_config["headers"])
store = make_store(_config)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            await lifespan(receive, send, store.open, store.close)
        return
    path: str = scope["path"]
    if path.startswith(PREFIX):
        slug, sep, key = path[len(PREFIX) :].partition(_TOPICS)
        if sep and key:
            row = await store.fetch_topic(slug, key)
            if row is not None:
                body = encode_row(row)
                length = (b"content-length", str(len(body)).encode())
                await respond(send, 200, [*HEADERS, length], body)
                return
    elif path == "/readyz":
        await respond(send, 200, READY_HEADERS, b"ok")
        return
    await respond(send, 404, NOT_FOUND_HEADERS, b"not found")
