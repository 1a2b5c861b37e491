"""Scheduled jobs: what a feature registers (a name, a cron expression in a time zone, a
catch-up policy, and the handler that runs each slot), and the registry the scheduler reads.

The scheduler knows no job by name: each feature adds its own to `ScheduledJobs` in the
composition root. A slot runs through the outbox as a message of kind `schedule.<name>`, so a
job rides whatever carries the outbox (the in-process relay, a broker's workers): retries,
dead letters and `waymark outbox` apply to it as to any job.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.infra.outbox import HandlerRegistry, OutboxMessage, PermanentFailure
from waymark.infra.scheduler.cron import CronSchedule, InvalidSchedule

KIND_PREFIX = "schedule."
CatchUp = Literal["once", "skip"]
"""What a slot missed by more than the grace (the scheduler was down) becomes: `once` runs
the latest missed slot once, standing for all of them; `skip` records it as skipped and
waits for the next slot."""


class ScheduledRun(msgspec.Struct, frozen=True, kw_only=True):
    """The payload of a slot's message, as its handler sees it."""

    job: str
    slot: datetime
    """The instant the slot fired at (UTC): what the job's work is "as of"."""
    late: bool = False
    """True when the slot ran after the grace (catch-up after downtime)."""
    message_id: str = ""
    """The outbox message's id: stable across retries, the job's idempotency key."""


ScheduledHandler = Callable[[ScheduledRun], Awaitable[object]]
"""Runs one slot. It may run more than once for the same slot (the outbox delivers at least
once), so it must be idempotent, keyed on the slot or `message_id`."""

TransactionalScheduledHandler = Callable[[ScheduledRun, AsyncConnection], Awaitable[object]]
"""Runs one slot on the relay's connection, in the transaction that marks its message done:
its database writes (outbox messages included) happen exactly once."""


@dataclass(frozen=True, slots=True)
class ScheduledJob:
    name: str
    schedule: CronSchedule
    catch_up: CatchUp
    handler: ScheduledHandler | TransactionalScheduledHandler
    description: str = ""

    @property
    def kind(self) -> str:
        return KIND_PREFIX + self.name


class ScheduledJobs:
    """The registry: a feature `add`s its jobs; each also becomes an outbox handler of kind
    `schedule.<name>`. `overrides` (job name to cron expression, from the settings) replace
    the expressions features ask for."""

    def __init__(
        self, handlers: HandlerRegistry, *, overrides: Mapping[str, str] | None = None
    ) -> None:
        self.handlers = handlers
        self.overrides = dict(overrides or {})
        self._jobs: dict[str, ScheduledJob] = {}

    def add(
        self,
        name: str,
        cron: str,
        handler: ScheduledHandler | TransactionalScheduledHandler,
        *,
        time_zone: str = "UTC",
        catch_up: CatchUp = "once",
        description: str = "",
        transactional: bool = False,
    ) -> ScheduledJob:
        """Register job `name`: `handler` runs each slot of `cron` in `time_zone`; with
        `transactional`, on the relay's connection (see `TransactionalScheduledHandler`)."""
        if name in self._jobs:
            raise ValueError(f"a scheduled job {name!r} is already registered")
        expression = self.overrides.get(name, cron)
        try:
            schedule = CronSchedule(expression, time_zone)
        except InvalidSchedule as exc:
            raise InvalidSchedule(f"scheduled job {name!r}: {exc}") from exc
        job = ScheduledJob(name, schedule, catch_up, handler, description)
        if transactional:
            self.handlers.register_transactional(
                job.kind,
                _deliver_in_transaction(handler),  # type: ignore[arg-type]
            )
        else:
            self.handlers.register(job.kind, _deliver(handler))  # type: ignore[arg-type]
        self._jobs[name] = job
        return job

    def check_overrides(self) -> None:
        """Raise if an override names no registered job (a typo would go unnoticed)."""
        unknown = sorted(set(self.overrides) - set(self._jobs))
        if unknown:
            raise InvalidSchedule(f"cron overrides for unknown scheduled jobs: {unknown}")

    def __iter__(self) -> Iterator[ScheduledJob]:
        return iter(list(self._jobs.values()))

    def __len__(self) -> int:
        return len(self._jobs)

    def get(self, name: str) -> ScheduledJob | None:
        return self._jobs.get(name)


def _run_of(message: OutboxMessage) -> ScheduledRun:
    try:
        run = message.decode(ScheduledRun)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise PermanentFailure(f"bad {message.kind} payload: {exc}") from exc
    return msgspec.structs.replace(run, message_id=message.id)


def _deliver(handler: ScheduledHandler) -> Callable[[OutboxMessage], Awaitable[None]]:
    async def deliver(message: OutboxMessage) -> None:
        await handler(_run_of(message))

    return deliver


def _deliver_in_transaction(
    handler: TransactionalScheduledHandler,
) -> Callable[[OutboxMessage, AsyncConnection], Awaitable[None]]:
    async def deliver(message: OutboxMessage, conn: AsyncConnection) -> None:
        await handler(_run_of(message), conn)

    return deliver


def at_slot(work: Callable[[datetime], Awaitable[object]]) -> ScheduledHandler:
    """A handler from a function of the time it works as of (a housekeeping job's `now`):
    the slot's instant."""

    async def handler(run: ScheduledRun) -> None:
        await work(run.slot)

    return handler
