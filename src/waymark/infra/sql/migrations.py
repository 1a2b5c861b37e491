"""Alembic, driven from code so `waymark db ...` works from any install, not just a checkout."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.infra.sql.database import create_engine

SCRIPT_LOCATION = "waymark:migrations"
FILE_TEMPLATE = "%%(year)d_%%(month).2d_%%(day).2d_%%(hour).2d%%(minute).2d_%%(rev)s_%%(slug)s"


def alembic_config(url: str, *, secret_key_path: Path | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    cfg.set_main_option("file_template", FILE_TEMPLATE)
    cfg.set_main_option("timezone", "UTC")
    cfg.attributes["database_url"] = url
    if secret_key_path is not None:
        # The key the migrations that seal secrets use (the app's own, see Settings).
        cfg.attributes["secret_key_path"] = secret_key_path
    return cfg


def upgrade(url: str, revision: str = "head", *, secret_key_path: Path | None = None) -> None:
    command.upgrade(alembic_config(url, secret_key_path=secret_key_path), revision)


def downgrade(url: str, revision: str, *, secret_key_path: Path | None = None) -> None:
    command.downgrade(alembic_config(url, secret_key_path=secret_key_path), revision)


def revision(url: str, message: str, *, autogenerate: bool = True) -> None:
    command.revision(alembic_config(url), message=message, autogenerate=autogenerate)


def scripts() -> ScriptDirectory:
    """The migrations this code ships (reads their files: do it once, not per request)."""
    return ScriptDirectory.from_config(alembic_config(""))


def head_revision() -> str | None:
    return scripts().get_current_head()


def current_revision(url: str) -> str | None:
    """The revision the database is at, or None for an empty database."""
    return _run_sync(url, _revision_of)


async def revision_of(conn: AsyncConnection) -> str | None:
    """The revision the database behind `conn` is at, or None for an empty database."""
    return await conn.run_sync(_revision_of)


def _revision_of(sync_conn: Any) -> str | None:
    return MigrationContext.configure(sync_conn).get_current_revision()


def _run_sync(url: str, fn: Callable[[Any], str | None]) -> str | None:
    async def _go() -> str | None:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(fn)
        finally:
            await engine.dispose()

    return asyncio.run(_go())
