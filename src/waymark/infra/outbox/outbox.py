"""Writing to the outbox, inside the caller's transaction, and the handlers that consume it.

The edge that owns the transaction calls `Outbox.enqueue(conn, ...)` next to the change that
causes the message; if the transaction rolls back, the message never existed. Once it commits,
the relays of this process are woken (`after_commit`), so they start at once instead of at
their next poll, whichever way the transaction was opened.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import msgspec
from sqlalchemy import ColumnElement, Select, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.infra.outbox.tables import DEAD, DONE, PENDING, STATES, outbox
from waymark.infra.sql.database import after_commit
from waymark.kernel.clock import utcnow
from waymark.kernel.context import current_request_id, current_traceparent

T = TypeVar("T")

MAX_PAYLOAD_BYTES = 256 * 1024
MAX_KIND_LENGTH = 64
MAX_DEDUPE_KEY_LENGTH = 200
MAX_CORRELATION_ID_LENGTH = 128
SUBSCRIBER_SEPARATOR = ">"
"""A subscriber's messages are of kind `event>subscriber`."""


INSERT_MESSAGE = insert(outbox)
"""One statement for every message written without a dedupe key: its values are bound
parameters, so SQLAlchemy compiles it once (a `.values(...)` per call was a new statement
to build and look up each time)."""


class OutboxMessage(msgspec.Struct, frozen=True, kw_only=True):
    """One claimed message, as a handler sees it."""

    id: str
    """Stable across retries: the key a handler makes its effect idempotent with."""
    kind: str
    payload: str
    """The JSON the message was enqueued with; `decode()` turns it into a type."""
    attempt: int
    """1 on the first delivery, 2 on the first retry, ..."""
    correlation_id: str | None
    created_at: datetime
    traceparent: str | None = None
    """The W3C trace context of the request that caused it, if it came with one."""

    def decode(self, type_: type[T]) -> T:
        """The payload validated as `type_` (a msgspec Struct, dict, ...)."""
        return msgspec.json.decode(self.payload, type=type_)


Handler = Callable[[OutboxMessage], Awaitable[None]]
"""Delivers one message or raises. It may run more than once for the same message (a relay
that dies after the handler succeeded but before the row was marked done), so it must be
idempotent, keyed on `message.id`."""


TransactionalHandler = Callable[[OutboxMessage, AsyncConnection], Awaitable[None]]
"""Does its work on the given connection, in the transaction that also marks the message
done: its database effects happen exactly once, so it need not be idempotent. Must not do
anything outside the database that a rollback cannot undo (send mail through the outbox)."""


class PermanentFailure(Exception):
    """Raised by a handler when retrying cannot help: the message goes straight to `dead`."""


class Registration(msgspec.Struct, frozen=True):
    handler: Handler | TransactionalHandler
    redact_on_done: bool
    transactional: bool = False
    max_attempts: int | None = None
    """This kind's attempts before it is dead, on a broker (None: the worker's default)."""
    time_limit: float | None = None
    """Seconds one run of this kind may take on a broker (None: the worker's default)."""


class HandlerRegistry:
    """Which handler runs each kind of message. A relay claims only the kinds registered here,
    so processes with different registries can share one outbox table."""

    def __init__(self) -> None:
        self._handlers: dict[str, Registration] = {}
        self._subscribers: dict[str, list[str]] = {}

    def register(
        self,
        kind: str,
        handler: Handler,
        *,
        redact_on_done: bool = False,
        max_attempts: int | None = None,
        time_limit: float | None = None,
    ) -> None:
        """Route `kind` to `handler`. With `redact_on_done` the payload is erased once the
        message is delivered, for payloads that carry secrets (a reset link); dead messages
        keep theirs for diagnosis. `max_attempts` and `time_limit` override the worker's
        for this kind when jobs run on a broker."""
        self._add(kind, Registration(handler, redact_on_done, False, max_attempts, time_limit))

    def _add(self, kind: str, registration: Registration) -> None:
        _check_kind(kind)
        if kind in self._handlers:
            raise ValueError(f"a handler for {kind!r} is already registered")
        self._handlers[kind] = registration

    def register_transactional(
        self,
        kind: str,
        handler: TransactionalHandler,
        *,
        redact_on_done: bool = False,
        max_attempts: int | None = None,
        time_limit: float | None = None,
    ) -> None:
        """Route `kind` to a handler that works in the relay's transaction (see
        `TransactionalHandler`): its writes and the message's `done` commit together (on a
        broker: its writes and the job's processed key)."""
        self._add(kind, Registration(handler, redact_on_done, True, max_attempts, time_limit))

    def subscribe(
        self,
        event: str,
        subscriber: str,
        handler: Handler | TransactionalHandler,
        *,
        transactional: bool = False,
    ) -> None:
        """Have `handler` receive every domain event `event` that `Outbox.publish` writes
        from now on. Each subscriber gets a message of its own (kind `event>subscriber`),
        with its own attempts, retries and dead letter: one failing consumer never holds up
        or repeats another."""
        kind = f"{event}{SUBSCRIBER_SEPARATOR}{subscriber}"
        self._add(kind, Registration(handler, redact_on_done=False, transactional=transactional))
        self._subscribers.setdefault(event, []).append(kind)

    def subscribers(self, event: str) -> tuple[str, ...]:
        """The message kinds one `event` is written as (one per subscriber)."""
        return tuple(self._subscribers.get(event, ()))

    def get(self, kind: str) -> Registration | None:
        return self._handlers.get(kind)

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(self._handlers)


class Outbox:
    """Enqueues messages on the caller's connection and wakes in-process relays after commit.

    `enqueue` writes one message for its one handler (a job). `publish` writes a domain
    event, one message for each of its subscribers in `handlers`: a feature announces what
    happened without knowing who listens."""

    def __init__(self, handlers: HandlerRegistry | None = None) -> None:
        self._listeners: set[Callable[[], None]] = set()
        self.handlers = handlers or HandlerRegistry()

    async def publish(
        self, conn: AsyncConnection, event: str, payload: msgspec.Struct | Mapping[str, Any]
    ) -> int:
        """Write domain event `event` in the caller's transaction, once per subscriber, in
        one statement; returns how many. (A subscriber added by a later release receives the
        events published from then on.)"""
        kinds = self.handlers.subscribers(event)
        if not kinds:
            return 0
        body = _encoded(payload)
        now = utcnow()
        rows = [_row(kind, body, now=now, available_at=None, correlation_id=None) for kind in kinds]
        after_commit(conn, self.notify)
        await conn.execute(INSERT_MESSAGE, rows)
        return len(kinds)

    async def enqueue(
        self,
        conn: AsyncConnection,
        kind: str,
        payload: msgspec.Struct | Mapping[str, Any],
        *,
        dedupe_key: str | None = None,
        available_at: datetime | None = None,
        correlation_id: str | None = None,
        now: datetime | None = None,
    ) -> str | None:
        """Add a message in the caller's transaction (never commits); return its id.

        With `dedupe_key`, a message already holding that key wins and None is returned; the
        caller's transaction stays usable either way. `correlation_id` defaults to the request
        id bound in the structured-log context, so logs follow the request into its handlers.
        """
        _check_kind(kind)
        if dedupe_key is not None and not 0 < len(dedupe_key) <= MAX_DEDUPE_KEY_LENGTH:
            raise ValueError(f"dedupe_key must be 1 to {MAX_DEDUPE_KEY_LENGTH} characters")
        values = _row(
            kind,
            _encoded(payload),
            now=now or utcnow(),
            available_at=available_at,
            correlation_id=correlation_id,
        )
        after_commit(conn, self.notify)
        if dedupe_key is None:
            await conn.execute(INSERT_MESSAGE, values)
            return str(values["id"])
        values["dedupe_key"] = dedupe_key
        # ON CONFLICT DO NOTHING: a unique violation would abort the caller's transaction on
        # PostgreSQL, and with it the change this message belongs to.
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(outbox)
            .values(values)
            .on_conflict_do_nothing(index_elements=[outbox.c.dedupe_key])
            .returning(outbox.c.id)
        )
        return (await conn.execute(statement)).scalar_one_or_none()

    def notify(self) -> None:
        """Wake the relays of this process; call after the transaction that enqueued commits."""
        for listener in list(self._listeners):
            listener()

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` on every `notify()`; returns the function that unsubscribes it."""
        self._listeners.add(listener)
        return lambda: self._listeners.discard(listener)

    # -- operations ------------------------------------------------------------------------

    @staticmethod
    async def get(conn: AsyncConnection, message_id: str) -> dict[str, Any] | None:
        """One row as a mapping, for operators and tests."""
        row = (await conn.execute(select(outbox).where(outbox.c.id == message_id))).first()
        return dict(row._mapping) if row is not None else None

    @staticmethod
    async def counts(conn: AsyncConnection) -> dict[str, int]:
        """How many messages are in each state."""
        tally = await Outbox.tally(conn)
        return {state: tally.count(state) for state in STATES}

    @staticmethod
    async def tally(
        conn: AsyncConnection, *, states: Iterable[str] = STATES, by_kind: bool = False
    ) -> Tally:
        """Messages in `states` counted per state (and per kind with `by_kind`), with the
        oldest one's creation time, in one grouped query. Leaving `done` out keeps it cheap
        however many delivered messages await pruning: the state index skips them."""
        group = [outbox.c.state, outbox.c.kind] if by_kind else [outbox.c.state]
        rows = await conn.execute(
            select(*group, func.count().label("n"), func.min(outbox.c.created_at).label("oldest"))
            .where(outbox.c.state.in_(list(states)))
            .group_by(*group)
            .order_by(*group)
        )
        return Tally(
            [
                TallyGroup(
                    state=row.state,
                    kind=row.kind if by_kind else None,
                    count=row.n,
                    oldest_created_at=row.oldest,
                )
                for row in rows
            ]
        )

    @staticmethod
    async def retry_dead(conn: AsyncConnection, message_id: str, *, now: datetime) -> bool:
        """Put a dead message back in line with a fresh set of attempts."""
        return await _requeue_dead(conn, now, outbox.c.id == message_id) == 1

    @staticmethod
    async def retry_all_dead(conn: AsyncConnection, *, now: datetime) -> int:
        """Put every dead message back in line; returns how many."""
        return await _requeue_dead(conn, now)

    @staticmethod
    async def prune(
        conn: AsyncConnection, *, done_before: datetime, limit: int | None = None
    ) -> int:
        """Delete delivered messages processed before `done_before`; dead ones stay.

        With `limit`, at most that many, skipping rows another transaction has locked (on
        PostgreSQL), so pruners running at once in several processes take disjoint batches
        instead of waiting on (or deadlocking over) each other's rows.
        """
        old = (outbox.c.state == DONE, outbox.c.processed_at < done_before)
        if limit is None:
            result = await conn.execute(delete(outbox).where(*old))
            return result.rowcount
        batch = select(outbox.c.id).where(*old).limit(limit).with_for_update(skip_locked=True)
        result = await conn.execute(
            delete(outbox).where(outbox.c.id.in_(selected_once(conn, batch, name="prune_batch")))
        )
        return result.rowcount


class TallyGroup(msgspec.Struct, frozen=True, kw_only=True):
    state: str
    kind: str | None
    """None unless the tally was taken `by_kind`."""
    count: int
    oldest_created_at: datetime


class Tally(msgspec.Struct, frozen=True):
    """What `Outbox.tally` found: a group per state (and kind) that has messages."""

    groups: list[TallyGroup]

    def count(self, state: str, kind: str | None = None) -> int:
        return sum(g.count for g in self.groups if g.state == state and kind in (None, g.kind))

    def oldest(self, state: str) -> datetime | None:
        """When the oldest message in `state` was created; None if there is none."""
        return min((g.oldest_created_at for g in self.groups if g.state == state), default=None)

    @property
    def kinds(self) -> list[str]:
        return sorted({g.kind for g in self.groups if g.kind is not None})


async def _requeue_dead(conn: AsyncConnection, now: datetime, *where: ColumnElement[bool]) -> int:
    result = await conn.execute(
        update(outbox)
        .where(outbox.c.state == DEAD, *where)
        .values(
            state=PENDING,
            attempts=0,
            available_at=now,
            locked_until=None,
            locked_by=None,
            processed_at=None,
        )
    )
    return result.rowcount


def selected_once(conn: AsyncConnection, batch: Select[Any], *, name: str) -> Select[Any]:
    """What `batch` (one column, with LIMIT and FOR UPDATE SKIP LOCKED) selects, for an
    `IN (...)` in an UPDATE or DELETE, evaluated once.

    On PostgreSQL as a CTE: the planner may run `id IN (SELECT ... LIMIT n FOR UPDATE)` as a
    nested loop that re-runs the subquery for each row, each run skipping the rows this
    statement already changed and locking n more (a test saw LIMIT 2 delete 5). SQLite runs
    such a subquery once, and reports no row count for a statement that starts with WITH.
    """
    if conn.dialect.name == "postgresql":
        cte = batch.cte(name)
        return select(*cte.c)
    return batch


def new_message_id(now: datetime) -> str:
    """A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits."""
    millis = int(now.timestamp() * 1000) & ((1 << 48) - 1)
    rand = int.from_bytes(os.urandom(10), "big")
    value = (
        (millis << 80)
        | (0x7 << 76)
        | (((rand >> 62) & 0xFFF) << 64)
        | (0b10 << 62)
        | (rand & ((1 << 62) - 1))
    )
    return str(uuid.UUID(int=value))


def _check_kind(kind: str) -> None:
    if not 0 < len(kind) <= MAX_KIND_LENGTH:
        raise ValueError(f"outbox kind must be 1 to {MAX_KIND_LENGTH} characters")


def _encoded(payload: msgspec.Struct | Mapping[str, Any]) -> str:
    body = msgspec.json.encode(payload)
    if len(body) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"outbox payload of {len(body)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    return body.decode()


def _row(
    kind: str,
    body: str,
    *,
    now: datetime,
    available_at: datetime | None,
    correlation_id: str | None,
) -> dict[str, Any]:
    """A new message's columns (`dedupe_key` and the lease's keep their defaults)."""
    traceparent = None
    if correlation_id is None:
        correlation_id, traceparent = current_request_id(), current_traceparent()
    return {
        "id": new_message_id(now),
        "kind": kind,
        "payload": body,
        "correlation_id": correlation_id[:MAX_CORRELATION_ID_LENGTH] if correlation_id else None,
        "traceparent": traceparent,
        "state": PENDING,
        "attempts": 0,
        "created_at": now,
        "available_at": available_at or now,
    }
