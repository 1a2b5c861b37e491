"""The scheduler: turns due slots of the registered jobs into outbox messages, once each.

Each tick, for every job, the latest slot at or before now is due unless a row for it (or a
later one) exists. It is written as a `scheduled_slots` row and, in the same transaction, an
outbox message; the row's primary key (job, slot) is what makes a slot run once however many
schedulers reach it. The leader lock (`leaders.py`) keeps all but one scheduler idle; it saves
work, it is not what correctness rests on.

A slot is on time while `now - slot <= grace`. One that is not (the schedulers were down) is
caught up per the job's policy: `once` enqueues it (one run for all the slots missed),
`skip` records it skipped. A job that has never run does not catch up: the slots before it
existed were not missed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

import msgspec
import structlog
from sqlalchemy import and_, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.infra.outbox import Outbox
from waymark.infra.outbox.tables import outbox
from waymark.infra.scheduler.jobs import ScheduledJob, ScheduledJobs, ScheduledRun
from waymark.infra.scheduler.leaders import LeaderLock
from waymark.infra.scheduler.tables import ENQUEUED, SKIPPED, scheduled_slots
from waymark.infra.sql.database import Database
from waymark.kernel.clock import utcnow

log = structlog.get_logger(__name__)


class SlotOutcome(msgspec.Struct, frozen=True, kw_only=True):
    job: str
    slot: datetime
    state: str
    """`enqueued` or `skipped`; a slot another scheduler took first is not reported."""
    late: bool


class JobStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One job as `waymark scheduler list` and the metrics show it."""

    name: str
    cron: str
    time_zone: str
    catch_up: str
    description: str
    last_slot: datetime | None
    last_state: str | None
    """`enqueued` or `skipped`."""
    last_outcome: str | None
    """The state of the last enqueued slot's outbox message (pending, done, dead), if it is
    still there (delivered messages are pruned after a while)."""
    next_slot: datetime | None


class Scheduler:
    """Ticks the registered jobs (`tick`), forever while leading (`run_forever`)."""

    def __init__(
        self,
        db: Database,
        outbox_writer: Outbox,
        jobs: ScheduledJobs,
        *,
        leader: LeaderLock,
        grace: timedelta = timedelta(seconds=60),
        tick_seconds: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.outbox = outbox_writer
        self.jobs = jobs
        self.leader = leader
        self.grace = grace
        self.tick_seconds = tick_seconds
        self._clock = clock
        self._dealt_with: dict[str, datetime] = {}
        """Per job, the latest slot known to have a row: a tick with nothing newer due opens
        no transaction (on SQLite, a write lock a second per job otherwise)."""

    async def tick(self, now: datetime | None = None) -> list[SlotOutcome]:
        """Enqueue (or skip) every job's due slot at `now`; returns what this call did."""
        now = now or self._clock()
        done: list[SlotOutcome] = []
        for job in self.jobs:
            try:
                outcome = await self._tick_job(job, now)
            except Exception:
                log.exception("scheduler.tick_failed", job=job.name)
                continue
            if outcome is not None:
                done.append(outcome)
                log.info(
                    "scheduler.slot",
                    job=job.name,
                    slot=outcome.slot.isoformat(),
                    state=outcome.state,
                    late=outcome.late,
                )
        return done

    async def _tick_job(self, job: ScheduledJob, now: datetime) -> SlotOutcome | None:
        due = job.schedule.latest_at_or_before(now)
        known = self._dealt_with.get(job.name)
        if due is None or (known is not None and due <= known):
            return None
        async with self.db.transaction() as conn:
            last = await _last_slot(conn, job.name)
            if last is not None and due <= last:
                self._dealt_with[job.name] = last
                return None
            late = now - due > self.grace
            if late and last is None:
                self._dealt_with[job.name] = due  # before the job existed: never to run
                return None
            state = SKIPPED if late and job.catch_up == "skip" else ENQUEUED
            if not await _claim(conn, job.name, due, state, now):
                self._dealt_with[job.name] = due
                return None  # another scheduler took this slot
            if state == ENQUEUED:
                message_id = await self.outbox.enqueue(
                    conn,
                    job.kind,
                    ScheduledRun(job=job.name, slot=due, late=late),
                    correlation_id=f"schedule:{job.name}:{due.isoformat()}",
                    now=now,
                )
                await conn.execute(
                    scheduled_slots.update()
                    .where(scheduled_slots.c.job == job.name, scheduled_slots.c.slot_at == due)
                    .values(message_id=message_id)
                )
        self._dealt_with[job.name] = due
        return SlotOutcome(job=job.name, slot=due, state=state, late=late)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Tick while leader until `stop` is set; a follower tries for the lock each tick.
        Wakes at the next due slot or after `tick_seconds`, whichever is sooner."""
        log.info("scheduler.started", jobs=[job.name for job in self.jobs])
        try:
            while not stop.is_set():
                delay = self.tick_seconds
                try:
                    if await self._leading():
                        await self.tick()
                        delay = self._until_next_slot()
                except Exception:  # a database outage: try again next tick
                    log.exception("scheduler.loop_failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
        finally:
            with contextlib.suppress(Exception):
                await self.leader.release()
            log.info("scheduler.stopped")

    async def _leading(self) -> bool:
        """Whether to tick: while this scheduler holds the lock, or when the lock cannot be
        asked (Redis down): the slot rows keep each slot to one run without it, so an outage
        of the lock's store costs duplicate work, never a missed or repeated slot."""
        try:
            return await self.leader.acquire()
        except Exception as exc:
            log.warning("scheduler.leader_unavailable", error=repr(exc))
            return True

    def _until_next_slot(self) -> float:
        now = self._clock()
        upcoming = [
            moment for job in self.jobs if (moment := job.schedule.next_after(now)) is not None
        ]
        if not upcoming:
            return self.tick_seconds
        return max(0.01, min(self.tick_seconds, (min(upcoming) - now).total_seconds()))

    async def status(self, now: datetime | None = None) -> list[JobStatus]:
        """Every job's last slot (and how its message fared) and next slot, in one query."""
        now = now or self._clock()
        latest = (
            select(scheduled_slots.c.job, func.max(scheduled_slots.c.slot_at).label("slot_at"))
            .group_by(scheduled_slots.c.job)
            .subquery()
        )
        query = (
            select(
                scheduled_slots.c.job,
                scheduled_slots.c.slot_at,
                scheduled_slots.c.state,
                outbox.c.state.label("outcome"),
            )
            .join(
                latest,
                and_(
                    latest.c.job == scheduled_slots.c.job,
                    latest.c.slot_at == scheduled_slots.c.slot_at,
                ),
            )
            .outerjoin(outbox, outbox.c.id == scheduled_slots.c.message_id)
        )
        async with self.db.read() as conn:
            rows = {row.job: row for row in await conn.execute(query)}
        statuses = []
        for job in self.jobs:
            row = rows.get(job.name)
            last = row.slot_at if row is not None else None
            statuses.append(
                JobStatus(
                    name=job.name,
                    cron=job.schedule.expression,
                    time_zone=job.schedule.time_zone,
                    catch_up=job.catch_up,
                    description=job.description,
                    last_slot=last,
                    last_state=row.state if row is not None else None,
                    last_outcome=row.outcome if row is not None else None,
                    next_slot=job.schedule.next_after(max(now, last) if last else now),
                )
            )
        return statuses

    async def prune_history(self, now: datetime, *, keep: timedelta = timedelta(days=30)) -> int:
        """Delete slot rows older than `keep`, but never a job's latest (its last run)."""
        newer = scheduled_slots.alias("newer")
        superseded = (
            select(newer.c.job)
            .where(
                newer.c.job == scheduled_slots.c.job, newer.c.slot_at > scheduled_slots.c.slot_at
            )
            .exists()
        )
        async with self.db.transaction() as conn:
            result = await conn.execute(
                delete(scheduled_slots).where(scheduled_slots.c.slot_at < now - keep, superseded)
            )
        return result.rowcount


async def _last_slot(conn: AsyncConnection, job: str) -> datetime | None:
    found: datetime | None = (
        await conn.execute(
            select(func.max(scheduled_slots.c.slot_at)).where(scheduled_slots.c.job == job)
        )
    ).scalar_one_or_none()
    return found


async def _claim(
    conn: AsyncConnection, job: str, slot: datetime, state: str, now: datetime
) -> bool:
    """Insert the slot's row unless it exists; True if this transaction inserted it. ON
    CONFLICT DO NOTHING: on PostgreSQL a second inserter waits for the first to commit and
    then inserts nothing, and the caller's transaction stays usable."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(scheduled_slots)
        .values(job=job, slot_at=slot, state=state, recorded_at=now)
        .on_conflict_do_nothing(index_elements=[scheduled_slots.c.job, scheduled_slots.c.slot_at])
        .returning(scheduled_slots.c.job)
    )
    return (await conn.execute(statement)).first() is not None
