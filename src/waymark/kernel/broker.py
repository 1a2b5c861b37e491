"""The broker port: a durable job queue between the outbox relay and `waymark worker`.

The outbox stays the source of truth: the relay publishes a committed message and marks it
done only once `publish` has returned (the broker confirmed it). From there the broker owns
the job: a worker `receive`s it and then, exactly once per delivery, `ack`s it (done),
`retry`s it (back in line after a delay, its `attempt` one higher), sends it to the
dead-letter queue with `dead`, or `release`s it (back in line at once, same attempt: a
worker shutting down). A delivery a worker never settles (it was killed) comes back by
itself, with the same attempt, once the adapter's visibility timeout has passed (RabbitMQ:
at once, when the connection drops). Delivery is at least once: a job can run twice, so
workers key side effects on `Job.id`.

One contract suite holds every adapter (RabbitMQ, Redis, SQS) to these rules
(`tests/contract/test_broker.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import msgspec


class Job(msgspec.Struct, frozen=True, kw_only=True):
    """One job as it travels through the broker (the body of a broker message, as JSON)."""

    id: str
    """The outbox message's id: stable across retries and redeliveries (the idempotency key)."""
    kind: str
    payload: str
    """The JSON the outbox message was enqueued with."""
    correlation_id: str | None = None
    """The request id of the request that caused it."""
    traceparent: str | None = None
    """The W3C trace context of that request, when it came with one."""
    created_at: float
    """Unix seconds: when the outbox message was written (its transaction's time)."""
    attempt: int = 1
    """1 on the first run, 2 on the first retry, ... (a redelivery after a crash keeps it)."""
    last_error: str | None = None
    """Why the previous attempt failed (set by `retry` and `dead`)."""

    def encode(self) -> bytes:
        return msgspec.json.encode(self)

    @staticmethod
    def decode(body: bytes | str) -> Job:
        return msgspec.json.decode(body, type=Job)

    def but(self, **changes: Any) -> Job:
        """A copy with `changes` (the next attempt, an error)."""
        return msgspec.structs.replace(self, **changes)


UNSETTLED_TOO_OFTEN = "delivered too many times without being settled (does it kill its workers?)"
"""The `last_error` of a job the broker itself dead-lettered at its delivery limit."""


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    """A job handed to one worker; settle it once with ack, retry, dead or release."""

    job: Job
    handle: Any
    """The adapter's own token for this delivery (a delivery tag, a stream entry, a receipt)."""


class QueueDepth(msgspec.Struct, frozen=True, kw_only=True):
    ready: int
    """Jobs waiting for a worker now."""
    delayed: int
    """Jobs waiting out a retry's backoff."""
    dead: int
    """Jobs in the dead-letter queue."""


class Broker(Protocol):
    async def publish(self, jobs: Sequence[Job]) -> None:
        """Enqueue `jobs`, returning once the broker has them durably (publisher confirms);
        raises if it cannot say so (then some may have been enqueued: the caller publishes
        them again, and workers dedupe on `Job.id`)."""
        ...

    async def receive(self, limit: int, *, wait: float) -> list[Delivery]:
        """Up to `limit` jobs, waiting at most `wait` seconds for the first one."""
        ...

    async def ack(self, delivery: Delivery) -> None:
        """The job is done: it is never delivered again."""
        ...

    async def ack_all(self, deliveries: Sequence[Delivery]) -> None:
        """`ack` each of `deliveries` (jobs that committed together), in as few writes as the
        broker allows. Each still names its own delivery, never "this one and every one
        before it" (AMQP's `multiple`), which would ack jobs of a batch not yet committed."""
        ...

    async def retry(self, delivery: Delivery, *, delay: float, error: str) -> None:
        """Back in line after `delay` seconds, with `attempt + 1` and `last_error=error`."""
        ...

    async def release(self, delivery: Delivery) -> None:
        """Back in line now, attempt unchanged (the worker is stopping before running it)."""
        ...

    async def dead(self, delivery: Delivery, *, error: str) -> None:
        """Into the dead-letter queue, with `last_error=error`."""
        ...

    async def depth(self) -> QueueDepth: ...

    async def dead_jobs(self, limit: int = 100) -> list[Job]:
        """The dead-letter queue's jobs (up to `limit`), oldest first, left in place. A job
        the broker dead-lettered itself (delivered `delivery_limit` times, never settled)
        has `last_error=UNSETTLED_TOO_OFTEN`."""
        ...

    async def retry_dead(self, ids: Sequence[str] | None = None) -> int:
        """Move dead jobs (those of `ids`, or all) back in line with attempt 1; how many."""
        ...

    async def purge_dead(self) -> int:
        """Delete every dead job; how many."""
        ...

    async def setup(self) -> None:
        """Declare the queues (idempotent); publish and receive call it on first use."""
        ...

    async def teardown(self) -> None:
        """Delete the queues and everything in them (tests, and `waymark jobs` never)."""
        ...

    async def aclose(self) -> None: ...
