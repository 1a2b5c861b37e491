"""Three `waymark scheduler` processes started at once against PostgreSQL and Redis, run as an
operator runs them: one leads, each slot of a per-second housekeeping schedule is enqueued
once, SIGTERM stops each cleanly, and `waymark scheduler list` shows the last run."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from tests.contract.redis_server import delete_keys, redis_url  # noqa: F401  (fixture)
from tests.servers import waymark
from waymark.infra.outbox.tables import outbox
from waymark.infra.scheduler.tables import scheduled_slots
from waymark.infra.sql.database import Database

pytestmark = [pytest.mark.slow, pytest.mark.backend("postgresql")]
JOB = "delivered-outbox-messages"  # with Redis, the stores expire their own keys: no expired-* jobs


@pytest.fixture
def env(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:  # noqa: F811
    prefix = f"waymark-test:scheduler-cli:{os.getpid()}:{time.monotonic_ns():x}:"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WAYMARK_")}
    environ |= {
        "WAYMARK_DATABASE_URL": database_url,
        "WAYMARK_REDIS_URL": redis_url,
        "WAYMARK_REDIS__KEY_PREFIX": prefix,
        "WAYMARK_MAINTENANCE__CRON": "* * * * * *",
        "WAYMARK_SCHEDULER__TICK_SECONDS": "0.2",
        "WAYMARK_LOG__LEVEL": "info",
        "WAYMARK_VAR_DIR": str(tmp_path / "var"),
    }
    yield environ

    async def _clean() -> None:
        client = Redis.from_url(redis_url)
        await delete_keys(client, prefix)
        await client.aclose()

    asyncio.run(_clean())


async def _slots(url: str) -> tuple[list[object], int]:
    db = Database(url)
    try:
        async with db.read() as conn:
            slots = list(
                (
                    await conn.execute(
                        select(scheduled_slots.c.slot_at)
                        .where(scheduled_slots.c.job == JOB)
                        .order_by(scheduled_slots.c.slot_at)
                    )
                ).scalars()
            )
            messages = await conn.scalar(
                select(func.count()).select_from(outbox).where(outbox.c.kind == f"schedule.{JOB}")
            )
        return slots, int(messages or 0)
    finally:
        await db.dispose()


def test_three_scheduler_processes_run_each_slot_once(
    env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    logs = [tmp_path / f"scheduler-{n}.log" for n in range(3)]
    processes = []
    for n, log in enumerate(logs):
        own = env | {"WAYMARK_VAR_DIR": str(tmp_path / f"var-{n}")}  # each its own key file
        with log.open("w") as out:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "waymark", "scheduler"],
                    env=own,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        deadline = time.monotonic() + 60
        while len(asyncio.run(_slots(database_url))[0]) < 4:  # the first slots, then 3 s more
            assert time.monotonic() < deadline, [log.read_text()[-2000:] for log in logs]
            assert all(p.poll() is None for p in processes), [log.read_text() for log in logs]
            time.sleep(0.5)
        for process in processes:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(timeout=30) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert codes == [0, 0, 0], [log.read_text()[-2000:] for log in logs]
    leading = [log for log in logs if '"event":"scheduler.leader"' in log.read_text()]
    assert len(leading) == 1, [log.read_text()[-2000:] for log in logs]
    slots, messages = asyncio.run(_slots(database_url))
    assert messages == len(slots) >= 4  # one message per slot, none twice
    assert {b - a for a, b in pairwise(slots)} == {timedelta(seconds=1)}  # none left out

    listed = waymark(env | {"COLUMNS": "200"}, "scheduler", "list").stdout
    assert JOB in listed
    assert "pending" in listed  # no relay ran: its message waits
