"""The relay: claims due outbox messages with a lease, runs their handlers, records the outcome.

Claiming is one short write transaction: on PostgreSQL `FOR UPDATE SKIP LOCKED` lets relays
claim disjoint batches side by side; on SQLite the transaction starts with `BEGIN IMMEDIATE`
(see `Database.transaction`), so claims queue behind one another and the conditional update
sees the rows the previous claim took. Handlers run after that transaction has committed,
holding no database lock. The batch's deliveries are then marked done together, in one
small transaction (a transaction per message cost the relay a pooled connection per
message, and under load it fell behind the requests it follows); failures, and handlers
that work in a transaction of their own, record theirs one by one.

A relay that dies leaves its rows leased; once `locked_until` passes another relay claims them
again. A row whose lease ran out on its last allowed attempt (the handler crashed the process,
or hung) is dead-lettered instead of looping forever.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Self

import msgspec
import structlog
from sqlalchemy import case, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Update

from waymark.infra.outbox.outbox import (
    HandlerRegistry,
    Outbox,
    OutboxMessage,
    PermanentFailure,
    Registration,
    selected_once,
)
from waymark.infra.outbox.tables import DEAD, DONE, PENDING, outbox
from waymark.infra.sql.database import Database
from waymark.kernel.clock import utcnow
from waymark.kernel.context import request_context
from waymark.settings import OutboxSettings

log = structlog.get_logger(__name__)

MAX_ERROR_LENGTH = 2000
REDACTED_PAYLOAD = '{"redacted":true}'
DELIVERED = "delivered"
"""A handler's outcome before its row is marked done (with the rest of its batch)."""


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Exponential backoff with jitter: attempt n waits about `base * 2**(n-1)`, capped.

    Jitter takes up to `jitter` (a fraction) off each delay, so retries of messages that failed
    together spread out, while every delay still stays below the cap and above the previous one.
    """

    base: float = 5.0
    cap: float = 3600.0
    max_attempts: int = 12
    jitter: float = 0.25

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap < self.base:
            raise ValueError("backoff needs 0 < base <= cap")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")

    def delay(self, attempt: int, rand: float) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based); `rand` in [0, 1)."""
        ceiling = min(self.cap, self.base * 2.0 ** min(attempt - 1, 62))
        return ceiling * (1.0 - self.jitter * rand)


class RelayReport(msgspec.Struct, kw_only=True):
    """What one `run_once` did."""

    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    expired: int = 0
    """Messages dead-lettered because their lease ran out on the last attempt."""


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        handlers: HandlerRegistry,
        *,
        outbox: Outbox | None = None,
        policy: RetryPolicy | None = None,
        batch_size: int = 20,
        lease: float = 60.0,
        handler_timeout: float = 30.0,
        relay_id: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        rand: Callable[[], float] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if not 0 < handler_timeout < lease:
            raise ValueError("handler_timeout must be positive and shorter than the lease")
        self.db = db
        self.handlers = handlers
        self.outbox = outbox
        self.policy = policy or RetryPolicy()
        self.batch_size = batch_size
        self.lease = lease
        self.handler_timeout = handler_timeout
        self.relay_id = (relay_id or _default_relay_id())[:64]
        self._clock = clock
        # Jitter spreads retries; it protects nothing, so a non-cryptographic PRNG is right.
        self._rand = rand or random.Random().random  # noqa: S311
        self._wakeups: set[asyncio.Event] = set()

    @classmethod
    def from_settings(
        cls,
        db: Database,
        handlers: HandlerRegistry,
        settings: OutboxSettings,
        *,
        outbox: Outbox | None = None,
        **options: Any,
    ) -> Self:
        return cls(
            db,
            handlers,
            outbox=outbox,
            **options,
            policy=RetryPolicy(
                base=settings.backoff_base,
                cap=settings.backoff_cap,
                max_attempts=settings.max_attempts,
                jitter=settings.backoff_jitter,
            ),
            batch_size=settings.batch_size,
            lease=settings.lease_seconds,
            handler_timeout=settings.handler_timeout,
        )

    def notify(self) -> None:
        """Wake `run_forever` now instead of at its next poll."""
        for wakeup in self._wakeups:
            wakeup.set()

    async def run_once(self, now: datetime | None = None) -> RelayReport:
        """Claim one batch of due messages, run them, record the outcomes.

        `now` fixes the clock for the whole run (tests drive time with it); by default each
        step reads the relay's clock.
        """
        clock: Callable[[], datetime] = (lambda: now) if now is not None else self._clock
        report = RelayReport()
        kinds = self.handlers.kinds
        if not kinds:
            return report
        messages, report.expired = await self._claim(kinds, clock())
        report.claimed = len(messages)
        outcomes = await self._handle(messages, clock)
        delivered = [
            message
            for message, outcome in zip(messages, outcomes, strict=True)
            if outcome == DELIVERED
        ]
        if delivered:
            try:
                await self._done(delivered, clock())
            except Exception as exc:
                outcomes = [exc if o == DELIVERED else o for o in outcomes]
        for message, outcome in zip(messages, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                # The outcome could not be written; the lease runs out and the row comes back.
                log.error("outbox.outcome_not_recorded", outbox_id=message.id, exc_info=outcome)
            elif outcome in (DONE, DELIVERED):
                report.delivered += 1
            elif outcome == DEAD:
                report.dead += 1
            else:
                report.retried += 1
        return report

    async def run_forever(self, stop: asyncio.Event, poll_interval: float = 1.0) -> None:
        """Relay until `stop` is set: at once after a full batch or a `notify()`, otherwise
        every `poll_interval` seconds. The batch in hand is finished before returning."""
        wakeup = asyncio.Event()
        self._wakeups.add(wakeup)
        unsubscribe = self.outbox.subscribe(wakeup.set) if self.outbox is not None else None
        try:
            while not stop.is_set():
                wakeup.clear()
                try:
                    report = await self.run_once()
                except Exception:
                    log.exception("outbox.relay_failed", relay=self.relay_id)
                    report = RelayReport()
                if report.claimed >= self.batch_size:
                    continue
                await _wait_any(stop, wakeup, seconds=poll_interval)
        finally:
            self._wakeups.discard(wakeup)
            if unsubscribe is not None:
                unsubscribe()

    # -- steps -----------------------------------------------------------------------------

    async def _handle(
        self, messages: list[OutboxMessage], clock: Callable[[], datetime]
    ) -> list[Any]:
        """Each message's outcome (DELIVERED, DONE, PENDING, DEAD) or the exception that kept
        it from being recorded. Here: each handler run in this process."""
        return await asyncio.gather(
            *(self._deliver(m, clock) for m in messages), return_exceptions=True
        )

    async def _claim(self, kinds: frozenset[str], now: datetime) -> tuple[list[OutboxMessage], int]:
        lease_over = or_(outbox.c.locked_until.is_(None), outbox.c.locked_until <= now)
        due = (
            outbox.c.state == PENDING,
            outbox.c.available_at <= now,
            lease_over,
            outbox.c.kind.in_(sorted(kinds)),
        )
        async with self.db.transaction() as conn:
            expired = await self._dead_letter_expired(conn, kinds, now)
            batch = (
                select(outbox.c.id)
                .where(*due, outbox.c.attempts < self.policy.max_attempts)
                .order_by(outbox.c.available_at, outbox.c.id)
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            )
            rows = (
                await conn.execute(
                    update(outbox)
                    # The due conditions again: on SQLite this update is the whole claim.
                    .where(outbox.c.id.in_(selected_once(conn, batch, name="claim_batch")), *due)
                    .values(
                        attempts=outbox.c.attempts + 1,
                        locked_until=now + timedelta(seconds=self.lease),
                        locked_by=self.relay_id,
                        last_error=case(
                            (
                                outbox.c.locked_by.is_not(None),
                                literal("lease of ") + outbox.c.locked_by + " ran out",
                            ),
                            else_=outbox.c.last_error,
                        ),
                    )
                    .returning(
                        outbox.c.id,
                        outbox.c.kind,
                        outbox.c.payload,
                        outbox.c.attempts,
                        outbox.c.correlation_id,
                        outbox.c.created_at,
                        outbox.c.traceparent,
                    )
                )
            ).all()
        messages = [
            OutboxMessage(
                id=row.id,
                kind=row.kind,
                payload=row.payload,
                attempt=row.attempts,
                correlation_id=row.correlation_id,
                created_at=row.created_at,
                traceparent=row.traceparent,
            )
            for row in rows
        ]
        messages.sort(key=lambda m: m.id)
        return messages, expired

    async def _dead_letter_expired(
        self, conn: AsyncConnection, kinds: frozenset[str], now: datetime
    ) -> int:
        # Rows out of attempts whose lease is over: the relay running the last attempt died
        # (or hung), or max_attempts was lowered since they were tried.
        result = await conn.execute(
            update(outbox)
            .where(
                outbox.c.state == PENDING,
                or_(outbox.c.locked_until.is_(None), outbox.c.locked_until <= now),
                outbox.c.attempts >= self.policy.max_attempts,
                outbox.c.kind.in_(sorted(kinds)),
            )
            .values(
                state=DEAD,
                processed_at=now,
                last_error=case(
                    (
                        outbox.c.locked_by.is_not(None),
                        literal("lease of ")
                        + outbox.c.locked_by
                        + " ran out on the last attempt (process died or handler hung)",
                    ),
                    else_=outbox.c.last_error,
                ),
                locked_until=None,
                locked_by=None,
            )
        )
        if result.rowcount:
            log.error("outbox.lease_expired_dead", count=result.rowcount, relay=self.relay_id)
        return result.rowcount

    async def _deliver(self, message: OutboxMessage, clock: Callable[[], datetime]) -> str:
        """Run `message`'s handler: DELIVERED (its row is marked done with the batch's), or
        the outcome already recorded (DONE by a transactional handler, PENDING, DEAD)."""
        registration = self.handlers.get(message.kind)
        assert registration is not None  # only registered kinds are claimed
        with (
            request_context(message.correlation_id, message.traceparent),
            structlog.contextvars.bound_contextvars(outbox_id=message.id, outbox_kind=message.kind),
        ):
            if registration.transactional:
                return await self._deliver_in_transaction(message, registration, clock)
            try:
                async with asyncio.timeout(self.handler_timeout):
                    await registration.handler(message)  # type: ignore[call-arg]
            except Exception as exc:
                return await self._failed(message, exc, clock())
            log.debug("outbox.delivered", attempt=message.attempt)
            return DELIVERED

    async def _deliver_in_transaction(
        self, message: OutboxMessage, registration: Registration, clock: Callable[[], datetime]
    ) -> str:
        """The handler's writes and `done` in one transaction: both or neither. Fenced on
        the attempt, so if another relay took the message over meanwhile, this one's writes
        roll back and only the new holder's count."""
        try:
            async with asyncio.timeout(self.handler_timeout):
                async with self.db.transaction() as conn:
                    await registration.handler(message, conn)  # type: ignore[call-arg]
                    marked = await conn.execute(
                        _fenced(message).values(
                            _done_values(clock(), redact=registration.redact_on_done)
                        )
                    )
                    if marked.rowcount == 0:
                        raise LeaseLost("another relay holds this message now")
        except Exception as exc:
            return await self._failed(message, exc, clock())
        log.debug("outbox.delivered", attempt=message.attempt, transactional=True)
        return DONE

    async def _done(self, messages: list[OutboxMessage], now: datetime) -> None:
        """Mark delivered `messages` done, in one transaction: one statement for those whose
        payload is kept, one for those erased on delivery. Not fenced on the attempt: once
        delivered, a message is done, whoever holds it."""
        redacted: dict[bool, list[str]] = {}
        for message in messages:
            registration = self.handlers.get(message.kind)
            redact = registration is not None and registration.redact_on_done
            redacted.setdefault(redact, []).append(message.id)
        async with self.db.transaction() as conn:
            for redact, ids in redacted.items():
                await conn.execute(
                    update(outbox)
                    .where(outbox.c.id.in_(ids), outbox.c.state == PENDING)
                    .values(_done_values(now, redact=redact))
                )

    async def _failed(self, message: OutboxMessage, exc: BaseException, now: datetime) -> str:
        error = describe_failure(exc)
        permanent = isinstance(exc, PermanentFailure)
        if permanent or message.attempt >= self.policy.max_attempts:
            state = DEAD
            values: dict[str, Any] = {"state": DEAD, "processed_at": now}
        else:
            state = PENDING
            delay = self.policy.delay(message.attempt, self._rand())
            values = {"available_at": now + timedelta(seconds=delay)}
        values.update(last_error=error, locked_until=None, locked_by=None)
        async with self.db.transaction() as conn:
            # Fenced on the attempt: if our lease ran out and another relay claimed the row,
            # its outcome is the one that counts.
            result = await conn.execute(_fenced(message).values(values))
        if result.rowcount == 0:
            log.warning("outbox.lease_lost", attempt=message.attempt, error=error)
        elif state == DEAD:
            log.error("outbox.dead", attempt=message.attempt, error=error, permanent=permanent)
        else:
            log.warning(
                "outbox.retry_scheduled",
                attempt=message.attempt,
                error=error,
                available_at=values["available_at"].isoformat(),
            )
        return state


class LeaseLost(Exception):
    """A transactional handler's lease ran out and another relay claimed the message."""


def _fenced(message: OutboxMessage) -> Update:
    """An UPDATE of `message`'s row that matches only while this attempt still holds it."""
    return update(outbox).where(
        outbox.c.id == message.id,
        outbox.c.state == PENDING,
        outbox.c.attempts == message.attempt,
    )


def _done_values(now: datetime, *, redact: bool) -> dict[str, Any]:
    values: dict[str, Any] = {
        "state": DONE,
        "processed_at": now,
        "locked_until": None,
        "locked_by": None,
    }
    if redact:
        values["payload"] = REDACTED_PAYLOAD
    return values


async def _wait_any(stop: asyncio.Event, wakeup: asyncio.Event, *, seconds: float) -> None:
    waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wakeup.wait())}
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)


def describe_failure(exc: BaseException) -> str:
    """An exception as the one line kept as a message's (or job's) last error."""
    if isinstance(exc, TimeoutError) and not str(exc):
        return "TimeoutError: the handler ran past its timeout"
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]


def _default_relay_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"
