"""Chaos, bounded: jobs written to the outbox, published by the relay to the real RabbitMQ,
run by three worker processes, the oldest of which (once connected) is killed with SIGKILL
every `WAYMARK_TEST_CHAOS_KILL_EVERY` seconds (default 3), and each time another eighth of the
jobs is done, and replaced.
`WAYMARK_TEST_CHAOS_JOBS` jobs (default 1,000; the issue's 10,000 is
`WAYMARK_TEST_CHAOS_JOBS=10000`), 1% of them poison. Afterwards: no job lost,
no side effect twice (counted in the database), and every poison job in the dead-letter
queue after exactly its three attempts."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.contract.broker_servers import amqp_url, unique_queue
from tests.integration.chaos_worker import ATTEMPTS
from tests.integration.jobs_fixtures import effects
from tests.integration.jobs_support import EFFECT, POISON, effect_counts
from waymark.infra.broker.amqp import AmqpBroker
from waymark.infra.broker.relay import PublishingRelay
from waymark.infra.outbox import DONE, HandlerRegistry, Outbox
from waymark.infra.sql.database import Database

__all__ = ["amqp_url", "effects"]

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("effects")]

JOBS = int(os.environ.get("WAYMARK_TEST_CHAOS_JOBS", "1000"))
KILL_EVERY = float(os.environ.get("WAYMARK_TEST_CHAOS_KILL_EVERY", "3.0"))
WORKERS = 3
ROOT = Path(__file__).resolve().parents[2]


class ChaosWorker:
    """A worker process, its output in a file of its own."""

    def __init__(self, database_url: str, url: str, queue: str, log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.process = start(database_url, url, queue, out)

    @property
    def ready(self) -> bool:
        """Past its imports and connected: killing it now loses jobs in flight."""
        return b"ready" in self.log.read_bytes()


def start(database_url: str, url: str, queue: str, out: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.chaos_worker", database_url, url, queue],
        cwd=ROOT,
        stdout=out,
        stderr=subprocess.STDOUT,
    )


def kill(process: subprocess.Popen[bytes], signum: int = signal.SIGKILL) -> None:
    process.send_signal(signum)
    process.wait(timeout=30)


@pytest.mark.backend("postgresql")
async def test_killed_workers_lose_no_job_repeat_no_effect_and_dead_letter_poison_on_time(
    db: Database, database_url: str, amqp_url: str, tmp_path: Path
) -> None:
    queue = unique_queue()
    broker = AmqpBroker(amqp_url, queue=queue)
    registry = HandlerRegistry()
    registry.register(EFFECT, lambda message: asyncio.sleep(0))  # the relay only publishes
    outbox = Outbox(registry)
    poison: set[str] = set()
    wanted: set[str] = set()
    async with db.transaction() as conn:
        for n in range(JOBS):
            is_poison = n % 100 == 99
            job_id = await outbox.enqueue(conn, EFFECT, {POISON if is_poison else "n": n})
            assert job_id is not None
            (poison if is_poison else wanted).add(job_id)
    relay = PublishingRelay(db, registry, outbox=outbox, broker=broker, batch_size=200)
    logs = Path(os.environ.get("WAYMARK_TEST_CHAOS_LOGS", tmp_path))
    started = 0

    def new_worker() -> ChaosWorker:
        nonlocal started
        started += 1
        return ChaosWorker(database_url, amqp_url, queue, logs / f"worker-{started}.log")

    workers = [new_worker() for _ in range(WORKERS)]
    stop = asyncio.Event()
    relaying = asyncio.create_task(relay.run_forever(stop, poll_interval=0.2))
    kills = 0
    deadline = time.monotonic() + max(120.0, JOBS / 10)
    next_kill = time.monotonic() + KILL_EVERY
    done_at_kill = 0
    try:
        while True:
            done = await effect_counts(db)
            dead = await broker.dead_jobs(limit=len(poison) * 4)
            if set(done) == wanted and {j.id for j in dead} == poison:
                break
            assert time.monotonic() < deadline, (len(done), len(dead), kills)
            ready = [w for w in workers if w.ready]
            # The oldest ready one (a worker just started spends seconds importing first).
            # Every KILL_EVERY seconds, and every eighth of the jobs done, so that a fast
            # machine, done in a few seconds, sees its workers killed all the same.
            due = time.monotonic() >= next_kill or len(done) - done_at_kill >= JOBS // 8
            if due and ready:
                workers.remove(ready[0])
                await asyncio.to_thread(kill, ready[0].process)
                workers.append(new_worker())
                kills += 1
                next_kill = time.monotonic() + KILL_EVERY
                done_at_kill = len(done)
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        await relaying
        for worker in workers:
            await asyncio.to_thread(kill, worker.process, signal.SIGTERM)
        depth = await broker.depth()
        await broker.teardown()
        await broker.aclose()
    assert kills >= 3, "the workers finished before the chaos began: raise WAYMARK_TEST_CHAOS_JOBS"
    assert all(n == 1 for n in done.values()), {k: n for k, n in done.items() if n > 1}
    assert all(job.attempt == ATTEMPTS for job in dead), [(j.id, j.attempt) for j in dead]
    assert all(job.last_error == f"ValueError: poison job {job.id}" for job in dead)
    assert (depth.ready, depth.delayed) == (0, 0)
    async with db.read() as conn:
        assert (await Outbox.counts(conn))[DONE] == JOBS
