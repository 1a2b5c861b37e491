"""Live channels in Redis (`kernel.ports.LiveChannels`, the production profile).

Keys under the prefix:

    {p}live:{channel}               stream   the replay log: fields k (kind), d (JSON data),
                                             p (the id before it; "" for none), MAXLEN ~ N
    {p}live-dedupe:{channel}:{key}  string   the id published under a dedupe key, 7 days

One Lua script appends to the stream, remembers the dedupe key and PUBLISHes the event on
the pub/sub channel `{p}live:{channel}`, atomically: a retry finds the key and publishes
nothing. Messages are `id \\n kind \\n data`.

Each process holds ONE pub/sub connection (`_PubSubReader`), subscribed to the channels its
subscribers follow (reference-counted by `Fanout`). When that connection is lost (a Redis
restart), it reconnects and re-subscribes; once each channel's subscription is confirmed,
the channel's followers re-read what they may have missed from the stream (`Fanout.gap`),
or are told to refetch (`RESYNC`) when the stream no longer reaches back.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import Any, cast

import msgspec
import structlog
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from waymark.infra.live import Fanout, LiveBackend, Subscription, check_publish, complete_after
from waymark.kernel.errors import ServiceUnavailable
from waymark.kernel.live import LiveEvent

log = structlog.get_logger(__name__)

DEDUPE_SECONDS = 7 * 86_400
STREAM_IDLE_MS = 7 * 86_400_000
"""A channel's stream is dropped after a week without events (MAXLEN bounds it before)."""
CONFIRM_SECONDS = 5.0
RECONNECT_SECONDS = 0.5

PUBLISH = """
local id = redis.call('GET', KEYS[2])
if id then return id end
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local prev = ''
if #last > 0 then prev = last[1][1] end
id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'k', ARGV[2], 'd', ARGV[3], 'p', prev)
redis.call('SET', KEYS[2], id, 'EX', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PUBLISH', KEYS[1], id .. '\\n' .. ARGV[2] .. '\\n' .. ARGV[3])
return id
"""


def _order(event_id: str) -> tuple[int, ...]:
    if event_id == "":
        return (0, 0)
    ms, _, seq = event_id.partition("-")
    if not (ms.isdigit() and seq.isdigit()) or len(event_id) > 41:
        raise ValueError(event_id)
    return (int(ms), int(seq))


class RedisLiveChannels(LiveBackend):
    def __init__(
        self,
        client: Redis,
        *,
        url: str,
        prefix: str,
        replay_length: int = 1000,
        connect_timeout: float = 2.0,
    ) -> None:
        self.client = client
        self.client_name = f"{prefix}live-{secrets.token_hex(4)}"
        self.prefix = f"{prefix}live:"
        self.replay_length = replay_length
        self._publish = client.register_script(PUBLISH)
        self.fanout = Fanout(self)
        self._reader = _PubSubReader(
            self, url=url, connect_timeout=connect_timeout, name=self.client_name
        )

    # -- the port ----------------------------------------------------------------------------

    async def publish(self, channel: str, kind: str, data: Any, *, dedupe_key: str) -> str:
        check_publish(channel, kind)
        body = msgspec.json.encode(data).decode()
        keys = [self.prefix + channel, self._dedupe(channel, dedupe_key)]
        args: list[str | int] = [self.replay_length, kind, body, DEDUPE_SECONDS, STREAM_IDLE_MS]
        return str(await self._publish(keys=keys, args=args))

    def _dedupe(self, channel: str, dedupe_key: str) -> str:
        return f"{self.prefix[:-1]}-dedupe:{channel}:{dedupe_key}"

    async def published(self, channel: str, dedupe_key: str) -> bool:
        return bool(await self.client.exists(self._dedupe(channel, dedupe_key)))

    async def replay(self, channel: str, after: str) -> list[LiveEvent] | None:
        try:
            _order(after)
        except ValueError:
            return None
        key = self.prefix + channel
        start = f"({after}" if after else "-"
        entries: list[tuple[str, dict[str, str]]] = cast(
            Any, await self.client.xrange(key, start, "+", count=self.replay_length + 1)
        )
        head = "" if entries else await self.head(channel)
        first_prev = entries[0][1].get("p", "") if entries else None
        if not complete_after(self, after, head, first_prev):
            return None
        return [
            LiveEvent(channel=channel, id=entry_id, kind=f["k"], data=msgspec.json.decode(f["d"]))
            for entry_id, f in entries
        ]

    def subscribe(self, *, queue_size: int | None = None) -> Subscription:
        return self.fanout.subscribe(queue_size)

    async def aclose(self) -> None:
        await self.fanout.aclose()
        await self._reader.aclose()

    # -- the backend -------------------------------------------------------------------------

    def order(self, event_id: str) -> tuple[int, ...]:
        return _order(event_id)

    async def head(self, channel: str) -> str:
        newest: list[tuple[str, Any]] = cast(
            Any, await self.client.xrevrange(self.prefix + channel, "+", "-", count=1)
        )
        return str(newest[0][0]) if newest else ""

    async def listen(self, channel: str) -> None:
        try:
            await self._reader.subscribe(self.prefix + channel)
        except (RedisError, OSError, TimeoutError) as exc:
            raise ServiceUnavailable("live updates are unavailable; try again shortly") from exc

    async def unlisten(self, channel: str) -> None:
        await self._reader.unsubscribe(self.prefix + channel)

    def received(self, key: str, message: str) -> None:
        event_id, kind, data = message.split("\n", 2)
        channel = key[len(self.prefix) :]
        self.fanout.dispatch(
            LiveEvent(channel=channel, id=event_id, kind=kind, data=msgspec.json.decode(data))
        )

    def lost(self, key: str) -> None:
        self.fanout.gap(key[len(self.prefix) :])


class _ReconnectAwarePubSub(PubSub):
    """redis-py's pub/sub, which reconnects and re-subscribes by itself: here it also notes
    which channels were re-subscribed, so their followers re-read what they missed."""

    resubscribed: set[str]

    async def on_connect(self, connection: Any) -> None:
        self.resubscribed = getattr(self, "resubscribed", set()) | set(self.channels)
        await super().on_connect(connection)


class _PubSubReader:
    """The process's one pub/sub connection and the task reading it."""

    def __init__(
        self, owner: RedisLiveChannels, *, url: str, connect_timeout: float, name: str
    ) -> None:
        self.owner = owner
        # Its own client: no read timeout (a quiet channel is not a dead one), pings instead.
        self.client = Redis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=connect_timeout,
            health_check_interval=10,
            client_name=name,  # CLIENT LIST shows whose it is
        )
        self.pubsub: _ReconnectAwarePubSub | None = None
        self.keys: set[str] = set()
        self._confirm: dict[str, list[asyncio.Future[None]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def subscribe(self, key: str) -> None:
        confirmed = asyncio.get_running_loop().create_future()
        self._confirm.setdefault(key, []).append(confirmed)
        self.keys.add(key)
        async with self._lock:
            if self.pubsub is None:
                self.pubsub = self._new()
            await self.pubsub.subscribe(key)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._read(), name="live-pubsub")
        await asyncio.wait_for(confirmed, CONFIRM_SECONDS)

    async def unsubscribe(self, key: str) -> None:
        self.keys.discard(key)
        async with self._lock:
            if self.pubsub is not None:
                with contextlib.suppress(RedisError, OSError):
                    await self.pubsub.unsubscribe(key)

    async def _read(self) -> None:
        while True:
            try:
                pubsub = self.pubsub
                if pubsub is None:
                    async with self._lock:
                        pubsub = self.pubsub = self._new()
                        # Whatever was published meanwhile is read back from the streams.
                        pubsub.resubscribed = set(self.keys)
                        if self.keys:
                            await pubsub.subscribe(*self.keys)
                if not pubsub.subscribed:
                    await asyncio.sleep(0.05)
                    continue
                message = await pubsub.get_message(timeout=1.0)
                if message is not None:
                    self._handle(pubsub, message)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError):
                log.warning("live_pubsub_lost", exc_info=True)
                await self._drop()
                await asyncio.sleep(RECONNECT_SECONDS)

    def _new(self) -> _ReconnectAwarePubSub:
        pubsub = _ReconnectAwarePubSub(self.client.connection_pool)
        pubsub.resubscribed = set()
        return pubsub

    def _handle(self, pubsub: _ReconnectAwarePubSub, message: dict[str, Any]) -> None:
        key, kind = message["channel"], message["type"]
        if kind == "message":
            self.owner.received(key, message["data"])
        elif kind == "subscribe":
            for confirmed in self._confirm.pop(key, ()):
                if not confirmed.done():
                    confirmed.set_result(None)
            if key in pubsub.resubscribed:
                pubsub.resubscribed.discard(key)
                self.owner.lost(key)

    async def _drop(self) -> None:
        async with self._lock:
            pubsub, self.pubsub = self.pubsub, None
        if pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._drop()
        await self.client.aclose()
