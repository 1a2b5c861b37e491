"""`waymark outbox`: inspect, prune and retry the outbox."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Column, Table

from waymark.cli.common import fail, load_settings, out, with_database
from waymark.infra.maintenance import PruneDeliveredMessages
from waymark.infra.outbox import DEAD, PENDING, Outbox
from waymark.infra.outbox.outbox import Tally
from waymark.infra.outbox.tables import STATES
from waymark.infra.sql.database import Database
from waymark.kernel.clock import utcnow
from waymark.kernel.errors import NotFound, WaymarkError

outbox_app = typer.Typer(
    help="The outbox of mail and jobs: inspect it, prune it, retry dead messages.",
    no_args_is_help=True,
)


@outbox_app.command("stats")
def outbox_stats() -> None:
    """Messages per state and kind, and how long the oldest pending one has waited."""

    async def _tally(db: Database) -> Tally:
        async with db.read() as conn:
            return await Outbox.tally(conn, by_kind=True)

    tally = with_database(_tally)
    now = utcnow()
    for state in STATES:
        out.print(f"{state}: {tally.count(state)}")
    oldest = tally.oldest(PENDING)
    if oldest is None:
        out.print("oldest pending: none")
    else:
        age = timedelta(seconds=round((now - oldest).total_seconds()))
        out.print(f"oldest pending: {age} old (created {oldest.isoformat(timespec='seconds')})")
    if tally.kinds:
        table = Table("kind", *(Column(state, justify="right") for state in STATES))
        for kind in tally.kinds:
            table.add_row(kind, *(str(tally.count(state, kind)) for state in STATES))
        out.print(table)


@outbox_app.command("prune")
def outbox_prune(
    older_than: Annotated[
        float | None,
        typer.Option(
            "--older-than",
            min=0,
            metavar="DAYS",
            help="Delete messages delivered more than DAYS ago. "
            "Default: WAYMARK_MAINTENANCE__OUTBOX_RETENTION_DAYS.",
        ),
    ] = None,
) -> None:
    """Delete delivered messages (as the servers' maintenance does); dead ones stay."""
    days = load_settings().maintenance.outbox_retention_days if older_than is None else older_than

    async def _prune(db: Database) -> int:
        prune = PruneDeliveredMessages(db, retention=timedelta(days=days), budget_seconds=None)
        return await prune(utcnow())

    removed = with_database(_prune)
    out.print(f"deleted {removed} message(s) delivered more than {days:g} day(s) ago")


@outbox_app.command("retry-dead")
def outbox_retry_dead(
    message_ids: Annotated[
        list[str] | None, typer.Argument(metavar="ID", help="Dead messages to retry.")
    ] = None,
    retry_all: Annotated[bool, typer.Option("--all", help="Retry every dead message.")] = False,
) -> None:
    """Put dead messages back in line with a fresh set of attempts: all the IDs given, or
    none if one is not a dead message (exit 2, naming it)."""
    if bool(message_ids) == retry_all:
        raise typer.BadParameter("give the ids of dead messages, or --all (not both)")
    wanted = list(dict.fromkeys(message_ids or ()))

    async def _retry(db: Database) -> int:
        now = utcnow()
        async with db.transaction() as conn:
            if retry_all:
                return await Outbox.retry_all_dead(conn, now=now)
            missing = [i for i in wanted if not await Outbox.retry_dead(conn, i, now=now)]
            if missing:  # raising rolls back those that were dead: all or nothing
                raise NotFound(f"no {DEAD} message {', '.join(missing)}; nothing retried")
            return len(wanted)

    try:
        retried = with_database(_retry)
    except WaymarkError as error:
        raise fail(error) from None
    out.print(f"{retried} dead message(s) back in line")
