"""Test databases: one migrated SQLite file and one migrated PostgreSQL database per worker.

PostgreSQL comes from WAYMARK_TEST_DATABASE_URL (default: the local server). With CI=true an
unreachable server fails the run; elsewhere those tests are skipped with a loud reason.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.needs import unavailable
from waymark.infra.sql import migrations
from waymark.infra.sql.database import create_engine
from waymark.infra.sql.metadata import metadata

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def postgres_admin_url() -> str:
    return os.environ.get("WAYMARK_TEST_DATABASE_URL", DEFAULT_POSTGRES)


def create_postgres_database(name: str) -> str:
    """Drop and re-create `name` on the test server; return its SQLAlchemy URL."""
    admin = make_url(postgres_admin_url())
    try:
        _admin_execute(
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'
        )
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        unavailable("PostgreSQL", f"{admin.render_as_string()} is not usable: {exc!r}")
    return admin.set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(name: str) -> None:
    _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin_execute(*statements: str) -> None:
    admin = make_url(postgres_admin_url())

    async def _run() -> None:
        conn = await asyncpg.connect(
            host=admin.host,
            port=admin.port or 5432,
            user=admin.username,
            password=admin.password,
            database=admin.database or "postgres",
            timeout=5,
        )
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(_run())


def sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{(directory / 'waymark.db').as_posix()}"


def migrate(url: str) -> None:
    migrations.upgrade(url)


async def wipe(url: str) -> None:
    """Empty every table so the next test starts from a freshly migrated database."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await _wipe(conn)
    finally:
        await engine.dispose()


_FILLED_AND_MOVED = """
SELECT array_remove(ARRAY[{}], NULL),
       ARRAY(SELECT sequencename FROM pg_sequences
             WHERE schemaname = current_schema() AND last_value IS NOT NULL)
"""


async def _wipe(conn: AsyncConnection) -> None:
    tables = [t.name for t in reversed(metadata.sorted_tables)]
    if conn.dialect.name == "postgresql":
        # Only the tables with rows, then the sequences that moved (an insert rolled back
        # moves one too), restarted as `RESTART IDENTITY` would. DELETE, not TRUNCATE: a
        # test leaves a few rows, and TRUNCATE pays per table named (a new file for each,
        # synced at commit): 8 small tables took 100-200 ms to truncate, 30 ms to delete.
        having_rows = ", ".join(
            f"""CASE WHEN EXISTS (SELECT FROM "{n}") THEN '{n}' END""" for n in tables
        )
        filled, moved = (await conn.execute(text(_FILLED_AND_MOVED.format(having_rows)))).one()
        for name in filled:  # `tables` order: those that refer to others first
            await conn.execute(text(f'DELETE FROM "{name}"'))
        for sequence in moved:
            await conn.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))
    else:
        for name in tables:
            await conn.execute(text(f'DELETE FROM "{name}"'))
