"""`waymark progress`: the read models of learning progress, rebuilt from the log."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from waymark.cli.common import console, email_argument, load_settings, make_container, out
from waymark.kernel.errors import NotFound

progress_app = typer.Typer(help="Learning progress: its read models.", no_args_is_help=True)


@progress_app.command("rebuild")
def progress_rebuild(
    user: Annotated[
        str | None, typer.Option("--user", help="Only this account (its email).")
    ] = None,
) -> None:
    """Recompute every projection (statuses, counts, days of activity) from the log of
    status changes: after a bug, a restore, or to check nothing drifted."""
    email = email_argument(user) if user else None

    async def _run() -> int:
        container = make_container(load_settings())
        try:
            account_id = None
            if email is not None:
                account_id = await container.accounts.profiles.id_of(email)
                if account_id is None:
                    console.print(f"[red]error[/red] (not-found): no account {email}")
                    raise typer.Exit(code=2)

            async def time_zone_of(account: uuid.UUID) -> str:
                try:
                    return (await container.accounts.profiles.get(account)).time_zone
                except NotFound:
                    return "UTC"

            with Progress(
                TextColumn("[bold]Rebuilding progress"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as bar:
                task = bar.add_task("logs", total=None)
                return await container.progress.projections.rebuild(
                    account_id=account_id,
                    time_zone_of=time_zone_of,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
        finally:
            await container.aclose()

    logs = asyncio.run(_run())
    out.print(f"{logs} log(s) replayed")
