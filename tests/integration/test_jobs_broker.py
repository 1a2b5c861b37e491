"""Jobs on a real broker (RabbitMQ here, queues of the test's own; the end-to-end test on
Redis and on SQS as emulated by moto's server too), with the database on SQLite and
PostgreSQL: the relay publishes committed jobs and marks them done only once the broker
confirmed them; the worker runs them once under the request's id and trace context,
retries with backoff, dead-letters, honours time limits, and on shutdown finishes or
returns what it holds."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from tests.contract.broker_servers import amqp_url, sqs_url, unique_queue
from tests.contract.redis_server import redis_url
from tests.integration.jobs_fixtures import broker, effects
from tests.integration.jobs_support import (
    EFFECT,
    effect_counts,
    effect_registry,
    job,
    wait_for_depth,
)
from waymark.infra.broker.amqp import AmqpBroker
from waymark.infra.broker.redis import RedisBroker
from waymark.infra.broker.relay import PublishingRelay
from waymark.infra.broker.sqs import SqsBroker
from waymark.infra.broker.worker import ACKED, DEAD, DUPLICATE, RETRIED, UNSETTLED, Worker
from waymark.infra.outbox import DONE, PENDING, HandlerRegistry, Outbox, OutboxMessage, RetryPolicy
from waymark.infra.redis import create_redis
from waymark.infra.sql.database import Database
from waymark.kernel.broker import Broker, Delivery
from waymark.kernel.context import current_request_id, current_traceparent, request_context

__all__ = ["amqp_url", "broker", "effects", "redis_url", "sqs_url"]

TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
FAST = RetryPolicy(base=0.01, cap=0.05, max_attempts=3, jitter=0.5)
pytestmark = pytest.mark.usefixtures("effects")


async def enqueue(db: Database, outbox: Outbox, payload: dict[str, object]) -> str:
    async with db.transaction() as conn:
        job_id = await outbox.enqueue(conn, EFFECT, payload)
    assert job_id is not None
    return job_id


async def outbox_row(db: Database, message_id: str) -> dict[str, object]:
    async with db.read() as conn:
        found = await Outbox.get(conn, message_id)
    assert found is not None
    return found


async def run_until(worker: Worker, done: asyncio.Event, within: float = 20.0) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop, poll=0.2))
    try:
        await asyncio.wait_for(done.wait(), within)
    finally:
        stop.set()
        await task


@pytest.mark.backend("postgresql")  # the relay and worker on SQLite: the tests below
@pytest.mark.parametrize("kind", ["amqp", "redis", "sqs"])
async def test_a_committed_job_is_published_marked_done_and_run_once_under_its_request(
    db: Database, kind: str, request: pytest.FixtureRequest
) -> None:
    broker: Broker
    if kind == "amqp":
        broker = AmqpBroker(request.getfixturevalue("amqp_url"), queue=unique_queue())
    elif kind == "redis":
        client = create_redis(request.getfixturevalue("redis_url"))
        broker = RedisBroker(client, name=f"waymark-test:{unique_queue()}", owns_client=True)
    else:  # SQS on moto's server, an emulator
        broker = SqsBroker(request.getfixturevalue("sqs_url"), name=unique_queue())
    registry = effect_registry()
    seen: list[tuple[str | None, str | None]] = []
    ran = asyncio.Event()

    async def traced(message: OutboxMessage) -> None:
        seen.append((current_request_id(), current_traceparent()))
        ran.set()

    registry.register("test.traced", traced)
    outbox = Outbox(registry)
    try:
        with request_context("req-42", TRACE):
            job_id = await enqueue(db, outbox, {"n": 1})
            async with db.transaction() as conn:
                await outbox.enqueue(conn, "test.traced", {})
        relay = PublishingRelay(db, registry, outbox=outbox, broker=broker)
        report = await relay.run_once()
        assert (report.claimed, report.delivered) == (2, 2)
        assert (await outbox_row(db, job_id))["state"] == DONE
        await run_until(Worker(broker, registry, db, policy=FAST), ran)
        assert seen == [("req-42", TRACE)]
        assert await effect_counts(db) == {job_id: 1}
    finally:
        await broker.teardown()
        await broker.aclose()


async def test_a_broker_that_cannot_confirm_leaves_the_message_pending_for_a_retry(
    db: Database,
) -> None:
    unreachable = AmqpBroker("amqp://guest:guest@127.0.0.1:1/", queue=unique_queue())
    registry = effect_registry()
    outbox = Outbox(registry)
    job_id = await enqueue(db, outbox, {"n": 1})
    relay = PublishingRelay(db, registry, outbox=outbox, broker=unreachable, policy=FAST)
    report = await relay.run_once()
    assert (report.claimed, report.delivered, report.retried) == (1, 0, 1)
    row = await outbox_row(db, job_id)
    assert row["state"] == PENDING
    assert row["attempts"] == 1
    assert "Connection" in str(row["last_error"])
    await unreachable.aclose()


async def test_a_job_delivered_twice_has_its_effect_once(db: Database, broker: Broker) -> None:
    worker = Worker(broker, effect_registry(), db, policy=FAST)
    await broker.publish([job("j-1"), job("j-1")])  # a relay that died before marking done
    outcomes: list[str] = []
    while len(outcomes) < 2:
        for delivery in await broker.receive(2, wait=2.0):
            outcomes.append(await worker.process(delivery))
    assert sorted(outcomes) == [ACKED, DUPLICATE]
    assert await effect_counts(db) == {"j-1": 1}


async def test_a_job_whose_ack_is_lost_comes_again_and_is_skipped(
    db: Database, broker: AmqpBroker
) -> None:
    class AckLost(Exception):
        pass

    worker = Worker(broker, effect_registry(), db, policy=FAST)
    await broker.publish([job("j-lost")])
    [first] = await broker.receive(1, wait=5)
    acks = broker.ack

    async def ack_fails(delivery: Delivery) -> None:
        raise AckLost("connection reset")

    broker.ack = ack_fails  # type: ignore[method-assign]
    assert await worker.process(first) == UNSETTLED
    broker.ack = acks  # type: ignore[method-assign]
    await broker.release(first)  # what the broker does when the connection is gone
    [again] = await broker.receive(1, wait=5)
    assert await worker.process(again) == DUPLICATE
    assert await effect_counts(db) == {"j-lost": 1}


async def test_a_failing_job_is_retried_then_dead_after_exactly_its_attempts(
    db: Database, broker: Broker
) -> None:
    worker = Worker(broker, effect_registry(), db, policy=FAST)
    await broker.publish([job("j-poison", '{"poison":true}'), job("j-perm", '{"permanent":1}')])
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop, poll=0.2))
    try:
        await wait_for_depth(broker, dead=2)
    finally:
        stop.set()
        await task
    dead = {j.id: j for j in await broker.dead_jobs()}
    assert dead["j-poison"].attempt == FAST.max_attempts
    assert dead["j-poison"].last_error == "ValueError: poison job j-poison"
    assert dead["j-perm"].attempt == 1  # a permanent failure is not retried
    assert await effect_counts(db) == {}


async def test_a_kind_has_its_own_time_limit_and_attempts(db: Database, broker: Broker) -> None:
    registry = HandlerRegistry()

    async def slow(message: OutboxMessage) -> None:
        await asyncio.sleep(5)

    registry.register("test.slow", slow, time_limit=0.1, max_attempts=2)
    worker = Worker(broker, registry, db, policy=FAST, time_limit=30)
    await broker.publish([job("j-slow", kind="test.slow")])
    [first] = await broker.receive(1, wait=5)
    assert await worker.process(first) == RETRIED
    [second] = await broker.receive(1, wait=5)
    assert second.job.last_error == "TimeoutError: the handler ran past its timeout"
    assert await worker.process(second) == DEAD


async def test_a_job_of_no_registered_kind_is_dead_lettered(db: Database, broker: Broker) -> None:
    worker = Worker(broker, effect_registry(), db, policy=FAST)
    await broker.publish([job("j-x", kind="test.unknown")])
    [delivery] = await broker.receive(1, wait=5)
    assert await worker.process(delivery) == DEAD
    [dead] = await broker.dead_jobs()
    assert dead.last_error == "no handler for 'test.unknown' in this worker"


async def test_shutdown_lets_running_jobs_finish_within_the_grace_and_returns_the_rest(
    db: Database, broker: Broker
) -> None:
    registry = HandlerRegistry()
    started: asyncio.Queue[str] = asyncio.Queue()
    finished: list[str] = []

    async def work(message: OutboxMessage) -> None:
        await started.put(message.id)
        await asyncio.sleep(0.3 if message.id == "quick" else 30)
        finished.append(message.id)

    registry.register("test.work", work)
    await broker.publish([job("quick", kind="test.work"), job("stuck", kind="test.work")])
    worker = Worker(broker, registry, db, policy=FAST, concurrency=2, shutdown_grace=1.0)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop, poll=0.2))
    assert {await started.get(), await started.get()} == {"quick", "stuck"}
    stop.set()  # SIGTERM
    await asyncio.wait_for(task, 10)
    assert finished == ["quick"]
    # The job still running at the end of the grace went back, as it was, for another worker.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(10):
            while not (back := await broker.receive(1, wait=1)):
                pass
    assert [d.job.id for d in back] == ["stuck"]
    assert back[0].job.attempt == 1
    await broker.ack(back[0])
