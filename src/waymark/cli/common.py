"""What every `waymark` command shares: the settings, the consoles, and how errors end a
command (exit 2, one line, no traceback)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import typer
from rich.console import Console

from waymark.infra.sql.database import Database
from waymark.kernel.email_address import normalize_email
from waymark.kernel.errors import WaymarkError
from waymark.settings import Settings

if TYPE_CHECKING:
    from waymark.container import Container

T = TypeVar("T")

# soft_wrap: a message is one line however narrow the terminal or log (no breaks inside URLs).
console = Console(stderr=True, soft_wrap=True)
out = Console()


def load_settings() -> Settings:
    return Settings()


def refuse_unsafe(settings: Settings) -> None:
    """Exit 2, naming each, if these settings must not run in production (a missing or
    well-known secret): `waymark serve` and `waymark scheduler` check before starting."""
    refusals = settings.production_refusals()
    if refusals:
        console.print("[red]error[/red] (unsafe-settings): refusing to start in production:")
        for refusal in refusals:
            console.print(f"  - {refusal}", highlight=False)
        raise typer.Exit(code=2)


def fail(error: WaymarkError) -> typer.Exit:
    console.print(f"[red]error[/red] ({error.code}): {error.detail or error.title}")
    for field_error in getattr(error, "errors", None) or []:
        console.print(f"  [bold]{field_error.field}[/bold]: {field_error.message}")
    return typer.Exit(code=2)


def email_argument(email: str) -> str:
    """EMAIL in the canonical form the API would store, or exit 2 saying what is wrong."""
    try:
        return normalize_email(email)
    except WaymarkError as error:
        raise fail(error) from None


def with_database(work: Callable[[Database], Awaitable[T]]) -> T:
    """Run `work` on the configured database, disposed of afterwards."""

    async def _run() -> T:
        db = Database(load_settings().resolved_database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(_run())


def make_container(settings: Settings) -> Container:
    """The composition root, imported by the commands that use it when they run: it imports
    every feature and the web framework (about 1.5 s of CPU), which `db`, `keys`, `outbox`,
    `roadmaps import` and the rest never need, and every command paid for it at start."""
    from waymark.container import Container

    return Container(settings)
