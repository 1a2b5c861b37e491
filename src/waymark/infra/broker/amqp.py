"""The broker on RabbitMQ (`amqp://`), with aio-pika.

- `<queue>`: a quorum queue (replicated, durable). Its `x-delivery-limit` dead-letters a job
  whose deliveries keep ending without a settlement (it kills every worker that takes it),
  and its dead-letter exchange `<queue>.dlx` routes such jobs to `<queue>.dead`.
- `<queue>.dead`: the dead-letter queue, a quorum queue too; `dead()` publishes there
  through the same exchange, with the error in the job.
- `<queue>.retry.<n>`: the backoff of a job's n-th retry (n capped at `RETRY_TIERS`): a job
  waits there with a per-message expiration, then is dead-lettered back into `<queue>`. One
  queue per attempt number, because a queue expires messages at its head only: in one
  queue, a short delay behind a long one would wait for it; within a tier the delays differ
  by the retry policy's jitter at most.

Publishing waits for the broker's confirm of every message (publisher confirms); messages
are persistent and mandatory (one no queue takes is an error, not a silent loss). A batch's
publishes, and a batch's acks, each go out in one write (`amqp_frames`: aio-pika writes one
message at a time). Unacked deliveries come back when their connection drops (a killed
worker).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import aio_pika
import aiormq
import aiormq.abc
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractRobustConnection,
)
from pamqp import commands as spec

from waymark.infra.broker.amqp_frames import ack_all, publish_all
from waymark.kernel.broker import UNSETTLED_TOO_OFTEN, Delivery, Job, QueueDepth

RETRY_TIERS = 16


class AmqpBroker:
    def __init__(
        self, url: str, *, queue: str = "waymark.jobs", prefetch: int = 32, delivery_limit: int = 20
    ) -> None:
        self.url = url
        self.queue = queue
        self.dead_queue = f"{queue}.dead"
        self.dlx = f"{queue}.dlx"
        self.prefetch = prefetch
        self.delivery_limit = delivery_limit
        self._connection: AbstractRobustConnection | None = None
        self._publisher: AbstractChannel | None = None
        self._consumer: AbstractChannel | None = None
        self._buffer: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._lock = asyncio.Lock()

    def _retry_queue(self, tier: int) -> str:
        return f"{self.queue}.retry.{tier}"

    async def setup(self) -> None:
        await self._channel()

    async def _channel(self) -> AbstractChannel:
        async with self._lock:
            if self._publisher is None:
                self._connection = await aio_pika.connect_robust(self.url)
                channel = await self._connection.channel(publisher_confirms=True)
                await self._declare(channel)
                self._publisher = channel
            return self._publisher

    async def _declare(self, channel: AbstractChannel) -> None:
        dlx = await channel.declare_exchange(self.dlx, aio_pika.ExchangeType.DIRECT, durable=True)
        dead = await channel.declare_queue(
            self.dead_queue, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dead.bind(dlx, routing_key=self.queue)
        await channel.declare_queue(
            self.queue,
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-dead-letter-exchange": self.dlx,
                "x-dead-letter-routing-key": self.queue,
                "x-delivery-limit": self.delivery_limit,
            },
        )
        for tier in range(1, RETRY_TIERS + 1):
            await channel.declare_queue(
                self._retry_queue(tier),
                durable=True,
                arguments={
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": self.queue,
                },
            )

    async def _publish(
        self,
        jobs: Sequence[Job],
        routing_key: str,
        *,
        exchange: str = "",
        expiration: float | None = None,
    ) -> None:
        """Publish `jobs` persistent, in one write, and wait for RabbitMQ's confirms
        (`amqp_frames.publish_all`)."""
        channel = await (await self._channel()).get_underlay_channel()
        await publish_all(
            channel,
            [(job.encode(), _properties(job, expiration)) for job in jobs],
            routing_key=routing_key,
            exchange=exchange,
        )

    async def publish(self, jobs: Sequence[Job]) -> None:
        await self._publish(jobs, self.queue)

    async def _consuming(self) -> None:
        if self._consumer is not None:
            return
        await self._channel()
        assert self._connection is not None
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=self.prefetch)
        queue = await channel.get_queue(self.queue, ensure=False)
        await queue.consume(self._buffer.put, no_ack=False)
        self._consumer = channel

    async def receive(self, limit: int, *, wait: float) -> list[Delivery]:
        await self._consuming()
        messages: list[AbstractIncomingMessage] = []
        with contextlib.suppress(TimeoutError):
            messages.append(await asyncio.wait_for(self._buffer.get(), wait))
        while messages and len(messages) < limit and not self._buffer.empty():
            messages.append(self._buffer.get_nowait())
        return [Delivery(job=Job.decode(m.body), handle=m) for m in messages]

    async def ack(self, delivery: Delivery) -> None:
        await delivery.handle.ack()

    async def ack_all(self, deliveries: Sequence[Delivery]) -> None:
        # One write per channel for all the acks: an ack each written alone cost a socket
        # write each here and a log command each in the quorum queue (RabbitMQ's CPU per job
        # halved, bench/jobs).
        by_channel: dict[int, tuple[aiormq.abc.AbstractChannel, list[int]]] = {}
        for delivery in deliveries:
            message: AbstractIncomingMessage = delivery.handle
            channel = message.channel  # raises if the channel closed since the delivery
            assert message.delivery_tag is not None  # consumed with no_ack=False
            by_channel.setdefault(channel.number, (channel, []))[1].append(message.delivery_tag)
        for channel, tags in by_channel.values():
            await ack_all(channel, tags)

    async def release(self, delivery: Delivery) -> None:
        await delivery.handle.nack(requeue=True)

    async def retry(self, delivery: Delivery, *, delay: float, error: str) -> None:
        job = delivery.job
        again = job.but(attempt=job.attempt + 1, last_error=error)
        tier = min(job.attempt, RETRY_TIERS)
        await self._publish([again], self._retry_queue(tier), expiration=max(delay, 0.001))
        await delivery.handle.ack()

    async def dead(self, delivery: Delivery, *, error: str) -> None:
        await self._publish_dead(delivery.job.but(last_error=error))
        await delivery.handle.ack()

    async def _publish_dead(self, job: Job) -> None:
        await self._publish([job], self.queue, exchange=self.dlx)

    async def depth(self) -> QueueDepth:
        # The underlying channel: aio-pika's robust one answers a passive declare of a queue
        # it declared before from its cache, with the count of that time.
        channel = await (await self._channel()).get_underlay_channel()

        async def count(name: str) -> int:
            result = await channel.queue_declare(name, passive=True)
            return int(result.message_count or 0)

        delayed = [await count(self._retry_queue(t)) for t in range(1, RETRY_TIERS + 1)]
        return QueueDepth(
            ready=await count(self.queue), delayed=sum(delayed), dead=await count(self.dead_queue)
        )

    async def _browse_dead(self, settle: Any) -> list[Job]:
        """Take the dead-letter queue's messages one by one on a channel of their own, let
        `settle(job, message)` act on each, and return those it left alone when the channel
        closes (unacked messages go back)."""
        await self._channel()
        assert self._connection is not None
        seen: list[Job] = []
        async with self._connection.channel() as channel:
            queue = await channel.get_queue(self.dead_queue, ensure=False)
            while (message := await queue.get(no_ack=False, fail=False)) is not None:
                job = Job.decode(message.body)
                if job.last_error is None:  # dead-lettered by the queue's delivery limit
                    job = job.but(last_error=UNSETTLED_TOO_OFTEN)
                if not await settle(job, message):
                    seen.append(job)
        return seen

    async def dead_jobs(self, limit: int = 100) -> list[Job]:
        async def keep(job: Job, message: AbstractIncomingMessage) -> bool:
            return False

        jobs = sorted(await self._browse_dead(keep), key=lambda j: (j.created_at, j.id))
        return jobs[:limit]

    async def retry_dead(self, ids: Sequence[str] | None = None) -> int:
        wanted = None if ids is None else set(ids)
        moved = 0

        async def requeue(job: Job, message: AbstractIncomingMessage) -> bool:
            nonlocal moved
            if wanted is not None and job.id not in wanted:
                return False
            await self._publish([job.but(attempt=1)], self.queue)
            await message.ack()
            moved += 1
            return True

        await self._browse_dead(requeue)
        return moved

    async def purge_dead(self) -> int:
        channel = await self._channel()
        queue = await channel.get_queue(self.dead_queue, ensure=False)
        result = await queue.purge()
        return int(result.message_count or 0)

    async def teardown(self) -> None:
        if self._consumer is not None:  # stop consuming before the queue goes
            await self._consumer.close()
            self._consumer = None
        channel = await self._channel()
        for tier in range(1, RETRY_TIERS + 1):
            await channel.queue_delete(self._retry_queue(tier))
        await channel.queue_delete(self.queue)
        await channel.queue_delete(self.dead_queue)
        await channel.exchange_delete(self.dlx)

    async def aclose(self) -> None:
        if self._connection is not None:
            await self._connection.close()
        self._connection = self._publisher = self._consumer = None


def _properties(job: Job, expiration: float | None) -> spec.Basic.Properties:
    """A job's message properties: persistent, named by the job's id, carrying the request
    id and trace context that caused it, and for a retry its delay (milliseconds)."""
    return spec.Basic.Properties(
        delivery_mode=2,  # persistent
        message_id=job.id,
        correlation_id=job.correlation_id,
        content_type="application/json",
        message_type=job.kind,
        headers={"traceparent": job.traceparent} if job.traceparent else None,
        expiration=None if expiration is None else str(int(expiration * 1000)),
    )
