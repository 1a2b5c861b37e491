"""`waymark scheduler`: run the scheduler (production; `waymark serve` runs it in the embedded
profile), or list the scheduled jobs with their last and next slots."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

import typer
from rich.table import Column, Table

from waymark.cli.common import console, load_settings, make_container, out, refuse_unsafe
from waymark.infra.observability.logging import configure_logging
from waymark.infra.scheduler import JobStatus

if TYPE_CHECKING:
    from waymark.container import Container

T = TypeVar("T")

scheduler_app = typer.Typer(
    help="Scheduled jobs: run the scheduler (no subcommand), or list the jobs.",
    invoke_without_command=True,
)


@scheduler_app.callback()
def scheduler(context: typer.Context) -> None:
    """Run the scheduler until SIGTERM or Ctrl-C: it enqueues each job's slots into the
    outbox, which `waymark serve` (or the workers) deliver. Run as many as you like: one
    leads (a Redis key, or a PostgreSQL advisory lock), and each slot runs once regardless."""
    if context.invoked_subcommand is not None:
        return
    settings = load_settings()
    refuse_unsafe(settings)
    configure_logging(settings.log)

    async def _run(container: Container) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        console.print(
            f"Waymark scheduler: {len(container.schedules)} job(s), {settings.profile} profile "
            "(Ctrl-C stops it)",
            highlight=False,
        )
        await container.scheduler.run_forever(stop)

    _with_container(_run)


@scheduler_app.command("list")
def scheduler_list() -> None:
    """Every scheduled job: its cron expression and zone, catch-up policy, last slot (and how
    its run went) and next slot."""

    async def _status(container: Container) -> list[JobStatus]:
        return await container.scheduler.status()

    table = Table(  # folded, never cut: a job's name is what `WAYMARK_SCHEDULER__CRON` takes
        *(
            Column(header, overflow="fold")
            for header in ("job", "cron", "zone", "catch-up", "last slot", "last run", "next slot")
        )
    )
    for job in _with_container(_status):
        table.add_row(
            job.name,
            job.cron,
            job.time_zone,
            job.catch_up,
            _when(job.last_slot),
            job.last_outcome or job.last_state or "-",
            _when(job.next_slot),
        )
    out.print(table)


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment is not None else "-"


def _with_container(work: Callable[[Container], Awaitable[T]]) -> T:
    async def _run() -> T:
        container = make_container(load_settings())
        try:
            return await work(container)
        finally:
            await container.aclose()

    return asyncio.run(_run())
