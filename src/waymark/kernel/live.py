"""The live-channels port: fan-out of events to every process, with a bounded replay log per
channel, and the subscription a stream (SSE, later WebSocket) reads. Like `kernel/ports.py`,
the semantics every adapter keeps; one contract suite holds the adapters to them
(`tests/contract/test_live_channels.py`)."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, Protocol

import msgspec

# -- Live channels -------------------------------------------------------------------------


class LiveEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One event on a live channel (`user:{id}`, `team:{id}`), as published and delivered."""

    channel: str
    id: str
    """Opaque; strictly increasing per channel (ordered by the adapter, not as text)."""
    kind: str
    data: Any
    """JSON-able: what `publish` was given."""


RESYNC = "live.resync"
"""The kind of the event a subscription delivers (with its `data` `{}`, its `id` the
channel's newest) when it cannot give every event after the point asked for: the id is
unknown or the channel's replay log no longer reaches back to it. The consumer refetches
what it shows from the API, then carries on from here."""


class CloseReason(enum.StrEnum):
    """Why a subscription ended (`LiveSubscription.closed_reason`)."""

    CLOSED = "closed"
    """Its consumer closed it."""
    SLOW_CONSUMER = "slow-consumer"
    """Its bounded queue was full: the consumer did not keep up, and was cut off."""
    SHUTDOWN = "shutdown"
    """The process is stopping."""


class LiveSubscription(Protocol):
    """One consumer's view of some channels (an SSE stream, later a WebSocket).

    Async-iterate it for events: per channel each once, in order; iteration ends when it is
    closed (`closed_reason` says why). Its queue is bounded: a consumer that falls that far
    behind is cut off (`SLOW_CONSUMER`), never buffered without bound. Channels may be added
    and removed at any time; `aclose()` releases everything at once."""

    @property
    def channels(self) -> frozenset[str]: ...

    @property
    def closed_reason(self) -> CloseReason | None: ...

    async def add(self, channel: str, *, after: str | None = None) -> str:
        """Follow `channel`: with `after`, every event after that id first (or one `RESYNC`
        event if they cannot all be given), then live ones; without, from now. Returns the
        id the channel is followed from (its newest when added; `""` for an empty one)."""
        ...

    async def remove(self, channel: str) -> None:
        """Stop following `channel`; nothing of it is delivered after this returns."""
        ...

    async def next(self, within: float) -> LiveEvent | None:
        """The next event; None if none comes within `within` seconds (or by an earlier
        deadline a previous call set and that has not passed: never later than asked);
        raises `StopAsyncIteration` once closed."""
        ...

    def direct(self, sink: Callable[[LiveEvent], bool] | None) -> None:
        """Offer live events to `sink` as they arrive, while the consumer waits in `next`
        with nothing queued: it takes one (True: the consumer will not see it) or leaves it
        to the queue (False: the consumer gets it from `next`, in order). None: every event
        queued. A consumer that writes what it can at once saves waking its task per event
        (a fan-out's largest cost); what it leaves, busy or slow, keeps the bounded queue.
        `sink` must not raise, nor await."""
        ...

    def __aiter__(self) -> LiveSubscription: ...

    async def __anext__(self) -> LiveEvent: ...

    async def aclose(self, reason: CloseReason = CloseReason.CLOSED) -> None: ...


class LiveChannels(Protocol):
    """Fan-out of live events to every process, with a bounded replay log per channel.

    In-process and an SQL table when embedded, Redis streams and pub/sub in production; one
    contract suite (`tests/contract/test_live_channels.py`) holds both to these rules."""

    async def publish(self, channel: str, kind: str, data: Any, *, dedupe_key: str) -> str:
        """Append to the channel's replay log and deliver to its subscribers in every process;
        returns the event's id. Idempotent on (`channel`, `dedupe_key`): publishing again
        (an outbox handler's retry: use the message id) returns the first id and delivers
        nothing."""
        ...

    async def published(self, channel: str, dedupe_key: str) -> bool:
        """Whether an event was published on `channel` under `dedupe_key` (and is still
        remembered: while it is in the replay log, or for a week, whichever is longer in the
        adapter). Publishers that must keep an order check their predecessor with it."""
        ...

    async def replay(self, channel: str, after: str) -> list[LiveEvent] | None:
        """The channel's events after id `after` (`""`: from its start), oldest first; None
        when they cannot all be given (the log was trimmed past it, or the id is unknown)."""
        ...

    def subscribe(self, *, queue_size: int | None = None) -> LiveSubscription:
        """A new subscription following no channel yet (no I/O)."""
        ...

    async def aclose(self) -> None:
        """Close every subscription (`SHUTDOWN`) and release connections and tasks."""
        ...


# -- Live tickets --------------------------------------------------------------------------


class LiveTicket(msgspec.Struct, frozen=True, kw_only=True):
    """What a WebSocket ticket stands for: an account, from when, until when (Unix seconds).
    The store keeps it under the ticket's hash, never the ticket itself."""

    account_id: str
    issued_at: float
    expires_at: float


class LiveTicketStore(Protocol):
    """Short-lived, single-use tickets that let a WebSocket client (which cannot send a
    header) connect as an account. Shared by every process: Redis in production, an SQL table
    when embedded (`tests/contract/test_live_tickets.py` holds both to these rules)."""

    async def put(self, ticket_hash: str, ticket: LiveTicket) -> None: ...

    async def take(self, ticket_hash: str, *, now: float) -> LiveTicket | None:
        """The ticket, removed in the same step (of two concurrent takes, one gets it);
        None if there is none, or it expired before `now` (removed all the same)."""
        ...
