"""Socket.IO at `/socket.io/`, namespace `/live`: the caller's live channels for the stock
`socket.io-client` (docs/live.md). A thin transport over `Live`, like the SSE route.

Each connection reads a `LiveStream` of its own (opened at connect: the caller's `user:`
channel, the `teams` of its `auth`, resumed from its `cursor`) and emits what it gives to
that connection alone, so authorization, caps, resume and presence are exactly the SSE
stream's. Events are not emitted to Socket.IO rooms, and no Socket.IO message queue (its
Redis manager) is used: every process already hears every channel through `LiveChannels`,
which also keeps the replay log and re-checks who may follow a team; see docs/live.md.

Refusals at connect are a `connect_error` whose `message` says why and whose `data` is
`{"code"}`, the code the REST API would answer (`not-authenticated`, `too-many-streams`,
`not-found`, `forbidden`, `validation-failed`, `service-unavailable`). An `Origin` outside
the allow list is refused by Engine.IO itself, before any of this (HTTP 400).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import engineio
import socketio
import structlog
from litestar.types import ASGIApp, Receive, Scope, Send

from waymark.features.live.channels import team_of
from waymark.features.live.service import Live, LiveStream
from waymark.kernel.errors import (
    FieldError,
    NotAuthenticated,
    RateLimited,
    ValidationFailed,
    WaymarkError,
)
from waymark.kernel.identity import Account
from waymark.settings import LiveSettings
from waymark.transport.http.identity import RequestIdentity

log = structlog.get_logger(__name__)

PATH = "/socket.io/"
NAMESPACE = "/live"
MAX_TOKEN = 8192
MAX_CURSOR = 4096
REQUESTS_PER_WINDOW = 30
WINDOW_SECONDS = 10.0
"""`subscribe` and `unsubscribe` a connection may send per window; more are answered
`rate-limited` without any work (a flood costs no database reads)."""


CLOSE_WAIT = 1.0
"""How long a disconnect waits for a WebSocket client's CLOSE packet to go out."""


async def _sent(socket: Any) -> None:
    """Wait (at most `CLOSE_WAIT`) until an Engine.IO socket on a WebSocket has handed what
    it queued to the connection; a long-polling one's queue waits for the next poll."""
    if socket.upgraded:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(socket.queue.join(), CLOSE_WAIT)


class _EngineIo(engineio.AsyncServer):  # type: ignore[misc]
    """Engine.IO's server, but a session it ends (a message past the cap, a stopping
    server) is ended at once: python-engineio (4.x) waits for the client to take the CLOSE
    packet, which a long-polling client takes only by polling, and it refuses a poll once
    the session is closed, so the request that ended it (the oversize POST) waited forever,
    or until a poll happened to be in flight. Here a long-polling session's CLOSE packet
    goes to a poll in flight if there is one (a later poll is refused: 400, also a close
    for the client); a WebSocket's is given `CLOSE_WAIT` to go out."""

    async def disconnect(self, sid: str | None = None) -> None:
        for each in [sid] if sid is not None else list(self.sockets):
            socket = self.sockets.get(each)
            if socket is None:
                continue
            await socket.close(wait=False, reason=self.reason.SERVER_DISCONNECT)
            await _sent(socket)
            self.sockets.pop(each, None)


class _Server(socketio.AsyncServer):  # type: ignore[misc]
    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return _EngineIo


class _Manager(socketio.AsyncManager):  # type: ignore[misc]
    """Tells the transport when a connection has been accepted (its CONNECT sent): only
    then may events be emitted to it."""

    def __init__(self, on_connected: Callable[[str], Awaitable[None]]) -> None:
        super().__init__()
        self._on_connected = on_connected

    async def connect(self, sid: str, namespace: str) -> Any:
        connected = await super().connect(sid, namespace)
        if namespace == NAMESPACE:
            await self._on_connected(sid)
        return connected


class _Mounted:
    """An ASGI layer: `/socket.io/` to the Socket.IO server, the rest to `app`."""

    def __init__(self, server: socketio.AsyncServer, app: ASGIApp) -> None:
        self.server = server
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and (
            scope["path"].startswith(PATH) or scope["path"] == PATH.rstrip("/")
        ):
            await self.server.handle_request(scope, receive, send)
        else:
            await self.app(scope, receive, send)


class LiveSocketIo:
    def __init__(self, live: Live, identity: RequestIdentity, *, origins: list[str]) -> None:
        self.live = live
        self.identity = identity
        self.settings: LiveSettings = live.settings
        self.server = _Server(
            async_mode="asgi",
            client_manager=_Manager(self._connected),
            cors_allowed_origins=origins,
            cors_credentials=True,
            max_http_buffer_size=self.settings.socketio_max_message_bytes,
            # A connection's messages are handled one at a time, in the order sent: a flood
            # waits on its own connection (no task per message, no races on its stream).
            async_handlers=False,
            logger=_library_log("socketio.server"),
            engineio_logger=_library_log("engineio.server"),
        )
        self._streams: dict[str, LiveStream] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._asked: dict[str, deque[float]] = {}
        self.server.on("connect", self._connect, namespace=NAMESPACE)
        self.server.on("disconnect", self._disconnect, namespace=NAMESPACE)
        self.server.on("subscribe", self._subscribe, namespace=NAMESPACE)
        self.server.on("unsubscribe", self._unsubscribe, namespace=NAMESPACE)

    def mount(self, app: ASGIApp) -> ASGIApp:
        """`app`, with `/socket.io/` (HTTP long-polling and WebSocket) answered here."""
        return _Mounted(self.server, app)

    # -- connect and disconnect --------------------------------------------------------------

    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any) -> bool:
        given = auth if isinstance(auth, dict) else {}
        try:
            account = await self._caller(environ, given)
            teams = _teams(given.get("teams"))
            cursor = given.get("cursor")
            if cursor is not None and (not isinstance(cursor, str) or len(cursor) > MAX_CURSOR):
                raise _invalid("cursor", "the `id` of an event, as it was given")
            stream = await self.live.open(account, teams=teams, cursor=cursor)
        except WaymarkError as error:
            message = error.detail or error.title
            raise socketio.exceptions.ConnectionRefusedError(message, _refusal(error)) from None
        self._streams[sid] = stream
        return True

    async def _caller(self, environ: dict[str, Any], auth: dict[str, Any]) -> Account:
        token = auth.get("token")
        if token is not None and (not isinstance(token, str) or len(token) > MAX_TOKEN):
            raise NotAuthenticated("auth.token: an access token")
        principal = await self.identity.principal_of(
            authorization=f"Bearer {token}" if token else None,
            # A browser on the same origin (or an allowed one) sends its session cookie;
            # Engine.IO has checked its Origin against the allow list already.
            cookie=environ.get("HTTP_COOKIE"),
            method="GET",
            csrf_header=None,
        )
        return principal.account

    async def _connected(self, sid: str) -> None:
        stream = self._streams.get(sid)
        if stream is not None:
            task = asyncio.create_task(self._forward(sid, stream), name=f"socketio-{sid}")
            self._tasks[sid] = task

    async def _disconnect(self, sid: str, reason: str | None = None) -> None:
        task = self._tasks.pop(sid, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._asked.pop(sid, None)
        stream = self._streams.pop(sid, None)
        if stream is not None:
            await stream.aclose()

    # -- what the client asks ----------------------------------------------------------------

    async def _subscribe(self, sid: str, data: Any) -> dict[str, Any]:
        """`{"channel": "team:<id>", "after"?: cursor}` -> `{"ok": true, "channel", "id"}`,
        or `{"error": code}`."""
        stream = self._streams.get(sid)
        try:
            self._allow(sid)
            channel, after = _subscription(data)
            team = team_of(channel)
            if stream is None or team is None:
                raise _invalid("channel", "a team's channel, team:<id>")
            cursor = await stream.follow(team, after=after)
        except WaymarkError as error:
            return {"error": error.code}
        return {"ok": True, "channel": channel, "id": cursor}

    async def _unsubscribe(self, sid: str, data: Any) -> dict[str, Any]:
        stream = self._streams.get(sid)
        try:
            self._allow(sid)
            channel, _ = _subscription(data)
        except WaymarkError as error:
            return {"error": error.code}
        if stream is not None:
            await stream.unfollow(channel)
        return {"ok": True, "channel": channel}

    def _allow(self, sid: str) -> None:
        asked = self._asked.setdefault(sid, deque())
        now = time.monotonic()
        while asked and asked[0] <= now - WINDOW_SECONDS:
            asked.popleft()
        if len(asked) >= REQUESTS_PER_WINDOW:
            raise RateLimited("too many subscribe and unsubscribe messages")
        asked.append(now)

    # -- what the stream gives ---------------------------------------------------------------

    async def _forward(self, sid: str, stream: LiveStream) -> None:
        try:
            await self._pass_on(sid, stream)
        except Exception:
            log.exception("socketio_forward_failed")
            await self._end(sid)

    async def _pass_on(self, sid: str, stream: LiveStream) -> None:
        settings = self.settings
        await self._emit(sid, "ready", {"channels": stream.channels, "id": stream.cursor})
        ends = time.monotonic() + settings.stream_seconds
        reason = "closed"
        while True:
            try:
                item = await stream.next(max(min(60.0, ends - time.monotonic()), 0.0))
            except StopAsyncIteration:
                reason = str(stream.closed_reason)
                break
            if item is None:
                if time.monotonic() >= ends:
                    reason = "expired"  # credentials are checked again on reconnect
                    break
                if not self.server.manager.is_connected(sid, NAMESPACE):
                    await self._end(sid)  # gone without a word (while it was connecting)
                    return
                continue
            if self._backlog(sid) >= settings.socketio_max_backlog:
                reason = "slow-consumer"
                break
            data = {"channel": item.channel, "id": item.cursor, "data": item.data}
            await self._emit(sid, item.kind, data)
        if reason != "slow-consumer":
            await self._emit(sid, "close", {"reason": reason})
        await self._end(sid)

    async def _end(self, sid: str) -> None:
        """Disconnect the namespace (when still connected) and release the stream, from
        the forwarding task itself. On a WebSocket the stream is released once the
        DISCONNECT packet has gone to the socket (at most `CLOSE_WAIT`): a stopping server
        waits for its streams to be released, then closes the connections, and a packet
        still queued then was lost (the client heard the transport close, not the server
        disconnect, and could not tell a shutdown from a dropped network)."""
        self._tasks.pop(sid, None)
        socket = self._engine_socket(sid)
        await self.server.disconnect(sid, namespace=NAMESPACE)
        if socket is not None:
            await _sent(socket)
        await self._disconnect(sid)  # nothing left to do if the handler ran

    async def _emit(self, sid: str, event: str, data: Any) -> None:
        await self.server.emit(event, data, to=sid, namespace=NAMESPACE)

    def _backlog(self, sid: str) -> int:
        """Packets waiting to be sent to the connection (Engine.IO's queue, which does not
        bound itself)."""
        socket = self._engine_socket(sid)
        return 0 if socket is None else int(socket.queue.qsize())

    def _engine_socket(self, sid: str) -> Any:
        """The Engine.IO socket under the connection `sid`, while it is connected."""
        eio_sid = self.server.manager.eio_sid_from_sid(sid, NAMESPACE)
        return self.server.eio.sockets.get(eio_sid) if eio_sid else None


def _library_log(name: str) -> logging.Logger:
    """The library's logger, to the root handler like ours (the library would add its own
    plain-text handler), warnings and up only (at info it logs every packet)."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.WARNING)
    return logger


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed([FieldError(field, message)])


def _refusal(error: WaymarkError) -> dict[str, str]:
    return {"code": error.code}


def _teams(value: Any) -> list[uuid.UUID]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(team, str) for team in value):
        raise _invalid("teams", "a list of team ids")
    try:
        return [uuid.UUID(team) for team in value]
    except ValueError:
        raise _invalid("teams", "a list of team ids") from None


def _subscription(data: Any) -> tuple[str, str | None]:
    channel = data.get("channel") if isinstance(data, dict) else None
    after = data.get("after") if isinstance(data, dict) else None
    if not isinstance(channel, str) or len(channel) > 200:
        raise _invalid("channel", "a team's channel, team:<id>")
    if after is not None and (not isinstance(after, str) or len(after) > MAX_CURSOR):
        raise _invalid("after", "the `id` of an event, as it was given")
    try:
        team_of(channel)
    except ValueError:
        raise _invalid("channel", "a team's channel, team:<id>") from None
    return channel, after
