"""The Alembic migrations build the schema the code expects, and undo it cleanly."""

from __future__ import annotations

import concurrent.futures
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from waymark.infra.sql import migrations
from waymark.infra.sql.database import create_engine
from waymark.infra.sql.metadata import metadata


async def _table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def _schema_diff(url: str) -> list[Any]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), metadata)
            )
    finally:
        await engine.dispose()


def run(fn: Any, *args: Any) -> Any:
    """Alembic's env runs its own event loop; keep it off this test's loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


async def test_upgrade_downgrade_upgrade(fresh_url: str) -> None:
    run(migrations.upgrade, fresh_url)
    assert run(migrations.current_revision, fresh_url) == migrations.head_revision()
    assert {t.name for t in metadata.sorted_tables} <= await _table_names(fresh_url)
    assert await _schema_diff(fresh_url) == []

    run(migrations.downgrade, fresh_url, "base")
    assert run(migrations.current_revision, fresh_url) is None
    assert await _table_names(fresh_url) <= {"alembic_version"}

    run(migrations.upgrade, fresh_url)
    assert await _schema_diff(fresh_url) == []
