"""`waymark db`: migrations."""

from __future__ import annotations

from typing import Annotated

import typer

from waymark.cli.common import console, load_settings, out
from waymark.infra.sql import migrations
from waymark.infra.sql.urls import redact

db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Migrate the database up to REVISION (default: the latest)."""
    settings = load_settings()
    url = settings.resolved_database_url
    with console.status(f"Migrating {redact(url)} to {revision}"):
        migrations.upgrade(url, revision, secret_key_path=settings.secret_key_path)
    console.print(f"Database at {migrations.current_revision(url)}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="e.g. -1 or base")]) -> None:
    """Migrate the database down to REVISION."""
    settings = load_settings()
    url = settings.resolved_database_url
    with console.status(f"Migrating {redact(url)} down to {revision}"):
        migrations.downgrade(url, revision, secret_key_path=settings.secret_key_path)
    console.print(f"Database at {migrations.current_revision(url) or 'base'}")


@db_app.command("current")
def db_current() -> None:
    """Show the database's revision and the latest one."""
    url = load_settings().resolved_database_url
    current, head = migrations.current_revision(url), migrations.head_revision()
    out.print(f"current: {current or 'base (empty)'}\nhead:    {head}")
    if current != head:
        raise typer.Exit(code=1)


@db_app.command("revision")
def db_revision(message: Annotated[str, typer.Option("-m", "--message")]) -> None:
    """Write a new migration from the difference between the tables and the database."""
    migrations.revision(load_settings().resolved_database_url, message)
