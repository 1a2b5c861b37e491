"""The live gateway (`waymark live`): `/api/v1/live` alone, on the `websockets` library's
asyncio server, for deployments holding many sockets (docs/live.md, "The gateway").

Granian's WebSocket costs about 155 KiB of memory per open socket, whatever the app does;
a `websockets` connection a small part of that. The endpoint is the same: `LiveSockets`
(`ws.py`) decides who may open a handshake and runs each connection over ASGI-style
`receive`/`send`, which `_Asgi` gives it over a `websockets` connection. Plain HTTP on the
same port answers `/healthz` and `/readyz` for orchestrators, and `/metrics` (Prometheus, as
the app's: sockets open, events delivered, connections closed by code); anything else is
404.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any

import msgspec
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from waymark.features.live.protocol import SUBPROTOCOL
from waymark.features.live.ws import CLOSE_WAIT, LIVE_PATH, LiveSockets, SocketCounts
from waymark.infra.observability.metrics import CONTENT_TYPE, render_families

Readiness = Callable[[], Awaitable[Mapping[str, str]]]
"""Each dependency's state by name, `"ok"` when it answers (`/readyz`)."""
BACKLOG = 1024
SHUTDOWN_SECONDS = 5.0
"""How long the sockets have to close (1001) when the process stops, before it exits."""


class LiveGateway:
    def __init__(self, sockets: LiveSockets, *, readiness: Readiness) -> None:
        self.sockets = sockets
        self.readiness = readiness

    async def run(self, host: str, port: int, stop: asyncio.Event) -> None:
        """Serve until `stop`; then stop listening, end every stream (each socket closed
        with 1001 by its own connection), and return once they are closed (or
        `SHUTDOWN_SECONDS` passed: what is left is dropped as the process exits; `async
        with` the server would wait for it without end)."""
        server: Server = await self.server(host, port)
        try:
            await stop.wait()
        finally:
            server.close(close_connections=False)
            await self.sockets.live.end_all()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), SHUTDOWN_SECONDS)

    def server(self, host: str, port: int) -> Any:
        """The `websockets` server (awaited, it listens)."""
        limit = self.sockets.settings.ws_max_message_bytes
        return serve(
            self.handle,
            host,
            port,
            process_request=self.process_request,
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            # The app's own heartbeat (`ping`/`pong` messages) checks the client.
            ping_interval=None,
            compression=None,
            # `Connection` refuses a message over the limit (1009): one of up to 4 bytes a
            # character may get there, no larger.
            max_size=4 * limit,
            max_queue=4,
            close_timeout=CLOSE_WAIT,
            # Connections waiting to be accepted, as Granian's default: asyncio's 100
            # overflows when hundreds of clients reconnect at once (after a restart).
            backlog=BACKLOG,
        )

    async def process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        """Plain HTTP, and the handshakes refused before they are accepted (403)."""
        path = request.path.partition("?")[0]
        if path == LIVE_PATH:
            offered = [
                name.strip()
                for value in request.headers.get_all("Sec-WebSocket-Protocol")
                for name in value.split(",")
            ]
            # The first `Origin`, as the ASGI route reads it (`get` raises on two).
            origin = next(iter(request.headers.get_all("Origin")), None)
            if self.sockets.refuses(origin, offered):
                return connection.respond(HTTPStatus.FORBIDDEN, "Forbidden\n")
            return None
        if path == "/metrics":
            return _metrics(self.sockets.counts)
        if path == "/healthz":
            return _json(HTTPStatus.OK, {"status": "ok"})
        if path == "/readyz":
            checks = dict(await self.readiness())
            ok = all(state == "ok" for state in checks.values())
            status = HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE
            return _json(status, {"status": "ok" if ok else "unavailable", "checks": checks})
        return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")

    async def handle(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        query = connection.request.path.partition("?")[2]
        channel = _Asgi(connection)
        await self.sockets.serve(query, channel.receive, channel.send, channel.write_now)


class _Asgi:
    """ASGI's WebSocket events over a `websockets` connection, whose handshake is already
    done (`websocket.accept` says nothing more)."""

    def __init__(self, connection: ServerConnection) -> None:
        self.connection = connection

    async def receive(self) -> Any:
        try:
            data = await self.connection.recv()
        except ConnectionClosed:
            code = self.connection.close_code or 1006
            return {"type": "websocket.disconnect", "code": code}
        if isinstance(data, str):
            return {"type": "websocket.receive", "text": data}
        return {"type": "websocket.receive", "bytes": data}

    async def send(self, event: Any) -> None:
        kind = event["type"]
        connection = self.connection
        try:
            if kind == "websocket.send":
                text = event.get("text")
                if text is not None and self._writable():
                    self._write(text)
                    return
                await connection.send(text if text is not None else event["bytes"])
            elif kind == "websocket.close":
                await connection.close(event.get("code", 1000), event.get("reason", ""))
        except ConnectionClosed:
            raise ConnectionResetError from None  # as an ASGI server says it: gone

    def write_now(self, text: str) -> bool:
        """Write a text frame if the socket can take it at once (`_writable`); False, and
        nothing written, if not. A socket whose write fails is aborted (its reader ends the
        connection): the frame counts as taken, the client resumes from its last cursor."""
        if not self._writable():
            return False
        with contextlib.suppress(ConnectionResetError):
            self._write(text)
        return True

    def _writable(self) -> bool:
        """Whether a frame may be written at once: the connection open, not in the middle of
        a fragmented message, its buffer not over the high-water mark."""
        connection = self.connection
        return (
            connection.protocol.state is State.OPEN
            and connection.send_in_progress is None
            and not connection.paused
        )

    def _write(self, text: str) -> None:
        """A text frame written as `websockets.broadcast` writes it, without `send`'s
        context manager (a generator and its checks per frame, paid per socket per event in
        a fan-out). A socket that is not `_writable` (its client stopped reading: the buffer
        filled) takes `send`, which waits for it to drain, watched as every send is (4008)."""
        connection = self.connection
        try:
            connection.protocol.send_text(text.encode())
            connection.send_data()
        except Exception:
            connection.transport.abort()
            raise ConnectionResetError from None


def _metrics(counts: SocketCounts) -> Response:
    open_now = GaugeMetricFamily(
        "waymark_live_sockets_open", "WebSockets open on this process now.", value=counts.open
    )
    deliveries = CounterMetricFamily(
        "waymark_live_deliveries",
        "Events sent to WebSockets (one per socket an event went to).",
        value=counts.deliveries,
    )
    closes = CounterMetricFamily(
        "waymark_live_socket_closes",
        "WebSockets ended, by close code (docs/live.md; 1006: gone without a close frame).",
        labels=["code"],
    )
    for code, ended in sorted(counts.closes.items()):
        closes.add_metric([str(int(code))], ended)
    content = render_families([open_now, deliveries, closes])
    return _response(HTTPStatus.OK, CONTENT_TYPE, content)


def _json(status: HTTPStatus, body: dict[str, Any]) -> Response:
    return _response(status, "application/json", msgspec.json.encode(body))


def _response(status: HTTPStatus, content_type: str, content: bytes) -> Response:
    headers = Headers(
        [
            ("Content-Type", content_type),
            ("Cache-Control", "no-store"),
            ("Connection", "close"),
        ]
    )
    headers["Content-Length"] = str(len(content))
    return Response(status.value, status.phrase, headers, content)
