"""`waymark jobs dead`: the broker's dead-letter queue, by an operator."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import msgspec
import typer
from rich.table import Table

from waymark.cli.common import fail, load_settings, out
from waymark.cli.worker import require_broker
from waymark.infra.broker import build_broker
from waymark.kernel.broker import Broker
from waymark.kernel.errors import NotFound

T = TypeVar("T")
SCAN_LIMIT = 10_000

jobs_app = typer.Typer(help="Jobs on the broker (WAYMARK_BROKER_URL).", no_args_is_help=True)
dead_app = typer.Typer(
    help="The dead-letter queue: jobs out of attempts, or failed for good.", no_args_is_help=True
)
jobs_app.add_typer(dead_app, name="dead")


def _with_broker(work: Callable[[Broker], Awaitable[T]]) -> T:
    settings = load_settings()
    require_broker(settings)

    async def _run() -> T:
        broker = build_broker(settings)
        assert broker is not None
        try:
            return await work(broker)
        finally:
            await broker.aclose()

    return asyncio.run(_run())


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


@dead_app.command("list")
def dead_list(
    limit: Annotated[int, typer.Option(min=1, max=SCAN_LIMIT, help="At most this many.")] = 100,
) -> None:
    """The dead jobs, oldest first: id, kind, attempts, when written, the last error."""
    jobs = _with_broker(lambda broker: broker.dead_jobs(limit))
    table = Table("id", "kind", "attempt", "created", "last error")
    for job in jobs:
        table.add_row(job.id, job.kind, str(job.attempt), _when(job.created_at), job.last_error)
    out.print(table)
    out.print(f"{len(jobs)} dead job(s) shown")


@dead_app.command("show")
def dead_show(job_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """One dead job in full (payload included), as JSON."""
    jobs = _with_broker(lambda broker: broker.dead_jobs(SCAN_LIMIT))
    found = next((job for job in jobs if job.id == job_id), None)
    if found is None:
        raise fail(NotFound(f"no dead job {job_id}"))
    out.print_json(msgspec.json.encode(found).decode())


@dead_app.command("retry")
def dead_retry(
    job_ids: Annotated[
        list[str] | None, typer.Argument(metavar="ID", help="Jobs to retry.")
    ] = None,
    retry_all: Annotated[bool, typer.Option("--all", help="Retry every dead job.")] = False,
) -> None:
    """Put dead jobs back in line with a fresh set of attempts."""
    if bool(job_ids) == retry_all:
        raise typer.BadParameter("give the ids of dead jobs, or --all (not both)")
    wanted = None if retry_all else list(dict.fromkeys(job_ids or ()))
    moved = _with_broker(lambda broker: broker.retry_dead(wanted))
    if wanted is not None and moved < len(wanted):
        out.print(f"{moved} dead job(s) back in line")
        raise fail(NotFound(f"{len(wanted) - moved} of the ids given are not dead jobs"))
    out.print(f"{moved} dead job(s) back in line")


@dead_app.command("purge")
def dead_purge(
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete every dead job, for good."""
    if not yes:
        typer.confirm("Delete every dead job for good?", abort=True)
    purged = _with_broker(lambda broker: broker.purge_dead())
    out.print(f"deleted {purged} dead job(s)")
