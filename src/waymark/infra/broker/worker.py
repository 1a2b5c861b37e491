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

Batches: the transactional jobs a worker has in hand at once (up to `batch_size`, and
while it is busy, those that come within `batch_wait` seconds of each other) run in one
transaction, one after the other: their keys claimed in one statement, then each handler, one
commit, and only then their acks, in one write (an ack before the commit could lose a job to
a SIGKILL).
A job whose handler fails rolls the transaction back; it alone is retried or dead-lettered,
as it would have been on its own, and the others (rolled back with it, so nothing of them
was kept) run again in a new transaction. A transaction that fails by itself (a deadlock,
the database gone) blames no job: its jobs run again each alone. A job's effect still
commits with its key or not at all, and a batch of one is exactly a job run alone.

Shutdown: `stop` stops receiving; running jobs get `shutdown_grace` seconds to finish, and
those still running (of a batch, every job not yet acked) are cancelled and released back
to the broker. A worker killed outright settles nothing, and the broker redelivers what it
held.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
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
        batch_size: int = 1,
        batch_wait: float = 0.01,
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
        self.batch_size = batch_size
        self.batch_wait = batch_wait
        self.shutdown_grace = shutdown_grace
        self.metrics = metrics
        # Jitter spreads retries; it protects nothing, so a non-cryptographic PRNG is right.
        self._rand = rand or random.Random().random  # noqa: S311

    async def run(self, stop: asyncio.Event, *, poll: float = 1.0) -> None:
        """Receive and run jobs, `concurrency` at a time, until `stop` is set.

        Transactional jobs wait for one of `concurrency / batch_size` transactions and go
        in together, up to `batch_size` (as a database's group commit does). An idle worker
        (no transaction running) starts a job at once. A busy one starts only full batches,
        and a batch short of `batch_size` once every transaction has ended or its oldest job
        has waited `batch_wait` seconds: without that wait the free transactions took jobs
        as they trickled in, two or three each, and the worker paid a commit for every two
        or three jobs however busy it was. One timer for the worker bounds the wait, not one
        per job."""
        loop = asyncio.get_running_loop()
        running: set[asyncio.Task[None]] = set()
        waiting: list[Delivery] = []  # transactional jobs received, not yet in a batch
        arrived: list[float] = []  # when each of `waiting` came (loop time)
        slots = free = -(-self.concurrency // self.batch_size)  # transactions that may run now
        held = 0  # jobs received and not yet settled
        deadline: asyncio.TimerHandle | None = None  # one for the worker, never one per job
        room = asyncio.Event()
        room.set()

        def start(batch: list[Delivery], *, transaction: bool) -> None:
            task = asyncio.create_task(self.process_batch(batch))
            running.add(task)
            task.add_done_callback(lambda done: finished(done, len(batch), transaction))

        def finished(task: asyncio.Task[None], jobs: int, transaction: bool) -> None:
            nonlocal held, free
            running.discard(task)
            held -= jobs
            room.set()
            if transaction:
                free += 1
                start_waiting()

        def start_waiting() -> None:
            nonlocal free, deadline
            while waiting and free > 0 and not stop.is_set():
                due = arrived[0] + self.batch_wait
                if len(waiting) < self.batch_size and free < slots and loop.time() < due:
                    # Busy and not full: let it fill (a transaction ending calls back here).
                    if deadline is None:
                        deadline = loop.call_at(due, deadline_passed)
                    return
                free -= 1
                batch = waiting[: self.batch_size]
                del waiting[: self.batch_size], arrived[: self.batch_size]
                start(batch, transaction=True)

        def deadline_passed() -> None:
            nonlocal deadline
            deadline = None
            start_waiting()

        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                await room.wait()
                receiving = asyncio.ensure_future(
                    self.broker.receive(self.concurrency - held, wait=poll)
                )
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
                held += len(deliveries)
                now = loop.time()
                for delivery in deliveries:
                    if self._transactional(delivery):
                        waiting.append(delivery)
                        arrived.append(now)
                    else:
                        start([delivery], transaction=False)
                start_waiting()
                if held >= self.concurrency:
                    room.clear()
        finally:
            stopping.cancel()
            if deadline is not None:
                deadline.cancel()
            unstarted = waiting[:]
            waiting.clear()
            arrived.clear()
            for delivery in unstarted:  # back as they were
                with _job_context(delivery.job):
                    await asyncio.shield(self.broker.release(delivery))
                    log.info("jobs.released")
                    if self.metrics is not None:
                        self.metrics.returned(delivery.job)
            await self._drain(running)

    def _transactional(self, delivery: Delivery) -> bool:
        registration = self.handlers.get(delivery.job.kind)
        return registration is not None and registration.transactional

    async def _drain(self, running: set[asyncio.Task[None]]) -> None:
        if not running:
            return
        log.info("jobs.shutdown", running=len(running), grace_seconds=self.shutdown_grace)
        _, late = await asyncio.wait(set(running), timeout=self.shutdown_grace)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    async def process_batch(self, batch: list[Delivery]) -> None:
        """Run and settle transactional jobs in as few transactions as they allow (one, unless
        a job fails); a batch of one is `process`."""
        started = time.time()
        for delivery in batch:
            self._started(delivery.job, started)
        left = list(batch)
        try:
            while len(left) > 1:
                if not await self._together(left, started):
                    break
            while left:  # `_process` releases its own job when cancelled
                await self._process(left.pop(0), started)
        except asyncio.CancelledError:
            # Stopping: what was not settled goes back to the broker as it was.
            for delivery in left:
                with _job_context(delivery.job):
                    await self._release(delivery, started)
            raise

    async def _together(self, left: list[Delivery], started: float) -> bool:
        """Run `left`'s jobs in one transaction and settle those it settles, taking them out
        of `left`: all of them once it commits; only the failed one when a handler fails (the
        rest go again). False, with `left` untouched, when the transaction failed by itself."""
        ran: list[str] = []
        failed: tuple[Delivery, Registration, Exception] | None = None
        try:
            async with self.db.transaction() as conn:
                fresh = await _claim_keys(conn, [d.job for d in left])
                for delivery in left:
                    job = delivery.job
                    if job.id not in fresh:
                        ran.append(DUPLICATE)
                        continue
                    fresh.discard(job.id)  # the same job twice in a batch runs once
                    registration = self.handlers.get(job.kind)
                    assert registration is not None  # batched because it is transactional
                    try:
                        with _job_context(job):
                            async with asyncio.timeout(registration.time_limit or self.time_limit):
                                await registration.handler(_message(job), conn)  # type: ignore[call-arg]
                    except Exception as error:
                        failed = (delivery, registration, error)
                        raise _RolledBack from error
                    ran.append(ACKED)
        except _RolledBack:
            assert failed is not None
            culprit, registration, failure = failed
            left.remove(culprit)
            with _job_context(culprit.job):
                await self._settle(culprit, started, self._failed(culprit, registration, failure))
            return True
        except Exception:
            log.exception("jobs.batch_failed", jobs=len(left))
            return False
        committed = left[:]
        left.clear()  # settled from here on, even if cancelled: never released after an ack
        try:
            await self.broker.ack_all(committed)
        except Exception:
            # As in `_settle`: the broker delivers them again, and their keys skip them.
            log.exception("jobs.settle_failed", jobs=len(committed))
            ran = [UNSETTLED] * len(committed)
        for delivery, outcome in zip(committed, ran, strict=True):
            if outcome == DUPLICATE:
                with _job_context(delivery.job):
                    log.info("jobs.duplicate_skipped")
            self._settled(delivery.job, outcome, started)
        return True

    async def _ack(self, delivery: Delivery, outcome: str) -> str:
        await self.broker.ack(delivery)
        if outcome == DUPLICATE:
            log.info("jobs.duplicate_skipped")
        else:
            log.debug("jobs.done")
        return outcome

    async def _settle(self, delivery: Delivery, started: float, settling: Awaitable[str]) -> str:
        try:
            outcome = await settling
        except Exception:
            # Settling failed (the broker connection dropped): the broker delivers the job
            # again, and its processed key keeps its effect from happening twice.
            log.exception("jobs.settle_failed")
            outcome = UNSETTLED
        self._settled(delivery.job, outcome, started)
        return outcome

    async def _release(self, delivery: Delivery, started: float) -> None:
        """Back to the broker as it was (shielded: a release is not cancelled with the job)."""
        await asyncio.shield(self.broker.release(delivery))
        log.info("jobs.released")
        self._settled(delivery.job, RELEASED, started)

    def _started(self, job: Job, now: float) -> None:
        if self.metrics is not None:
            self.metrics.started(job, now=now)

    def _settled(self, job: Job, outcome: str, started: float) -> None:
        if self.metrics is not None:
            self.metrics.settled(job, outcome, time.time() - started)

    async def process(self, delivery: Delivery) -> str:
        """Run one delivered job and settle it; returns how it was settled."""
        started = time.time()
        self._started(delivery.job, started)
        return await self._process(delivery, started)

    async def _process(self, delivery: Delivery, started: float) -> str:
        with _job_context(delivery.job):
            try:
                return await self._settle(delivery, started, self._run(delivery))
            except asyncio.CancelledError:
                await self._release(delivery, started)  # stopping
                raise

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
            return await self._ack(delivery, DUPLICATE)
        except Exception as exc:
            return await self._failed(delivery, registration, exc)
        return await self._ack(delivery, ACKED)

    async def _execute(self, job: Job, registration: Registration) -> None:
        message = _message(job)
        if registration.transactional:
            async with self.db.transaction() as conn:
                if job.id not in await _claim_keys(conn, [job]):
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
            await _claim_keys(conn, [job])

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


class _RolledBack(Exception):
    """A handler of a batch failed: its transaction is rolled back."""


@contextmanager
def _job_context(job: Job) -> Iterator[None]:
    """The request id and trace context of the request that caused `job`, and the job's own
    fields, for the logs of what runs within."""
    with (
        request_context(job.correlation_id, job.traceparent),
        structlog.contextvars.bound_contextvars(
            job_id=job.id, job_kind=job.kind, attempt=job.attempt
        ),
    ):
        yield


def _message(job: Job) -> OutboxMessage:
    return OutboxMessage(
        id=job.id,
        kind=job.kind,
        payload=job.payload,
        attempt=job.attempt,
        correlation_id=job.correlation_id,
        created_at=datetime.fromtimestamp(job.created_at, UTC),
        traceparent=job.traceparent,
    )


async def _claim_keys(conn: AsyncConnection, jobs: list[Job]) -> set[str]:
    """Record `jobs` as processed in `conn`'s transaction, in one statement; the ids of those
    that were not already. In id order: two transactions claiming keys in common wait on
    each other in the same order, never each on the other."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(processed_jobs)
        .on_conflict_do_nothing(index_elements=[processed_jobs.c.id])
        .returning(processed_jobs.c.id)
    )
    now = utcnow()
    rows = [
        {"id": job.id, "kind": job.kind, "processed_at": now}
        for job in sorted(jobs, key=lambda job: job.id)
    ]
    return set((await conn.execute(statement, rows)).scalars())


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
