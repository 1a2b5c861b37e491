"""Broker contract: publish, receive, ack, retry after a delay, release, dead-letter, a
delivery its worker never settled coming back to another, and the depth of each queue, held
for RabbitMQ (its own queue names, deleted after), Redis (its own key prefix) and SQS (moto's
server: an emulator of the SQS API, no real SQS is reachable here)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import cast

import aio_pika
import aiormq
import pytest
from pamqp import commands as spec
from redis.asyncio import Redis
from yarl import URL

from tests.contract.broker_servers import CuttableProxy, amqp_url, sqs_url, unique_queue
from waymark.infra.broker.amqp import AmqpBroker
from waymark.infra.broker.amqp_frames import NotPublished, publish_all
from waymark.infra.broker.redis import RedisBroker
from waymark.infra.broker.sqs import SqsBroker
from waymark.kernel.broker import UNSETTLED_TOO_OFTEN, Broker, Delivery, Job, QueueDepth

__all__ = ["amqp_url", "sqs_url"]

MakeBroker = Callable[[], Awaitable[Broker]]
VISIBILITY = 1.0
"""Seconds before an unsettled delivery comes back (Redis, SQS; RabbitMQ: on disconnect)."""
LIMIT = 2
"""Deliveries never settled before the job is dead-lettered."""


def job(n: int = 0, **changes: object) -> Job:
    values: dict[str, object] = {
        "id": f"{uuid.uuid4()}",
        "kind": "test.job",
        "payload": f'{{"n":{n}}}',
        "correlation_id": f"req-{n}",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "created_at": 1_800_000_000.0 + n,
    }
    values.update(changes)
    return Job(**values)  # type: ignore[arg-type]


async def receive_all(broker: Broker, count: int, *, within: float = 10.0) -> list[Delivery]:
    got: list[Delivery] = []
    deadline = time.monotonic() + within
    while len(got) < count and time.monotonic() < deadline:
        got += await broker.receive(count - len(got), wait=1.0)
    return got


async def settle_depth(broker: Broker, expected: QueueDepth, *, within: float = 5.0) -> None:
    """SQS's counts are approximate and RabbitMQ's lag a moment: wait for them to agree."""
    deadline = time.monotonic() + within
    depth = await broker.depth()
    while depth != expected and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        depth = await broker.depth()
    assert depth == expected


class BrokerContract:
    async def test_a_published_job_arrives_whole_once_and_is_gone_when_acked(
        self, broker: Broker
    ) -> None:
        sent = [job(n) for n in range(25)]
        await broker.publish(sent)
        got = await receive_all(broker, 25)
        assert sorted((d.job for d in got), key=lambda j: j.created_at) == sent
        assert all(d.job.attempt == 1 for d in got)
        for delivery in got:
            await broker.ack(delivery)
        assert await broker.receive(10, wait=0.5) == []
        await settle_depth(broker, QueueDepth(ready=0, delayed=0, dead=0))

    async def test_ack_all_settles_just_the_deliveries_it_names(self, broker: Broker) -> None:
        await broker.publish([job(n) for n in range(6)])
        got = sorted(await receive_all(broker, 6), key=lambda d: d.job.created_at)
        # Every other one, the first kept back: an ack of "up to here" would take it too.
        await broker.ack_all(got[1::2])
        for delivery in got[::2]:
            await broker.release(delivery)
        again = await receive_all(broker, 3, within=5.0)
        assert sorted(d.job.id for d in again) == sorted(d.job.id for d in got[::2])
        await broker.ack_all(again)
        await broker.ack_all([])
        assert await broker.receive(10, wait=0.5) == []
        await settle_depth(broker, QueueDepth(ready=0, delayed=0, dead=0))

    async def test_depth_counts_ready_jobs(self, broker: Broker) -> None:
        await broker.publish([job(n) for n in range(3)])
        await settle_depth(broker, QueueDepth(ready=3, delayed=0, dead=0))

    async def test_a_retried_job_waits_its_delay_then_comes_back_one_attempt_on(
        self, broker: Broker
    ) -> None:
        await broker.publish([job(1)])
        [first] = await receive_all(broker, 1)
        await broker.retry(first, delay=1.0, error="ValueError: boom")
        assert await broker.receive(1, wait=0.3) == []
        [again] = await receive_all(broker, 1)
        assert again.job.id == first.job.id
        assert again.job.attempt == 2
        assert again.job.last_error == "ValueError: boom"
        await broker.ack(again)

    async def test_a_released_job_comes_back_at_once_with_the_same_attempt(
        self, broker: Broker
    ) -> None:
        await broker.publish([job(1)])
        [first] = await receive_all(broker, 1)
        await broker.release(first)
        [again] = await receive_all(broker, 1, within=3.0)
        assert again.job == first.job
        await broker.ack(again)

    async def test_a_delivery_its_worker_never_settled_goes_to_another_worker(
        self, make: MakeBroker
    ) -> None:
        dying = await make()
        await dying.publish([job(1)])
        [taken] = await receive_all(dying, 1)
        await dying.aclose()  # the worker died holding it (RabbitMQ: its connection dropped)
        survivor = await make()
        [again] = await receive_all(survivor, 1, within=VISIBILITY + 10)
        assert again.job == taken.job  # a redelivery is the same attempt
        await survivor.ack(again)

    async def test_a_job_that_kills_every_worker_is_dead_lettered_at_the_delivery_limit(
        self, make: MakeBroker
    ) -> None:
        first = await make()
        await first.publish([job(1)])
        deliveries = 0
        # RabbitMQ counts returns, SQS receives: LIMIT or LIMIT + 1 deliveries; the last
        # return is dead-lettered a moment after its worker went, so the count of dead jobs
        # is waited for once no delivery may be left, and no further one may come.
        while deliveries <= LIMIT and (await first.depth()).dead == 0:
            worker = await make()
            deliveries += len(await worker.receive(1, wait=VISIBILITY + 1))
            await worker.aclose()  # killed while running it
        await settle_depth(first, QueueDepth(ready=0, delayed=0, dead=1))
        late = await make()
        assert await late.receive(1, wait=VISIBILITY + 1) == [], "delivered past the limit"
        await late.aclose()
        assert LIMIT <= deliveries <= LIMIT + 1
        [dead] = await first.dead_jobs()
        assert dead.last_error == UNSETTLED_TOO_OFTEN

    async def test_dead_jobs_are_listed_retried_with_fresh_attempts_and_purged(
        self, broker: Broker
    ) -> None:
        sent = [job(n) for n in range(3)]
        await broker.publish(sent)
        for delivery in await receive_all(broker, 3):
            await broker.dead(delivery, error=f"PermanentFailure: {delivery.job.payload}")
        await settle_depth(broker, QueueDepth(ready=0, delayed=0, dead=3))
        dead = await broker.dead_jobs()
        assert [j.id for j in dead] == [j.id for j in sent]
        assert dead[0].last_error == 'PermanentFailure: {"n":0}'
        assert await broker.dead_jobs(limit=2) == dead[:2]
        assert await broker.dead_jobs() == dead  # listing leaves them there

        assert await broker.retry_dead([sent[1].id, "no-such-job"]) == 1
        [back] = await receive_all(broker, 1)
        assert back.job.id == sent[1].id
        assert back.job.attempt == 1
        await broker.ack(back)
        assert await broker.purge_dead() == 2
        await settle_depth(broker, QueueDepth(ready=0, delayed=0, dead=0))
        assert await broker.retry_dead() == 0

    async def test_a_job_waiting_out_its_backoff_counts_as_delayed(self, broker: Broker) -> None:
        await broker.publish([job(1)])
        [first] = await receive_all(broker, 1)
        await broker.retry(first, delay=30.0, error="x")
        await settle_depth(broker, QueueDepth(ready=0, delayed=1, dead=0))


async def brokers_of(new: Callable[[], Broker]) -> AsyncIterator[MakeBroker]:
    """Brokers `new()` makes, set up, on one queue: closed afterwards, the queue deleted."""
    made: list[Broker] = []

    async def make() -> Broker:
        broker = new()
        made.append(broker)
        await broker.setup()
        return broker

    yield make
    cleaner = await make()
    await cleaner.teardown()
    for broker in made:
        await broker.aclose()


class BrokerOnOneQueue(BrokerContract):
    @pytest.fixture
    async def broker(self, make: MakeBroker) -> Broker:
        return await make()


class TestAmqpBroker(BrokerOnOneQueue):
    @pytest.fixture
    async def make(self, amqp_url: str) -> AsyncIterator[MakeBroker]:
        queue = unique_queue()
        async for make in brokers_of(
            lambda: AmqpBroker(amqp_url, queue=queue, prefetch=50, delivery_limit=LIMIT)
        ):
            yield make

    # A batch's publishes go out in one write (`amqp_frames.publish_all`), past aio-pika.

    async def test_a_batch_with_a_job_larger_than_a_frame_arrives_whole(
        self, broker: Broker
    ) -> None:
        big = '{"notes":"' + "x" * 300_000 + '"}'  # RabbitMQ's frames hold 128 KiB
        sent = [job(0), job(1, payload=big), job(2)]
        await broker.publish(sent)
        got = await receive_all(broker, 3)
        assert sorted((d.job for d in got), key=lambda j: j.created_at) == sent
        await broker.ack_all(got)

    async def test_a_job_no_queue_takes_is_not_published(
        self, broker: AmqpBroker, amqp_url: str
    ) -> None:
        connection = await aio_pika.connect(amqp_url)
        async with connection:
            await (await connection.channel()).queue_delete(broker.queue)
        # Returned by RabbitMQ, never confirmed as if it were queued; the channel stays in
        # step: a second batch is refused too, not confirmed by the first one's replies.
        for _ in range(2):
            with pytest.raises(NotPublished):
                await asyncio.wait_for(broker.publish([job(1), job(2)]), 10)

    async def test_publishing_goes_on_over_the_restored_connection_after_a_drop(
        self, amqp_url: str
    ) -> None:
        async with CuttableProxy(upstream=("127.0.0.1", URL(amqp_url).port or 5672)) as proxy:
            url = URL(amqp_url).with_port(proxy.port).with_query(reconnect_interval="0.2")
            broker = AmqpBroker(str(url), queue=unique_queue(), delivery_limit=LIMIT)
            await broker.setup()
            try:
                await broker.publish([job(1)])
                proxy.cut()  # the broker's connection drops under it
                # A publish may fail while the connection is gone (the relay tries again),
                # but never hangs, and goes out on the new connection (new channel, its
                # delivery tags from 1) once aio-pika has restored it.
                for _ in range(10):
                    try:
                        await asyncio.wait_for(broker.publish([job(2), job(3)]), 5)
                        break
                    except Exception:
                        await asyncio.sleep(0.2)
                seen: set[str] = set()
                for delivery in await receive_all(broker, 3):
                    seen.add(delivery.job.payload)
                    await broker.ack(delivery)
                assert seen == {'{"n":1}', '{"n":2}', '{"n":3}'}
            finally:
                await broker.teardown()
                await broker.aclose()

    async def test_a_message_without_an_id_is_refused_before_anything_is_sent(
        self, broker: AmqpBroker
    ) -> None:
        channel = await (await broker._channel()).get_underlay_channel()
        named = (b"{}", spec.Basic.Properties(message_id="named"))
        with pytest.raises(ValueError, match="message_id"):
            await publish_all(
                channel, [named, (b"{}", spec.Basic.Properties())], routing_key=broker.queue
            )
        await asyncio.wait_for(broker.publish([job(1)]), 10)  # the channel is in step
        [got] = await receive_all(broker, 1)
        assert got.job.payload == '{"n":1}'
        await broker.ack(got)

    async def test_a_publish_cancelled_before_its_write_leaves_the_channel_in_step(
        self, broker: AmqpBroker
    ) -> None:
        channel = cast(aiormq.Channel, await (await broker._channel()).get_underlay_channel())
        connection_queue = channel.write_queue
        stuck: asyncio.Queue[object] = asyncio.Queue(maxsize=1)
        stuck.put_nowait(None)  # full: the publish waits to queue its write
        channel.write_queue = stuck
        try:
            waiting = asyncio.create_task(broker.publish([job(1), job(2), job(3)]))
            await asyncio.sleep(0.1)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
        finally:
            channel.write_queue = connection_queue
        # Had the three tags stayed taken, RabbitMQ's confirm of this one (its tag 1) would
        # name a publish that was never sent, and this one would wait forever.
        await asyncio.wait_for(broker.publish([job(4)]), 10)
        [got] = await receive_all(broker, 1)
        assert got.job.payload == '{"n":4}'
        await broker.ack(got)


class TestRedisBroker(BrokerOnOneQueue):
    """Under a key prefix of the test's own (its keys are deleted after it)."""

    @pytest.fixture
    async def make(self, redis_client: Redis, redis_prefix: str) -> AsyncIterator[MakeBroker]:
        name = f"{redis_prefix}jobs"
        async for make in brokers_of(
            lambda: RedisBroker(
                redis_client, name=name, visibility_timeout=VISIBILITY, delivery_limit=LIMIT
            )
        ):
            yield make


class TestSqsBroker(BrokerOnOneQueue):
    """On moto's server: an emulator of the SQS API."""

    @pytest.fixture
    async def make(self, sqs_url: str) -> AsyncIterator[MakeBroker]:
        queue = unique_queue()
        async for make in brokers_of(
            lambda: SqsBroker(
                sqs_url, name=queue, visibility_timeout=VISIBILITY, delivery_limit=LIMIT
            )
        ):
            yield make
