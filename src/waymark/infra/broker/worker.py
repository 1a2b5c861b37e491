"""`waymark worker`: runs the outbox's handlers on the jobs a broker delivers.

The handlers are the relay's (`HandlerRegistry`): a feature registers a job once and it
runs in-process or on a broker alike. Each job runs under the request id and trace context
of the request that caused it, within its time limit; a failure is retried with the
outbox's backoff and jitter (`RetryPolicy`) until its attempts run out, then dead-lettered,
as is a `PermanentFailure` at once.

Idempotency: a job's id is its key in `processed_jobs`. A transactional handler writes it
in its own transaction, first (so a concurrent second delivery waits on it and then finds
it), and a redelivered job whose key is there is acked without running. A non-transactional
handler's key is written after it returned: a crash in between runs it again, which its
own idempotency (keyed on the job id) absorbs.

Shutdown: `stop` stops receiving; running jobs get `shutdown_grace` seconds to finish, and
those still running are cancelled and released back to the broker. A worker killed outright
settles nothing, and the broker redelivers what it held.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.infra.broker.metrics import JobMetrics
from waymark.infra.broker.tables import processed_jobs
from waymark.infra.outbox import HandlerRegistry, OutboxMessage, PermanentFailure, RetryPolicy
from waymark.infra.outbox.outbox import Registration
from waymark.infra.outbox.relay import describe_failure
from waymark.infra.sql.database import Database
from waymark.kernel.broker import Broker, Delivery, Job
from waymark.kernel.clock import utcnow
from waymark.kernel.context import request_context

log = structlog.get_logger(__name__)

ACKED, RETRIED, DEAD, DUPLICATE, RELEASED = "acked", "retried", "dead", "duplicate", "released"
UNSETTLED = "unsettled"
"""The job ran (or failed) but telling the broker so failed: it will come again."""


class AlreadyProcessed(Exception):
    """The job's key is in `processed_jobs`: another delivery ran it."""


class Worker:
    def __init__(
        self,
        broker: Broker,
        handlers: HandlerRegistry,
        db: Database,
        *,
        policy: RetryPolicy | None = None,
        time_limit: float = 30.0,
        concurrency: int = 32,
        shutdown_grace: float = 20.0,
        metrics: JobMetrics | None = None,
        rand: Callable[[], float] | None = None,
    ) -> None:
        self.broker = broker
        self.handlers = handlers
        self.db = db
        self.policy = policy or RetryPolicy()
        self.time_limit = time_limit
        self.concurrency = concurrency
        self.shutdown_grace = shutdown_grace
        self.metrics = metrics
        # Jitter spreads retries; it protects nothing, so a non-cryptographic PRNG is right.
        self._rand = rand or random.Random().random  # noqa: S311

    async def run(self, stop: asyncio.Event, *, poll: float = 1.0) -> None:
        """Receive and run jobs, `concurrency` at a time, until `stop` is set."""
        running: set[asyncio.Task[str]] = set()
        free = asyncio.Semaphore(self.concurrency)
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                await free.acquire()
                free.release()
                slots = self.concurrency - len(running)
                receiving = asyncio.ensure_future(self.broker.receive(slots, wait=poll))
                await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not receiving.done():
                    receiving.cancel()
                    await asyncio.gather(receiving, return_exceptions=True)
                    break
                try:
                    deliveries = receiving.result()
                except Exception:
                    log.exception("jobs.receive_failed")
                    await asyncio.sleep(poll)
                    continue
                for delivery in deliveries:
                    await free.acquire()
                    task = asyncio.create_task(self.process(delivery))
                    running.add(task)
                    task.add_done_callback(running.discard)
                    task.add_done_callback(lambda _: free.release())
        finally:
            stopping.cancel()
            await self._drain(running)

    async def _drain(self, running: set[asyncio.Task[str]]) -> None:
        if not running:
            return
        log.info("jobs.shutdown", running=len(running), grace_seconds=self.shutdown_grace)
        _, late = await asyncio.wait(set(running), timeout=self.shutdown_grace)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    async def process(self, delivery: Delivery) -> str:
        """Run one delivered job and settle it; returns how it was settled."""
        job = delivery.job
        started = time.time()
        with (
            request_context(job.correlation_id, job.traceparent),
            structlog.contextvars.bound_contextvars(
                job_id=job.id, job_kind=job.kind, attempt=job.attempt
            ),
        ):
            if self.metrics is not None:
                self.metrics.started(job, now=started)
            try:
                outcome = await self._run(delivery)
            except asyncio.CancelledError:
                # Stopping: the job goes back to the broker as it was (shielded, so the
                # release itself is not cancelled with us).
                await asyncio.shield(self.broker.release(delivery))
                log.info("jobs.released")
                if self.metrics is not None:
                    self.metrics.settled(job, RELEASED, time.time() - started)
                raise
            except Exception:
                # Settling failed (the broker connection dropped): the broker delivers the job
                # again, and its processed key keeps its effect from happening twice.
                log.exception("jobs.settle_failed")
                outcome = UNSETTLED
            if self.metrics is not None:
                self.metrics.settled(job, outcome, time.time() - started)
            return outcome

    async def _run(self, delivery: Delivery) -> str:
        job = delivery.job
        registration = self.handlers.get(job.kind)
        if registration is None:
            error = f"no handler for {job.kind!r} in this worker"
            await self.broker.dead(delivery, error=error)
            log.error("jobs.dead", error=error)
            return DEAD
        try:
            async with asyncio.timeout(registration.time_limit or self.time_limit):
                await self._execute(job, registration)
        except AlreadyProcessed:
            await self.broker.ack(delivery)
            log.info("jobs.duplicate_skipped")
            return DUPLICATE
        except Exception as exc:
            return await self._failed(delivery, registration, exc)
        await self.broker.ack(delivery)
        log.debug("jobs.done")
        return ACKED

    async def _execute(self, job: Job, registration: Registration) -> None:
        message = OutboxMessage(
            id=job.id,
            kind=job.kind,
            payload=job.payload,
            attempt=job.attempt,
            correlation_id=job.correlation_id,
            created_at=datetime.fromtimestamp(job.created_at, UTC),
            traceparent=job.traceparent,
        )
        if registration.transactional:
            async with self.db.transaction() as conn:
                if not await _claim_key(conn, job):
                    raise AlreadyProcessed
                await registration.handler(message, conn)  # type: ignore[call-arg]
            return
        async with self.db.read() as conn:
            done = await conn.scalar(
                select(processed_jobs.c.id).where(processed_jobs.c.id == job.id)
            )
        if done is not None:
            raise AlreadyProcessed
        await registration.handler(message)  # type: ignore[call-arg]
        async with self.db.transaction() as conn:
            await _claim_key(conn, job)

    async def _failed(self, delivery: Delivery, registration: Registration, exc: Exception) -> str:
        job = delivery.job
        error = describe_failure(exc)
        attempts = registration.max_attempts or self.policy.max_attempts
        if isinstance(exc, PermanentFailure) or job.attempt >= attempts:
            await self.broker.dead(delivery, error=error)
            log.error("jobs.dead", error=error, permanent=isinstance(exc, PermanentFailure))
            return DEAD
        delay = self.policy.delay(job.attempt, self._rand())
        await self.broker.retry(delivery, delay=delay, error=error)
        log.warning("jobs.retry_scheduled", error=error, delay_seconds=round(delay, 3))
        return RETRIED


async def _claim_key(conn: AsyncConnection, job: Job) -> bool:
    """Record `job` as processed in `conn`'s transaction; False if it already was."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(processed_jobs)
        .values(id=job.id, kind=job.kind, processed_at=utcnow())
        .on_conflict_do_nothing(index_elements=[processed_jobs.c.id])
    )
    return (await conn.execute(statement)).rowcount == 1


class PruneProcessedKeys:
    """A maintenance job: deletes processed-job keys older than `retention` (longer than a
    broker could hold a job and deliver it again)."""

    def __init__(self, db: Database, *, retention: timedelta) -> None:
        self.db = db
        self.retention = retention

    async def __call__(self, now: datetime) -> int:
        async with self.db.transaction() as conn:
            result = await conn.execute(
                delete(processed_jobs).where(processed_jobs.c.processed_at < now - self.retention)
            )
        return result.rowcount
