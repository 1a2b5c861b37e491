"""Alembic environment: async engines, batch mode on SQLite, every feature's tables."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context

import waymark.features.accounts.tables
import waymark.features.progress.tables
import waymark.features.roadmaps.tables  # noqa: F401  (registers the tables)
from waymark.infra.outbox import tables as outbox_tables  # noqa: F401  (registers the tables)
from waymark.infra.sql import document_tables, ephemeral_tables  # noqa: F401  (registers the tables)
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


async def _run_async(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run)
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
