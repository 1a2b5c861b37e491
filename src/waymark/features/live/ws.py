"""`/api/v1/live`: the caller's live channels over a WebSocket (protocol `waymark.live.v1`,
docs/live.md). A raw ASGI route, as thin as the SSE one over the same `LiveStream`.

Before the handshake is accepted: the `Origin` (when a browser sends one) must be the
site's or one of `cors_origins`, and the client must offer the subprotocol; otherwise the
handshake is refused (HTTP 403). Then the ticket (`?ticket=`, from `POST
/api/v1/me/live-tickets`) is redeemed and the stream opened; a refusal there is told by a
close code once accepted (a browser sees close codes, never an HTTP status).

One loop per connection reads the client and the stream in turn, so every answer
(`subscribed`, `error`) goes out before any event of the channel it is about, and nothing
is buffered here: a send waits at most `send_timeout_seconds`, and the stream's own queue
is bounded (a client that stops reading is cut off, 4008).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import structlog
from litestar.enums import ScopeType

from waymark.features.live import protocol
from waymark.features.live.encoded import EncodedEvents
from waymark.features.live.errors import TicketRefused, TooManyStreams
from waymark.features.live.protocol import Close, Ping, Pong, Subscribe, Unsubscribe
from waymark.features.live.service import CHANNEL_CLOSED, Item, Live, LiveStream
from waymark.features.live.tickets import Tickets
from waymark.kernel.decoding import decode
from waymark.kernel.errors import ServiceUnavailable, WaymarkError
from waymark.kernel.live import CloseReason
from waymark.settings import LiveSettings

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Receive, Scope, Send, WebSocketCloseEvent

LIVE_PATH = "/api/v1/live"
GONE = 1006
"""The code of a connection that ended without a close frame (RFC 6455's 1006)."""
CLOSE_WAIT = 1.0
"""How long the close frame of a connection being cut off may take to go out."""

log = structlog.get_logger(__name__)

_REFUSE: WebSocketCloseEvent = {"type": "websocket.close", "code": 1008, "reason": ""}
_CLOSE_OF_REASON = {
    CloseReason.SLOW_CONSUMER: Close.SLOW_CONSUMER,
    CloseReason.SHUTDOWN: Close.SHUTDOWN,
    CloseReason.CLOSED: Close.NORMAL,
}


class SocketCounts:
    """What this process's sockets did (the gateway's `/metrics`): how many are open, the
    events delivered, the connections ended by close code (`GONE`: no close frame)."""

    def __init__(self) -> None:
        self.open = 0
        self.deliveries = 0
        self.closes: collections.Counter[int] = collections.Counter()


class LiveSockets:
    """The endpoint, whatever server carries it: who may open a handshake (`refuses`), then
    one connection over ASGI-style `receive`/`send` (`serve`). `LiveSocketRoute` puts it in
    the ASGI app; the gateway (`features/live/gateway.py`, `waymark live`) on a `websockets`
    server."""

    def __init__(
        self, *, live: Live, tickets: Tickets, settings: LiveSettings, origins: frozenset[str]
    ) -> None:
        self.live = live
        self.tickets = tickets
        self.settings = settings
        self.origins = origins
        self.counts = SocketCounts()
        self.encoded: EncodedEvents[str] = EncodedEvents()
        """Events' frames but their cursors, made once for every socket they go to."""

    def refuses(self, origin: str | None, subprotocols: Sequence[str]) -> bool:
        """Whether the handshake is refused (HTTP 403): an `Origin` (a browser sends one)
        not the site's nor one of `cors_origins`, or the subprotocol not offered."""
        return (origin is not None and origin.lower() not in self.origins) or (
            protocol.SUBPROTOCOL not in subprotocols
        )

    async def serve(
        self,
        query_string: str,
        receive: Receive,
        send: Send,
        write_now: Callable[[str], bool] | None = None,
    ) -> None:
        """One connection whose handshake was not refused, until it ends. `write_now`, if
        the server has one, writes a text frame at once if the socket can take it (True) or
        does nothing (False): the stream's events are then written as they arrive."""
        counts = self.counts
        counts.open += 1
        code: int = GONE
        try:
            opened = await self._open(parse_qs(query_string), send)
            if isinstance(opened, Close):
                code = opened
                return
            connection = Connection(opened, receive, send, self.settings, self, write_now)
            try:
                await connection.run()
            finally:
                code = connection.close_code
                await opened.aclose()
        finally:
            counts.open -= 1
            counts.closes[code] += 1

    async def _open(self, query: dict[str, list[str]], send: Send) -> LiveStream | Close:
        """The caller's stream, the handshake accepted; or the code it was closed with."""
        code: Close | None = None
        try:
            account = await self.tickets.redeem(_first(query, "ticket") or "")
            stream = await self.live.open(account, cursor=_first(query, "cursor"))
        except TicketRefused:
            code = Close.BAD_TICKET
        except TooManyStreams:
            code = Close.TOO_MANY_STREAMS
        except ServiceUnavailable:
            code = Close.UNAVAILABLE
        await send({"type": "websocket.accept", "subprotocol": protocol.SUBPROTOCOL, "headers": []})
        if code is not None:
            await send(_closing(code))
            return code
        return stream


class LiveSocketRoute:
    """An ASGI layer: WebSocket connections to `LIVE_PATH` go to the live socket, anything
    else on to `app`."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        live: Live,
        tickets: Tickets,
        settings: LiveSettings,
        origins: frozenset[str],
    ) -> None:
        self.app = app
        self.sockets = LiveSockets(live=live, tickets=tickets, settings=settings, origins=origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.WEBSOCKET or scope["path"] != LIVE_PATH:
            await self.app(scope, receive, send)
            return
        if (await receive())["type"] != "websocket.connect":
            return
        if self.sockets.refuses(_header(scope, b"origin"), scope["subprotocols"]):
            await send(_REFUSE)  # before accept: the server answers HTTP 403
            return
        await self.sockets.serve(scope.get("query_string", b"").decode("latin-1"), receive, send)


class Connection:
    def __init__(
        self,
        stream: LiveStream,
        receive: Receive,
        send: Send,
        settings: LiveSettings,
        sockets: LiveSockets,
        write_now: Callable[[str], bool] | None = None,
    ) -> None:
        self.stream = stream
        self.write_now = write_now
        self.counts = sockets.counts
        self.encoded = sockets.encoded
        self.close_code = GONE
        """How the connection ended: the code sent or received."""
        self.receive = receive
        self._send = send
        self.settings = settings
        self.tokens = float(settings.ws_message_burst)
        self.refilled = time.monotonic()
        self.pong_due: float | None = None
        self._lock = asyncio.Lock()
        self._ending: Close | None = None
        """Why the connection was ended from here (a rule the client broke, a send that
        hung)."""
        self._sending_since: float | None = None
        """When the send in progress began (the watchdog's clock)."""
        self._tasks: tuple[asyncio.Future[Any], ...] = ()
        self._watchdog: asyncio.TimerHandle | None = None

    async def run(self) -> None:
        """The stream's items, heartbeats and expiry in a writer task; the client's messages
        in a reader task; the first to end ends the connection (one wait per connection).
        One lock orders their sends: an answer (`subscribed`) is sent holding it from before
        the channel is followed, so it goes out before any event of that channel. No task
        or timer per event: a fan-out to many sockets made one per event, and most of its
        CPU went there (`bench/fanout`); one watchdog timer per connection checks that no
        send hangs past `send_timeout_seconds` (a client that stopped reading is cut off,
        4008), where a timeout around each send armed and cancelled a timer per frame."""
        try:
            async with asyncio.timeout(self.settings.send_timeout_seconds):
                await self.send_locked(protocol.ready(self.stream.channels, self.stream.cursor))
        except TimeoutError:
            await self.close(Close.SLOW_CONSUMER)
            return
        except _Gone:
            return
        reader = asyncio.ensure_future(self._read())
        writer = asyncio.ensure_future(self._write())
        self._tasks = (reader, writer)
        loop = asyncio.get_running_loop()
        half = self.settings.send_timeout_seconds / 2
        self._watchdog = loop.call_later(half, self._watch, loop, half)
        if self.write_now is not None:
            self.stream.deliver_directly(self._write_directly)
        try:
            await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.stream.deliver_directly(None)
            self._watchdog.cancel()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(reader, writer, return_exceptions=True)
        code = self._ending
        if code is None and not writer.cancelled():
            failure = writer.exception()
            if failure is None:
                code = writer.result()
            elif not isinstance(failure, _Gone):
                log.error(
                    "live.websocket-failed",
                    account_id=str(self.stream.account.id),
                    exc_info=failure,
                )
                code = Close.INTERNAL
        if code is not None:
            await self.close(code)

    async def _write(self) -> Close | None:
        """Send the stream's items until it ends or a clock says so: the close code."""
        settings = self.settings
        now = time.monotonic()
        ends, next_ping = now + settings.stream_seconds, now + settings.heartbeat_seconds
        while True:
            wake = min(ends, next_ping, self.pong_due or ends)
            try:
                found = await self.stream.next(max(wake - time.monotonic(), 0.0))
            except StopAsyncIteration:
                reason = self.stream.closed_reason or CloseReason.CLOSED
                return _CLOSE_OF_REASON[reason]
            # An event taken just before its channel was left is not sent.
            if found is not None and (
                found.kind == CHANNEL_CLOSED or found.channel in self.stream.positions
            ):
                await self.send_locked(protocol.item(found, self.encoded))
                self.counts.deliveries += 1
            # The clocks are read on every turn: a busy stream expires and pings too.
            now = time.monotonic()
            if now >= ends:
                return Close.EXPIRED
            if self.pong_due is not None and now >= self.pong_due:
                return Close.NO_PONG
            if now >= next_ping:
                next_ping = now + settings.heartbeat_seconds
                if self.pong_due is None:
                    self.pong_due = now + settings.ws_pong_timeout_seconds
                await self.send_locked(protocol.answer("ping", None))

    def _write_directly(self, found: Item) -> bool:
        """An event's frame written as it arrives, while the writer waits for the next item:
        not while a send holds the lock (an answer goes before the events of its channel)
        or is in progress, nor to a socket that cannot take it now (it takes `_write`'s
        path, watched, and the bounded queue)."""
        assert self.write_now is not None
        if self._lock.locked() or self._sending_since is not None:
            return False
        if not self.write_now(protocol.item(found, self.encoded)):
            return False
        self.counts.deliveries += 1
        return True

    async def _read(self) -> None:
        """Handle the client's messages in turn, until it goes (`_Gone`) or breaks a rule
        (`_ending`, the close code)."""
        while True:
            message: Any = await self.receive()
            async with self._lock:
                code = await self.on_message(message)
            if code is not None:
                self._ending = code
                return

    async def send_locked(self, text: str) -> None:
        async with self._lock:
            await self.send(text)

    async def on_message(self, message: dict[str, Any]) -> Close | None:
        """Handle one message of the client; a close code to end the connection with."""
        if message["type"] == "websocket.disconnect":
            self.close_code = message.get("code", GONE)
            raise _Gone
        self.pong_due = None  # any message says the client is there
        if not self._within_rate():
            return Close.RATE
        data = message.get("text")
        if data is None:
            return Close.BINARY
        limit = self.settings.ws_max_message_bytes
        if len(data) > limit or len(raw := data.encode()) > limit:
            return Close.TOO_BIG
        ref: str | None = None
        try:
            request: protocol.ClientMessage = decode(raw, "json", protocol.CLIENT_MESSAGE)
            ref = request.ref
            if isinstance(request, Subscribe):
                channel = await self.stream.follow_named(request.channel, after=request.after)
                reply = protocol.answer(
                    "subscribed", ref, channel=channel, cursor=self.stream.cursor
                )
            elif isinstance(request, Unsubscribe):
                await self.stream.unfollow(request.channel)
                reply = protocol.answer("unsubscribed", ref, channel=request.channel)
            elif isinstance(request, Ping):
                reply = protocol.answer("pong", ref)
            else:
                assert isinstance(request, Pong)
                return None
        except StopAsyncIteration:
            return None  # the stream ended meanwhile: its item says why
        except WaymarkError as error:
            reply = protocol.answer("error", ref, code=error.code, detail=str(error))
        await self.send(reply)
        return None

    def _within_rate(self) -> bool:
        """A token bucket: `ws_message_burst` at once, `ws_messages_per_second` after."""
        now = time.monotonic()
        rate, burst = self.settings.ws_messages_per_second, self.settings.ws_message_burst
        self.tokens = min(float(burst), self.tokens + (now - self.refilled) * rate)
        self.refilled = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    async def send(self, text: str) -> None:
        """Send one frame, watched (`_watch`): a client that does not take it within
        `send_timeout_seconds` is cut off (4008)."""
        self._sending_since = asyncio.get_running_loop().time()
        try:
            await self._send({"type": "websocket.send", "text": text, "bytes": None})
        except OSError:  # the transport's way of saying the connection is gone
            raise _Gone from None
        finally:
            self._sending_since = None

    def _watch(self, loop: asyncio.AbstractEventLoop, half: float) -> None:
        """Every half `send_timeout_seconds`: end a connection whose send has hung that
        long (both its tasks are cancelled; `run` closes it with 4008)."""
        since = self._sending_since
        if since is not None and loop.time() - since >= self.settings.send_timeout_seconds:
            self._ending = Close.SLOW_CONSUMER
            for task in self._tasks:
                task.cancel()
            return
        self._watchdog = loop.call_later(half, self._watch, loop, half)

    async def close(self, code: Close) -> None:
        self.close_code = code
        with contextlib.suppress(TimeoutError, OSError):
            await asyncio.wait_for(
                self._send(_closing(code)),
                CLOSE_WAIT,
            )
        log.info("live.websocket-closed", code=int(code), account_id=str(self.stream.account.id))


class _Gone(Exception):
    """The client went away."""


def _closing(code: Close) -> WebSocketCloseEvent:
    return {"type": "websocket.close", "code": code, "reason": code.name.lower()}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None
