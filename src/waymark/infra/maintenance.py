"""Housekeeping: jobs that delete what has expired, in a registry, and a runner of them all.

The scheduler runs each registered job on `WAYMARK_MAINTENANCE__CRON` (`schedule()`: a
scheduled job per housekeeping job, once per slot across every scheduler). A run that
overlaps another anyway (an operator's `waymark outbox prune`, a retried slot) is harmless:
every job is an idempotent delete of rows that are dead for good (an expired rate-limit
bucket, session or refresh family; a delivered message past retention), so a second run finds
nothing left to delete. Concurrent outbox pruners on PostgreSQL skip each other's locked rows
and take disjoint batches.

`Maintenance.run_once` runs them all at once, one after the other, for tests and operators.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta

import msgspec
import structlog

from waymark.infra.outbox import Outbox
from waymark.infra.scheduler import ScheduledJobs, at_slot
from waymark.infra.sql.database import Database
from waymark.infra.stores import EphemeralStores
from waymark.kernel.clock import utcnow
from waymark.settings import MaintenanceSettings

log = structlog.get_logger(__name__)

MaintenanceJob = Callable[[datetime], Awaitable[int]]
"""Deletes what is dead at `now`, in transactions of its own (it is an edge), and returns how
many rows went. Must be harmless to run twice, or in two processes at once."""


class MaintenanceJobs:
    """The housekeeping jobs, by name, in the order they run."""

    def __init__(self) -> None:
        self._jobs: dict[str, MaintenanceJob] = {}

    def register(self, name: str, job: MaintenanceJob) -> None:
        if name in self._jobs:
            raise ValueError(f"a maintenance job {name!r} is already registered")
        self._jobs[name] = job

    def __iter__(self) -> Iterator[tuple[str, MaintenanceJob]]:
        return iter(list(self._jobs.items()))

    @property
    def names(self) -> list[str]:
        return list(self._jobs)

    def schedule(self, schedules: ScheduledJobs, cron: str) -> None:
        """Put every job on the scheduler at `cron` (UTC), each a scheduled job of its own
        name; a missed slot runs once (what expired meanwhile is all deleted by one run)."""
        for name, job in self:
            schedules.add(name, cron, at_slot(job), catch_up="once", description="housekeeping")


class MaintenanceReport(msgspec.Struct, kw_only=True):
    """What one run did: rows removed per job, and the jobs that failed (with the error)."""

    removed: dict[str, int] = {}
    failed: dict[str, str] = {}


class Maintenance:
    """Runs every registered job, one after the other; a failing job does not stop the rest."""

    def __init__(self, jobs: MaintenanceJobs, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.jobs = jobs
        self._clock = clock

    async def run_once(self, now: datetime | None = None) -> MaintenanceReport:
        """One run of every job at `now` (default: the clock), logged as one line."""
        now = now or self._clock()
        report = MaintenanceReport()
        started = time.perf_counter()
        for name, job in self.jobs:
            try:
                report.removed[name] = await job(now)
            except Exception as exc:
                report.failed[name] = f"{type(exc).__name__}: {exc}"
                log.exception("maintenance.job_failed", job=name)
        log.info(
            "maintenance.run",
            removed=report.removed,
            failed=report.failed,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
        )
        return report


class PruneDeliveredMessages:
    """Deletes delivered outbox messages processed more than `retention` ago (dead ones stay
    for an operator to look at and retry).

    In batches of `batch_size`, each its own short transaction, so on SQLite requests get the
    write lock between batches. With `budget_seconds` a run starts no batch after that long
    (it runs one at least) and leaves the rest to the next run, so shutdown never waits long
    on a large backlog.
    """

    def __init__(
        self,
        db: Database,
        *,
        retention: timedelta,
        batch_size: int = 1000,
        budget_seconds: float | None = 5.0,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.db = db
        self.retention = retention
        self.batch_size = batch_size
        self.budget_seconds = budget_seconds

    async def __call__(self, now: datetime) -> int:
        done_before = now - self.retention
        deadline = None if self.budget_seconds is None else time.monotonic() + self.budget_seconds
        removed = 0
        while True:
            async with self.db.transaction() as conn:
                batch = await Outbox.prune(conn, done_before=done_before, limit=self.batch_size)
            removed += batch
            if batch < self.batch_size or (deadline is not None and time.monotonic() > deadline):
                return removed


def housekeeping_jobs(
    db: Database, stores: EphemeralStores, settings: MaintenanceSettings
) -> MaintenanceJobs:
    """The jobs every server process runs: expired rows of the SQL ephemeral stores (none
    with Redis, which expires its keys itself), and delivered outbox messages past retention.
    """
    jobs = MaintenanceJobs()
    for table, purge in stores.expired_purges.items():
        jobs.register(f"expired-{table}", _at_epoch_seconds(purge))
    jobs.register(
        "delivered-outbox-messages",
        PruneDeliveredMessages(db, retention=timedelta(days=settings.outbox_retention_days)),
    )
    return jobs


def _at_epoch_seconds(purge: Callable[[float], Awaitable[int]]) -> MaintenanceJob:
    """The stores' ports take Unix epoch seconds."""

    async def job(now: datetime) -> int:
        return await purge(now.timestamp())

    return job
