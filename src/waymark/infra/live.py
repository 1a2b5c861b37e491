"""What every live-channel adapter shares: the per-process fan-out (`Fanout`), the
subscription with its bounded queue (`Subscription`), and the rule that says whether a
replay log still reaches back to an id (`complete_after`).

An adapter (`infra/sql/live.py`, `infra/redis/live.py`) provides a `LiveBackend`: how its ids
order, its channel's newest id, the events after an id, and how to make sure this process
hears a channel's new events. Everything else is here, written once.

A subscription keeps, per channel, the id of the last event it queued (its cursor) and
queues only newer ones, so an event that arrives twice (the replay and the live feed
overlap while a channel is being added, or after a reconnect) is delivered once. While a
channel is being added (or re-synced after a gap), its live events are held aside and
queued after the replay, so the order holds.

A consumer may take events as they arrive (`Subscription.direct`): while it waits with
nothing queued, each new live event is offered to its sink first, so a stream that can
write at once does it from `Fanout.dispatch`, without its task waking per event; anything
the sink leaves (a busy or slow consumer, a control event) is queued as before.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

import structlog

from waymark.kernel.live import RESYNC, CloseReason, LiveEvent

DEFAULT_QUEUE_SIZE = 256
MAX_CHANNEL_LENGTH = 200
MAX_KIND_LENGTH = 100

Key = tuple[int, ...]

log = structlog.get_logger(__name__)


class LiveBackend(Protocol):
    def order(self, event_id: str) -> Key:
        """`event_id` as something that orders like the channel's ids; ValueError if it is
        not one of this adapter's ids. `""` (the start) orders first."""
        ...

    async def head(self, channel: str) -> str:
        """The channel's newest id, `""` if it has none."""
        ...

    async def replay(self, channel: str, after: str) -> list[LiveEvent] | None: ...

    async def listen(self, channel: str) -> None:
        """From when this returns, the channel's new events reach `Fanout.dispatch`."""
        ...

    async def unlisten(self, channel: str) -> None: ...


def check_publish(channel: str, kind: str) -> None:
    if not channel or len(channel) > MAX_CHANNEL_LENGTH or not channel.isprintable():
        raise ValueError(f"bad live channel {channel!r}")
    if not kind or len(kind) > MAX_KIND_LENGTH or not kind.isprintable() or kind == RESYNC:
        raise ValueError(f"bad live event kind {kind!r}")


def complete_after(
    backend: LiveBackend, after: str, head: str, first_prev: str | None
) -> bool | None:
    """Whether the events after `after` can all be given: `first_prev` is the id before the
    oldest kept event newer than `after` (`""`: none before it), None if there is no such
    event. None: `after` is not an id of this adapter."""
    try:
        mark = backend.order(after)
    except ValueError:
        return None
    if first_prev is None:
        return mark <= backend.order(head)  # an id from the future is unknown here
    return backend.order(first_prev) <= mark  # nothing trimmed between `after` and it


class Fanout:
    """This process's subscribers, per channel; the backend is asked to listen to a channel
    while at least one subscriber follows it (reference-counted)."""

    def __init__(self, backend: LiveBackend) -> None:
        self.backend = backend
        self._subscribers: dict[str, set[Subscription]] = {}
        self._listening: dict[str, asyncio.Future[None]] = {}
        self._all: set[Subscription] = set()

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(self._subscribers)

    def subscribe(self, queue_size: int | None) -> Subscription:
        subscription = Subscription(self, queue_size or DEFAULT_QUEUE_SIZE)
        self._all.add(subscription)
        return subscription

    async def attach(self, channel: str, subscription: Subscription) -> None:
        followers = self._subscribers.setdefault(channel, set())
        followers.add(subscription)
        ready = self._listening.get(channel)
        if ready is None:
            ready = self._listening[channel] = asyncio.ensure_future(self.backend.listen(channel))
        try:
            await asyncio.shield(ready)
        except BaseException:
            await self.detach(channel, subscription)
            raise

    async def detach(self, channel: str, subscription: Subscription) -> None:
        followers = self._subscribers.get(channel)
        if followers is None:
            return
        followers.discard(subscription)
        if not followers:
            del self._subscribers[channel]
            ready = self._listening.pop(channel, None)
            if ready is not None and ready.done() and ready.exception() is None:
                await self.backend.unlisten(channel)

    def dispatch(self, event: LiveEvent) -> None:
        # The id's order is read once here, not by each of the channel's subscribers.
        key = self.backend.order(event.id)
        for subscription in tuple(self._subscribers.get(event.channel, ())):
            subscription.deliver(event, key)

    def gap(self, channel: str) -> None:
        """Events of `channel` may have been missed (a lost connection): every follower
        re-reads them from its cursor."""
        for subscription in tuple(self._subscribers.get(channel, ())):
            subscription.resync_soon(channel)

    def forget(self, subscription: Subscription) -> None:
        self._all.discard(subscription)

    async def aclose(self) -> None:
        for subscription in tuple(self._all):
            await subscription.aclose(CloseReason.SHUTDOWN)


class Subscription:
    """`kernel.ports.LiveSubscription`, for every adapter."""

    def __init__(self, fanout: Fanout, queue_size: int) -> None:
        self._fanout = fanout
        self._backend = fanout.backend
        self._size = queue_size
        self._queue: deque[LiveEvent] = deque()
        self._cursor: dict[str, Key] = {}
        self._last: dict[str, str] = {}
        self._held: dict[str, list[LiveEvent]] = {}
        self._wake = asyncio.Event()
        self._reason: CloseReason | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._deadline: asyncio.TimerHandle | None = None
        self._expired = False
        self._sink: Callable[[LiveEvent], bool] | None = None
        self._waiting = False
        """Whether the consumer waits in `next` (and nothing is queued): only then may a
        sink take an event, since an event queued before it must go out first."""

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(self._last)

    @property
    def closed_reason(self) -> CloseReason | None:
        return self._reason

    async def add(self, channel: str, *, after: str | None = None) -> str:
        if self._reason is not None:
            raise StopAsyncIteration
        if channel in self._last:
            return self._last[channel]
        self._held[channel] = []
        self._last[channel] = ""
        self._cursor[channel] = ()
        await self._fanout.attach(channel, self)
        start = await self._backend.head(channel) if after is None else after
        await self._sync(channel, start)
        return start

    async def remove(self, channel: str) -> None:
        if channel not in self._last:
            return
        for table in (self._last, self._cursor, self._held):
            table.pop(channel, None)
        self._queue = deque(event for event in self._queue if event.channel != channel)
        await self._fanout.detach(channel, self)

    async def _sync(self, channel: str, start: str) -> None:
        """Queue the events after `start` from the log, then those held meanwhile."""
        events = await self._backend.replay(channel, start)
        if channel not in self._held or self._reason is not None:
            return  # removed or closed meanwhile
        if events is None:
            head = await self._backend.head(channel)
            if channel not in self._held:
                return
            self._cursor[channel] = self._backend.order(head)
            self._last[channel] = head
            self._put(LiveEvent(channel=channel, id=head, kind=RESYNC, data={}))
        else:
            self._cursor[channel] = self._backend.order(start)
            self._last[channel] = start
            for event in events:
                self._offer(event)
        for event in self._held.pop(channel, ()):
            self._offer(event)

    def deliver(self, event: LiveEvent, key: Key | None = None) -> None:
        """A live event, from the fan-out (synchronously: no await between two); `key` its
        id's order, if known."""
        held = self._held.get(event.channel)
        if held is None:
            self._offer(event, key)
        elif len(held) >= self._size:
            self._cut_off()
        else:
            held.append(event)

    def resync_soon(self, channel: str) -> None:
        if channel in self._held or channel not in self._last or self._reason is not None:
            return
        self._held[channel] = []
        task = asyncio.ensure_future(self._sync(channel, self._last[channel]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _offer(self, event: LiveEvent, key: Key | None = None) -> None:
        cursor = self._cursor.get(event.channel)
        if cursor is None:
            return
        if key is None:
            key = self._backend.order(event.id)
        if key <= cursor:
            return
        self._cursor[event.channel] = key
        self._last[event.channel] = event.id
        if self._waiting and self._sink is not None and not self._queue and self._took(event):
            return
        self._put(event)

    def direct(self, sink: Callable[[LiveEvent], bool] | None) -> None:
        self._sink = sink

    def _took(self, event: LiveEvent) -> bool:
        sink = self._sink
        assert sink is not None
        try:
            return sink(event)
        except Exception:
            # A sink's bug must not stop the fan-out to the channel's other subscribers.
            log.exception("live.sink-failed", channel=event.channel)
            self._sink = None
            return False

    def _put(self, event: LiveEvent) -> None:
        if self._reason is not None:
            return
        if len(self._queue) >= self._size:
            self._cut_off()
            return
        self._queue.append(event)
        self._wake.set()

    def _cut_off(self) -> None:
        self._close_now(CloseReason.SLOW_CONSUMER)
        task = asyncio.ensure_future(self._release())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _close_now(self, reason: CloseReason) -> None:
        if self._reason is None:
            self._reason = reason
        self._sink = None
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._queue.clear()
        self._held.clear()
        self._wake.set()

    async def _release(self) -> None:
        channels = list(self._last)
        self._last.clear()
        self._cursor.clear()
        for channel in channels:
            await self._fanout.detach(channel, self)
        self._fanout.forget(self)

    async def next(self, within: float) -> LiveEvent | None:
        """The next event, or None once a deadline passes: `within` seconds from now, or an
        earlier one a previous call set that is still ahead. One timer per deadline rather
        than per wait: a stream that waits after every event of a busy channel would
        otherwise arm and cancel a timer each time (the largest cost of a fan-out to many
        streams, `bench/fanout`); a consumer using the None for heartbeats sends them on
        time either way."""
        loop = asyncio.get_running_loop()
        while True:
            if self._reason is not None:
                raise StopAsyncIteration
            if self._queue:
                return self._queue.popleft()
            if self._expired:
                self._expired = False
                return None
            deadline = loop.time() + within
            timer = self._deadline
            if timer is None or timer.when() > deadline:
                if timer is not None:
                    timer.cancel()
                self._deadline = loop.call_at(deadline, self._expire)
            self._wake.clear()
            self._waiting = True
            try:
                await self._wake.wait()
            finally:
                self._waiting = False

    def _expire(self) -> None:
        self._deadline = None
        self._expired = True
        self._wake.set()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> LiveEvent:
        while True:
            event = await self.next(3600.0)
            if event is not None:
                return event

    async def aclose(self, reason: CloseReason = CloseReason.CLOSED) -> None:
        self._close_now(reason)
        for task in tuple(self._tasks):
            task.cancel()
        await self._release()


def events_after(
    backend: LiveBackend, rows: Iterable[LiveEvent], after: str
) -> Sequence[LiveEvent]:
    """`rows` newer than `after`, in order (for adapters whose range read is inclusive)."""
    mark = backend.order(after)
    return [event for event in rows if backend.order(event.id) > mark]
