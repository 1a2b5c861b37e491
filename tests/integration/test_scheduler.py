"""The scheduler on SQLite and PostgreSQL (and Redis): each slot runs once however many
schedulers reach it, missed slots are caught up once or skipped, time zones hold across a
daylight-saving change, and `waymark serve`'s lifespan runs it in the embedded profile.

Most tests drive `tick(now)` with explicit instants (a fake clock); the leader tests run
three schedulers in real time on a per-second schedule for a few seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import msgspec
import pytest
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy import func, select

from tests.contract.redis_server import delete_keys, redis_url  # noqa: F401  (fixture)
from waymark.app import create_app
from waymark.infra.outbox import DONE, HandlerRegistry, Outbox
from waymark.infra.outbox.tables import outbox as outbox_table
from waymark.infra.redis import create_redis
from waymark.infra.scheduler import (
    LeaderLock,
    PostgresLeader,
    RedisLeader,
    ScheduledJobs,
    ScheduledRun,
    Scheduler,
    SingleProcess,
)
from waymark.infra.scheduler.metrics import ScheduleMetrics
from waymark.infra.scheduler.tables import ENQUEUED, SKIPPED, scheduled_slots
from waymark.infra.sql.database import Database
from waymark.settings import MaintenanceSettings, SchedulerSettings, Settings

T0 = datetime(2030, 1, 7, 12, 0, tzinfo=UTC)
KIND = "schedule.tick"


async def _nothing(run: ScheduledRun) -> None:
    return None


def scheduler(
    db: Database,
    cron: str = "* * * * * *",
    *,
    catch_up: str = "once",
    time_zone: str = "UTC",
    leader: LeaderLock | None = None,
    tick_seconds: float = 1.0,
) -> Scheduler:
    jobs = ScheduledJobs(HandlerRegistry())
    jobs.add("tick", cron, _nothing, catch_up=catch_up, time_zone=time_zone)  # type: ignore[arg-type]
    return Scheduler(
        db,
        Outbox(jobs.handlers),
        jobs,
        leader=leader or SingleProcess(),
        grace=timedelta(seconds=30),
        tick_seconds=tick_seconds,
    )


async def slots(db: Database) -> list[tuple[datetime, str]]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(scheduled_slots.c.slot_at, scheduled_slots.c.state).order_by(
                scheduled_slots.c.slot_at
            )
        )
        return [(row.slot_at, row.state) for row in rows]


async def runs(db: Database) -> list[ScheduledRun]:
    """The slots' outbox messages, by slot."""
    async with db.read() as conn:
        rows = await conn.execute(select(outbox_table.c.payload).where(outbox_table.c.kind == KIND))
        found = [msgspec.json.decode(row.payload, type=ScheduledRun) for row in rows]
    return sorted(found, key=lambda run: run.slot)


@pytest.fixture
async def other_dbs(database_url: str) -> AsyncIterator[list[Database]]:
    """Two more connections' pools to the same database: three schedulers, three pools."""
    extra = [Database(database_url), Database(database_url)]
    yield extra
    for database in extra:
        await database.dispose()


async def test_three_schedulers_ticking_at_once_enqueue_each_slot_once(
    db: Database, other_dbs: list[Database]
) -> None:
    """No leader lock at all: the slot's unique row alone keeps each slot to one message."""
    schedulers = [scheduler(database) for database in (db, *other_dbs)]
    done = []
    for second in range(10):
        now = T0 + timedelta(seconds=second, milliseconds=300)
        results = await asyncio.gather(*(s.tick(now) for s in schedulers))
        done.append(sum(len(result) for result in results))
    assert done == [1] * 10  # one of the three enqueued each slot; the others found it taken
    expected = [T0 + timedelta(seconds=second) for second in range(10)]
    assert [run.slot for run in await runs(db)] == expected
    assert await slots(db) == [(slot, ENQUEUED) for slot in expected]


@pytest.mark.backend("postgresql")
@pytest.mark.parametrize("lock", ["redis", "postgresql"])
async def test_three_schedulers_in_real_time_one_leads_and_each_slot_runs_once(
    lock: str,
    db: Database,
    other_dbs: list[Database],
    redis_url: str,  # noqa: F811
) -> None:
    clients: list[Redis] = []
    prefix = f"waymark-test:scheduler:{time.monotonic_ns():x}:"

    def leader(database: Database) -> LeaderLock:
        if lock == "postgresql":
            return PostgresLeader(database.engine)
        clients.append(create_redis(redis_url))
        return RedisLeader(clients[-1], key=f"{prefix}leader", ttl_seconds=5)

    schedulers = [
        scheduler(database, leader=leader(database), tick_seconds=0.1)
        for database in (db, *other_dbs)
    ]
    ticks: list[list[int]] = [[] for _ in schedulers]
    for index, each in enumerate(schedulers):
        each.tick = _counting(each.tick, ticks[index])  # type: ignore[method-assign]
    stop = asyncio.Event()
    started = datetime.now(UTC)
    tasks = [asyncio.create_task(each.run_forever(stop)) for each in schedulers]
    try:
        await asyncio.sleep(3.3)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        ended = datetime.now(UTC)
        for client in clients:
            await delete_keys(client, prefix)
            await client.aclose()
    leaders = [index for index, counted in enumerate(ticks) if counted]
    assert len(leaders) == 1, ticks  # the two others never got the lock
    got = [run.slot for run in await runs(db)]
    assert len(got) >= 3
    assert len(set(got)) == len(got)  # once each
    assert {b - a for a, b in pairwise(got)} == {timedelta(seconds=1)}  # none left out
    assert started - timedelta(seconds=1) <= got[0]
    assert got[-1] <= ended
    assert len(await slots(db)) == len(got)


class Unreachable:
    """A leader lock whose store is down (Redis stopped): every call fails."""

    async def acquire(self) -> bool:
        raise ConnectionError("the lock's store is down")

    async def release(self) -> None:
        raise ConnectionError("the lock's store is down")


async def test_without_its_lock_store_the_scheduler_still_runs_each_slot_once(
    db: Database, other_dbs: list[Database]
) -> None:
    """The lock is an economy: with Redis down, every scheduler ticks, and the slot rows
    still keep each slot to one message."""
    schedulers = [
        scheduler(database, leader=Unreachable(), tick_seconds=0.1) for database in (db, *other_dbs)
    ]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(each.run_forever(stop)) for each in schedulers]
    await asyncio.sleep(2.2)
    stop.set()
    await asyncio.gather(*tasks)
    got = [run.slot for run in await runs(db)]
    assert len(got) >= 2
    assert len(set(got)) == len(got)
    assert {b - a for a, b in pairwise(got)} == {timedelta(seconds=1)}


def _counting(tick: Callable[..., object], into: list[int]) -> Callable[..., object]:
    async def counted(now: datetime | None = None) -> object:
        into.append(1)
        return await tick(now)  # type: ignore[misc]

    return counted


@pytest.mark.parametrize("catch_up", ["once", "skip"])
async def test_a_missed_slot_after_downtime_runs_once_or_is_skipped(
    db: Database, catch_up: str
) -> None:
    minutely = scheduler(db, "* * * * *", catch_up=catch_up)
    assert [o.state for o in await minutely.tick(T0 + timedelta(seconds=5))] == [ENQUEUED]
    # Down for 5 minutes: the slots of 12:01 to 12:05 were missed.
    back = T0 + timedelta(minutes=5, seconds=40)
    (outcome,) = await minutely.tick(back)
    assert (outcome.slot, outcome.late) == (T0 + timedelta(minutes=5), True)
    assert await minutely.tick(back + timedelta(seconds=1)) == []  # dealt with, once
    # And the next slot is on time again.
    (next_one,) = await minutely.tick(T0 + timedelta(minutes=6, seconds=1))
    assert (next_one.late, next_one.state) == (False, ENQUEUED)
    if catch_up == "once":
        assert outcome.state == ENQUEUED
        assert [(r.slot, r.late) for r in await runs(db)] == [
            (T0, False),
            (T0 + timedelta(minutes=5), True),
            (T0 + timedelta(minutes=6), False),
        ]
    else:
        assert outcome.state == SKIPPED
        assert [r.slot for r in await runs(db)] == [T0, T0 + timedelta(minutes=6)]
        assert (T0 + timedelta(minutes=5), SKIPPED) in await slots(db)


async def test_a_job_that_never_ran_does_not_catch_up_slots_before_it_existed(
    db: Database,
) -> None:
    hourly = scheduler(db, "0 * * * *")
    assert await hourly.tick(T0 + timedelta(minutes=20)) == []
    assert await runs(db) == []
    (first,) = await hourly.tick(T0 + timedelta(hours=1, seconds=2))
    assert (first.slot, first.late) == (T0 + timedelta(hours=1), False)


async def test_a_daily_job_in_paris_runs_once_a_day_across_the_fall_back(db: Database) -> None:
    """Ticking every 30 minutes from Saturday 02:00 to Monday noon, 2026-10-25 being 25 hours
    long in Paris: 02:30 comes twice that night, the job runs at the first."""
    daily = scheduler(db, "30 2 * * *", time_zone="Europe/Paris")
    moment = datetime(2026, 10, 24, 0, 0, tzinfo=UTC)
    while moment <= datetime(2026, 10, 26, 12, 0, tzinfo=UTC):
        await daily.tick(moment)
        moment += timedelta(minutes=30)
    assert [run.slot for run in await runs(db)] == [
        datetime(2026, 10, 24, 0, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        datetime(2026, 10, 26, 1, 30, tzinfo=UTC),
    ]


async def test_status_shows_each_jobs_last_run_and_next_slot(db: Database) -> None:
    minutely = scheduler(db, "* * * * *")
    (before,) = await minutely.status(T0)
    assert (before.last_slot, before.next_slot) == (None, T0 + timedelta(minutes=1))
    await minutely.tick(T0 + timedelta(seconds=1))
    (after,) = await minutely.status(T0 + timedelta(seconds=2))
    assert (after.last_slot, after.last_state) == (T0, ENQUEUED)
    assert after.last_outcome == "pending"  # its message awaits the relay
    assert after.next_slot == T0 + timedelta(minutes=1)
    # The same on /metrics, as Unix seconds.
    families = {family.name: family for family in await ScheduleMetrics(minutely)()}
    (last,) = families["waymark_schedule_last_slot_seconds"].samples
    (upcoming,) = families["waymark_schedule_next_slot_seconds"].samples
    assert (last.labels, last.value) == ({"job": "tick"}, T0.timestamp())
    assert upcoming.value > datetime.now(UTC).timestamp()


async def test_history_keeps_each_jobs_latest_slot(db: Database) -> None:
    minutely = scheduler(db, "* * * * *")
    for minute in range(3):
        await minutely.tick(T0 + timedelta(minutes=minute, seconds=1))
    removed = await minutely.prune_history(T0 + timedelta(days=40), keep=timedelta(days=30))
    assert removed == 2
    assert await slots(db) == [(T0 + timedelta(minutes=2), ENQUEUED)]


async def test_the_embedded_lifespan_runs_the_scheduler_and_its_jobs_are_delivered(
    settings: Settings, db: Database
) -> None:
    """`make run` alone does everything: the server's scheduler enqueues housekeeping
    slots, its relay runs them."""
    app = create_app(
        settings.model_copy(
            update={
                "scheduler": SchedulerSettings(in_process=None, tick_seconds=0.2),
                "maintenance": MaintenanceSettings(cron="* * * * * *"),
            }
        )
    )
    assert settings.scheduler_in_process is False  # the test default
    in_process = app.state.container.settings.scheduler_in_process
    assert in_process is (settings.profile == "embedded")
    async with AsyncTestClient(app=app):
        if in_process:
            await _until(lambda: _delivered(db, "schedule.delivered-outbox-messages"))
        else:
            await asyncio.sleep(1.5)
    delivered = await _delivered(db, "schedule.delivered-outbox-messages")
    assert delivered >= 1 if in_process else delivered == 0


async def _delivered(db: Database, kind: str) -> int:
    async with db.read() as conn:
        return (
            await conn.execute(
                select(func.count())
                .select_from(outbox_table)
                .where(outbox_table.c.kind == kind, outbox_table.c.state == DONE)
            )
        ).scalar_one()


async def _until(count: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await count():  # type: ignore[misc]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)
