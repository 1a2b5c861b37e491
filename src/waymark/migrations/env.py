"""Alembic environment: async engines, batch mode on SQLite, every feature's tables."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import event

import waymark.features.accounts.tables
import waymark.features.auth.tables
import waymark.features.notifications.tables
import waymark.features.progress.tables
import waymark.features.roadmaps.tables
import waymark.features.teams.tables
import waymark.features.webhooks.tables  # noqa: F401  (registers the tables)
from waymark.infra.broker import tables as broker_tables  # noqa: F401  (registers the tables)
from waymark.infra.outbox import tables as outbox_tables  # noqa: F401  (registers the tables)
from waymark.infra.scheduler import tables as scheduler_tables  # noqa: F401  (registers the tables)
from waymark.infra.sql import (  # noqa: F401  (registers the tables)
    document_tables,
    ephemeral_tables,
    live_tables,
)
from waymark.infra.sql.database import create_engine
from waymark.infra.sql.metadata import metadata

config = context.config


def _configure(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def _run(connection: Any) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


def _without_cascades(engine: Any) -> None:
    """SQLite: no foreign key enforcement while migrating. Batch mode changes a table by
    copying it and dropping the old one, and with enforcement on, dropping `users` would
    cascade to every row that refers to an account (tokens, progress, memberships). The
    keys are checked once the migrations ran (`_check_foreign_keys`)."""

    @event.listens_for(engine.sync_engine, "connect")
    def _off(dbapi_connection: Any, _record: Any) -> None:  # after the engine's own pragmas
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=OFF")
        cursor.close()


def _check_foreign_keys(connection: Any) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"the migrations left rows whose foreign keys point nowhere: {broken}")


async def _run_async(url: str) -> None:
    engine = create_engine(url)
    sqlite = engine.dialect.name == "sqlite"
    if sqlite:
        _without_cascades(engine)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run)
            if sqlite:
                await conn.run_sync(_check_foreign_keys)
            await conn.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=config.attributes["database_url"],
        target_metadata=metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async(config.attributes["database_url"]))
