"""Periodic maintenance on SQLite and PostgreSQL: what a run deletes, what it keeps, that two
processes may run it at once, and that the app's lifespan (its scheduler) runs and stops it.

Runs are driven with an explicit `now`; the lifespan test waits for a row to go, never for
something not to happen.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update

from waymark.app import create_app
from waymark.infra.maintenance import (
    Maintenance,
    MaintenanceJobs,
    PruneDeliveredMessages,
    housekeeping_jobs,
)
from waymark.infra.observability.logging import configure_logging
from waymark.infra.outbox import DEAD, DONE, PENDING, Outbox
from waymark.infra.outbox.tables import outbox as outbox_table
from waymark.infra.sql.database import Database
from waymark.infra.sql.ephemeral_tables import (
    ephemeral_rate_limits,
    ephemeral_refresh_families,
    ephemeral_sessions,
)
from waymark.infra.sql.live_tables import live_presence, live_tickets
from waymark.infra.sql.rate_limiter import SqlRateLimiter
from waymark.infra.stores import EphemeralStores, build_ephemeral_stores
from waymark.kernel.live import LiveTicket
from waymark.kernel.ports import RefreshFamily, SessionRecord
from waymark.kernel.presence import Present
from waymark.settings import LogSettings, MaintenanceSettings, SchedulerSettings, Settings

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
T = NOW.timestamp()
KIND = "test.maintenance"


def sql_stores(db: Database) -> EphemeralStores:
    return build_ephemeral_stores(Settings(_env_file=None, redis_url=None), db)  # type: ignore[call-arg]


def _lifetime(expires_at: float) -> dict[str, Any]:
    """A user's session or family, last active 10 s (its idle timeout) before `expires_at`."""
    return {
        "user_id": "u1",
        "created_at": expires_at - 100,
        "idle_timeout": 10,
        "absolute_expires_at": expires_at + 1000,
    }


def session(id_hash: str, *, expires_at: float) -> SessionRecord:
    return SessionRecord(
        id_hash=id_hash,
        last_seen_at=expires_at - 10,
        csrf_token="csrf",
        **_lifetime(expires_at),
    )


def family(family_id: str, *, expires_at: float) -> RefreshFamily:
    return RefreshFamily(
        id=family_id,
        last_used_at=expires_at - 10,
        current_hash=f"hash-{family_id}",
        **_lifetime(expires_at),
    )


async def message(db: Database, state: str, processed_at: datetime | None = None) -> str:
    """A message as the relay leaves it: `state`, processed at `processed_at`."""
    async with db.transaction() as conn:
        message_id = await Outbox().enqueue(conn, KIND, {"state": state}, now=NOW)
        assert message_id is not None
        await conn.execute(
            update(outbox_table)
            .where(outbox_table.c.id == message_id)
            .values(state=state, processed_at=processed_at)
        )
    return message_id


async def column(db: Database, table: Any, name: str) -> set[Any]:
    async with db.read() as conn:
        return set((await conn.execute(select(table.c[name]))).scalars())


async def test_one_run_deletes_what_expired_and_keeps_what_lives(db: Database) -> None:
    stores = sql_stores(db)
    # Rate limits: a bucket drained before NOW, and one still filling.
    await stores.rate_limiter.hit("drained", limit=1, period=60, now=T - 120)
    await stores.rate_limiter.hit("busy", limit=1, period=60, now=T - 30)
    await stores.sessions.create(session("gone", expires_at=T - 1))
    await stores.sessions.create(session("live", expires_at=T + 60))
    await stores.refresh_tokens.create_family(family("gone", expires_at=T - 1))
    await stores.refresh_tokens.create_family(family("live", expires_at=T + 60))
    online = Present(account_id=str(uuid.uuid4()), display_name="Ada")
    await stores.presence.enter("team:t", "gone", online, expires_at=T - 1, now=T - 10)
    await stores.presence.enter("team:t", "live", online, expires_at=T + 60, now=T - 10)
    await stores.live_tickets.put(
        "gone", LiveTicket(account_id="a", issued_at=T - 31, expires_at=T - 1)
    )
    await stores.live_tickets.put(
        "live", LiveTicket(account_id="a", issued_at=T, expires_at=T + 30)
    )
    # Outbox: only delivered messages older than the retention (7 days) go.
    old_done = await message(db, DONE, NOW - timedelta(days=8))
    recent_done = await message(db, DONE, NOW - timedelta(days=6))
    old_dead = await message(db, DEAD, NOW - timedelta(days=30))
    pending = await message(db, PENDING)

    jobs = housekeeping_jobs(db, stores, MaintenanceSettings(outbox_retention_days=7))
    configure_logging(LogSettings(level="info"))  # an app built earlier may have set warning
    with structlog.testing.capture_logs() as logs:
        report = await Maintenance(jobs).run_once(NOW)

    removed = {
        "expired-rate-limits": 1,
        "expired-sessions": 1,
        "expired-refresh-families": 1,
        "expired-live-presence": 1,
        "expired-live-tickets": 1,
        "delivered-outbox-messages": 1,
    }
    assert (report.removed, report.failed) == (removed, {})
    assert await column(db, ephemeral_rate_limits, "key") == {"busy"}
    assert await column(db, ephemeral_sessions, "id_hash") == {"live"}
    assert await column(db, ephemeral_refresh_families, "id") == {"live"}
    assert await column(db, live_presence, "holder") == {"live"}
    assert await column(db, live_tickets, "ticket_hash") == {"live"}
    assert await column(db, outbox_table, "id") == {recent_done, old_dead, pending}
    assert old_done not in await column(db, outbox_table, "id")
    (line,) = [entry for entry in logs if entry["event"] == "maintenance.run"]
    assert (line["removed"], line["failed"], line["log_level"]) == (removed, {}, "info")

    again = await Maintenance(jobs).run_once(NOW)
    assert again.removed == dict.fromkeys(removed, 0)


async def test_two_processes_running_it_at_once_delete_each_row_once(
    db: Database, database_url: str
) -> None:
    """Every server process runs maintenance; overlapping runs must not fail or double-count."""
    stores = sql_stores(db)
    for n in range(20):
        await stores.rate_limiter.hit(f"drained-{n}", limit=1, period=60, now=T - 120)
    for _ in range(30):
        await message(db, DONE, NOW - timedelta(days=8))
    other_db = Database(database_url)
    try:
        runs = [
            Maintenance(_jobs_with_small_batches(database, sql_stores(database)))
            for database in (db, other_db)
        ]
        reports = await asyncio.gather(*(run.run_once(NOW) for run in runs))
    finally:
        await other_db.dispose()
    assert [r.failed for r in reports] == [{}, {}]
    assert sum(r.removed["expired-rate-limits"] for r in reports) == 20
    assert sum(r.removed["delivered-outbox-messages"] for r in reports) == 30
    assert await column(db, ephemeral_rate_limits, "key") == set()
    assert await column(db, outbox_table, "id") == set()


def _jobs_with_small_batches(db: Database, stores: EphemeralStores) -> MaintenanceJobs:
    """The housekeeping jobs, but pruning 4 messages a batch, so two pruners interleave."""
    jobs = MaintenanceJobs()
    purge = stores.expired_purges["rate-limits"]
    jobs.register("expired-rate-limits", lambda now: purge(now.timestamp()))
    jobs.register(
        "delivered-outbox-messages",
        PruneDeliveredMessages(db, retention=timedelta(days=7), batch_size=4),
    )
    return jobs


async def test_a_run_prunes_in_batches_within_its_time_budget(db: Database) -> None:
    """A huge backlog is worked off over several runs, so shutdown never waits for it."""
    for _ in range(5):
        await message(db, DONE, NOW - timedelta(days=8))
    prune = PruneDeliveredMessages(db, retention=timedelta(days=7), batch_size=2, budget_seconds=0)
    assert [await prune(NOW) for _ in range(4)] == [2, 2, 1, 0]
    unbounded = PruneDeliveredMessages(db, retention=timedelta(days=7), batch_size=2)
    for _ in range(5):
        await message(db, DONE, NOW - timedelta(days=8))
    assert await unbounded(NOW) == 5


async def test_a_failing_job_is_reported_and_the_others_still_run() -> None:
    ran: list[datetime] = []

    async def broken(now: datetime) -> int:
        raise RuntimeError("table is gone")

    async def fine(now: datetime) -> int:
        ran.append(now)
        return 3

    jobs = MaintenanceJobs()
    jobs.register("broken", broken)
    jobs.register("fine", fine)
    with pytest.raises(ValueError, match="already registered"):
        jobs.register("fine", fine)
    report = await Maintenance(jobs).run_once(NOW)
    assert report.removed == {"fine": 3}
    assert report.failed == {"broken": "RuntimeError: table is gone"}
    assert ran == [NOW]


def _app_settings(settings: Settings, cron: str) -> Settings:
    """The housekeeping jobs on `cron`, run by the server's own scheduler."""
    return settings.model_copy(
        update={
            "maintenance": MaintenanceSettings(cron=cron),
            "scheduler": SchedulerSettings(in_process=True, tick_seconds=0.1),
        }
    )


def _maintenance_task(client: AsyncTestClient[Litestar]) -> asyncio.Task[None]:
    """The lifespan's scheduler task; the test client runs the app in a loop of its own."""
    tasks = client.blocking_portal.call(asyncio.all_tasks)
    (task,) = [t for t in tasks if t.get_name() == "scheduler"]
    return task  # type: ignore[return-value]


async def test_the_lifespan_runs_maintenance_periodically_and_stops_it(
    settings: Settings, db: Database
) -> None:
    app = create_app(_app_settings(settings, cron="* * * * * *"))
    async with AsyncTestClient(app=app) as client:
        task = _maintenance_task(client)
        await SqlRateLimiter(db).hit("drained", limit=1, period=1, now=time.time() - 100)
        deadline = time.monotonic() + 10
        while await _rate_limit_rows(db):
            assert time.monotonic() < deadline, "maintenance never purged the drained bucket"
            await asyncio.sleep(0.05)
        assert not task.done()
    assert task.done()
    assert task.exception() is None


async def test_shutdown_does_not_wait_for_the_next_run(settings: Settings) -> None:
    app = create_app(_app_settings(settings, cron="0 0 1 1 *"))
    async with asyncio.timeout(10):
        async with AsyncTestClient(app=app) as client:
            task = _maintenance_task(client)
            assert not task.done()
    assert task.done()
    assert task.exception() is None


async def _rate_limit_rows(db: Database) -> int:
    async with db.read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(ephemeral_rate_limits)) or 0)
