"""The worker's batches, on the real RabbitMQ and both databases: transactional jobs in hand
together share one transaction, and every rule of a job run alone still holds for each of
them: a failing (or too slow) job rolls back only itself and is retried alone, a job already
processed or delivered twice has its effect once, a transaction failing by itself has its
jobs run again each alone, and a worker stopping returns every job of a batch it cut short."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.contract.broker_servers import amqp_url
from tests.integration.jobs_fixtures import broker, effects
from tests.integration.jobs_support import EFFECT, effect, effect_counts, job
from waymark.infra.broker.amqp import AmqpBroker
from waymark.infra.broker.worker import ACKED, Worker
from waymark.infra.outbox import HandlerRegistry, OutboxMessage, RetryPolicy
from waymark.infra.sql.database import Database
from waymark.kernel.broker import Delivery

__all__ = ["amqp_url", "broker", "effects"]

FAST = RetryPolicy(base=0.01, cap=0.05, max_attempts=3, jitter=0.5)
SLOW = "test.slow"
pytestmark = pytest.mark.usefixtures("effects")


async def received(broker: AmqpBroker, count: int) -> list[Delivery]:
    deliveries: list[Delivery] = []
    async with asyncio.timeout(10):
        while len(deliveries) < count:
            deliveries += await broker.receive(count - len(deliveries), wait=1)
    return deliveries


async def committed(db: Database, ids: set[str], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not ids <= (await effect_counts(db)).keys():
        assert time.monotonic() < deadline, await effect_counts(db)
        await asyncio.sleep(0.05)


class Recording:
    """The effect job, noting the connection each run had (one per transaction)."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, AsyncConnection]] = []
        self.registry = HandlerRegistry()
        self.registry.register_transactional(EFFECT, self.effect)

    async def effect(self, message: OutboxMessage, conn: AsyncConnection) -> None:
        self.runs.append((message.id, conn))
        await effect(message, conn)

    def connection_of(self, job_id: str) -> AsyncConnection:
        """The connection of `job_id`'s last run (the one that committed)."""
        return [conn for ran, conn in self.runs if ran == job_id][-1]


async def test_a_batch_commits_once_and_a_failing_job_rolls_back_only_itself(
    db: Database, broker: AmqpBroker
) -> None:
    jobs = Recording()
    worker = Worker(broker, jobs.registry, db, policy=FAST, batch_size=8)
    await broker.publish([job("j-old")])
    assert await worker.process((await received(broker, 1))[0]) == ACKED
    batch = [job("j-a"), job("j-poison", '{"poison":1}'), job("j-b"), job("j-old"), job("j-a")]
    await broker.publish(batch)
    await worker.process_batch(await received(broker, len(batch)))
    assert await effect_counts(db) == {"j-old": 1, "j-a": 1, "j-b": 1}
    # j-a and j-b committed together, in a transaction of their own after the poison's.
    assert jobs.connection_of("j-a") is jobs.connection_of("j-b")
    assert [ran for ran, _ in jobs.runs].count("j-a") == 2
    [again] = await received(broker, 1)  # only the poison job came back, one attempt on
    assert (again.job.id, again.job.attempt) == ("j-poison", 2)
    assert again.job.last_error == "ValueError: poison job j-poison"
    await broker.ack(again)
    assert await broker.receive(1, wait=0.5) == []


async def test_a_job_past_its_time_limit_in_a_batch_is_retried_alone(
    db: Database, broker: AmqpBroker
) -> None:
    jobs = Recording()

    async def slow(message: OutboxMessage, conn: AsyncConnection) -> None:
        await asyncio.sleep(5)

    jobs.registry.register_transactional(SLOW, slow, time_limit=0.1)
    worker = Worker(broker, jobs.registry, db, policy=FAST, time_limit=30, batch_size=8)
    await broker.publish([job("j-a"), job("j-slow", kind=SLOW), job("j-b")])
    await worker.process_batch(await received(broker, 3))
    assert await effect_counts(db) == {"j-a": 1, "j-b": 1}
    [again] = await received(broker, 1)
    assert (again.job.id, again.job.attempt) == ("j-slow", 2)
    assert again.job.last_error == "TimeoutError: the handler ran past its timeout"
    await broker.ack(again)


async def test_a_batch_whose_transaction_fails_runs_its_jobs_again_each_alone(
    db: Database, broker: AmqpBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = Recording()
    worker = Worker(broker, jobs.registry, db, policy=FAST, batch_size=8)
    transaction = db.transaction
    failures = [ConnectionResetError("the database went away")]

    @asynccontextmanager
    async def failing_once(*args: object) -> AsyncIterator[AsyncConnection]:
        async with transaction() as conn:
            yield conn
            if failures:  # before the commit: the transaction rolls back
                raise failures.pop()

    monkeypatch.setattr(db, "transaction", failing_once)
    await broker.publish([job("j-a"), job("j-b"), job("j-c")])
    await worker.process_batch(await received(broker, 3))
    assert await effect_counts(db) == {"j-a": 1, "j-b": 1, "j-c": 1}
    last = {jobs.connection_of(j) for j in ("j-a", "j-b", "j-c")}
    assert len(last) == 3  # each in a transaction of its own
    assert await broker.receive(1, wait=0.5) == []  # each acked, none retried


async def test_a_stopping_worker_returns_every_job_of_a_batch_past_the_grace(
    db: Database, broker: AmqpBroker
) -> None:
    registry = HandlerRegistry()
    started: list[str] = []
    one_started = asyncio.Event()

    async def stuck(message: OutboxMessage, conn: AsyncConnection) -> None:
        started.append(message.id)
        one_started.set()
        await asyncio.sleep(30)

    registry.register_transactional(SLOW, stuck)
    assert await broker.receive(1, wait=0.01) == []  # consuming from now on
    await broker.publish([job("j-1", kind=SLOW), job("j-2", kind=SLOW)])
    await asyncio.sleep(0.5)  # both in the consumer's buffer: one receive, one batch
    worker = Worker(broker, registry, db, policy=FAST, shutdown_grace=0.3, batch_size=8)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop, poll=0.2))
    await asyncio.wait_for(one_started.wait(), 10)
    stop.set()  # SIGTERM
    await asyncio.wait_for(task, 10)
    assert len(started) == 1  # one batch: the second job waited for the first, never began
    back = await received(broker, 2)
    assert sorted((d.job.id, d.job.attempt) for d in back) == [("j-1", 1), ("j-2", 1)]
    for delivery in back:
        await broker.ack(delivery)
    assert await effect_counts(db) == {}


@pytest.mark.backend("postgresql")  # SQLite: the busy transaction's lock would stop the batch
async def test_a_busy_worker_lets_a_batch_fill_for_its_wait_and_an_idle_one_starts_at_once(
    db: Database, broker: AmqpBroker
) -> None:
    jobs = Recording()
    busy_started, release = asyncio.Event(), asyncio.Event()

    async def busy(message: OutboxMessage, conn: AsyncConnection) -> None:
        busy_started.set()
        await release.wait()

    jobs.registry.register_transactional(SLOW, busy)
    worker = Worker(broker, jobs.registry, db, policy=FAST, batch_size=8, batch_wait=1.0)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop, poll=0.05))
    try:
        await broker.publish([job("j-busy", kind=SLOW)])  # idle: it starts at once
        await asyncio.wait_for(busy_started.wait(), 10)
        for job_id in ("j-1", "j-2", "j-3"):  # busy: each waits for company, not a commit
            await broker.publish([job(job_id)])
            await asyncio.sleep(0.1)
        assert jobs.runs == []
        await committed(db, {"j-1", "j-2", "j-3"})  # the oldest waited 1 s: they went
        assert not release.is_set()
        assert len({jobs.connection_of(j) for j in ("j-1", "j-2", "j-3")}) == 1
        release.set()  # idle again: a lone job starts at once, not after a second's wait
        await asyncio.sleep(0.5)
        worker.batch_wait = 60
        await broker.publish([job("j-alone")])
        await committed(db, {"j-alone"})
    finally:
        release.set()
        stop.set()
        await asyncio.wait_for(task, 10)
