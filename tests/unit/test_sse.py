"""The SSE response: a client that stops reading is cut off after the send timeout, a
client that goes away ends the stream, and either way what the stream held is released;
HEAD gets the headers only; the frames skip the outer layers' `send` wrappers, the start
does not. The subscription's own bound (a slow consumer cut off) is the
live channels' contract (tests/contract/test_live_channels.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient

from waymark.infra.observability.metrics import HttpMetrics
from waymark.transport.http import sse
from waymark.transport.http.context import API_CSP, RequestContextMiddleware
from waymark.transport.http.methods import HttpMethodSemantics


class Frames:
    def __init__(self) -> None:
        self.closed = asyncio.Event()
        self.sent = 0

    async def endless(self) -> AsyncIterator[bytes]:
        while True:
            self.sent += 1
            yield sse.frame(id=str(self.sent), event="tick", data={"n": self.sent})
            await asyncio.sleep(0)

    async def close(self) -> None:
        self.closed.set()


def app_streaming(frames: Frames, *, send_timeout: float = 0.3) -> Litestar:
    @get("/events", media_type=sse.MEDIA_TYPE)
    async def events() -> sse.EventStream:
        return sse.EventStream(frames.endless(), on_close=frames.close, send_timeout=send_timeout)

    return Litestar([events])


def scope(method: str = "GET") -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/events",
        "raw_path": b"/events",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 80),
        "state": {},
    }


async def never_disconnects() -> dict[str, Any]:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def test_a_client_that_stops_reading_is_cut_off_and_released() -> None:
    frames = Frames()
    app = app_streaming(frames)
    messages: list[dict[str, Any]] = []

    async def full_socket(message: dict[str, Any]) -> None:
        messages.append(message)
        if len(messages) > 5:  # the client's window is full: this send never completes
            await asyncio.Event().wait()

    started = time.monotonic()
    await asyncio.wait_for(app(scope(), never_disconnects, full_socket), 5)  # type: ignore[arg-type]
    assert time.monotonic() - started < 2
    assert frames.closed.is_set()
    assert messages[0]["status"] == 200
    headers = dict(messages[0]["headers"])
    assert headers[b"content-type"].startswith(b"text/event-stream")
    assert headers[b"cache-control"] == b"no-store"
    assert headers[b"x-accel-buffering"] == b"no"
    assert messages[1]["body"] == b'id: 1\nevent: tick\ndata: {"n":1}\n\n'
    assert frames.sent < 10


async def test_a_client_that_goes_away_ends_the_stream_at_once() -> None:
    frames = Frames()
    app = app_streaming(frames, send_timeout=30)
    gone = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and frames.sent >= 3:
            gone.set()
        await asyncio.sleep(0)

    await asyncio.wait_for(app(scope(), receive, send), 5)  # type: ignore[arg-type]
    assert frames.closed.is_set()


@pytest.mark.parametrize("method", ["HEAD"])
async def test_head_gets_the_headers_and_no_stream(method: str) -> None:
    frames = Frames()
    app = app_streaming(frames)
    app.asgi_handler = HttpMethodSemantics(app.asgi_handler, methods_of=lambda _: ["GET"])
    async with AsyncTestClient(app) as client:
        response = await asyncio.wait_for(client.head("/events"), 5)
    assert response.status_code == 200
    assert response.content == b""
    assert frames.sent == 0
    assert frames.closed.is_set()


class Spy:
    """A layer between the outermost and the app whose `send` wrapper notes what passes
    through it (as CORS's, HEAD's and Litestar's do)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.passed: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def spying(message: dict[str, Any]) -> None:
            self.passed.append(message["type"])
            await send(message)

        await self.app(scope, receive, spying)


async def test_frames_go_straight_to_the_server_after_a_start_through_every_layer() -> None:
    frames = Frames()
    spy = Spy(app_streaming(frames, send_timeout=30))
    metrics = HttpMetrics()
    outermost = RequestContextMiddleware(spy, metrics=metrics, access_log_enabled=False)
    server: list[dict[str, Any]] = []
    gone = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        server.append(message)
        if len(server) >= 4:
            gone.set()
        await asyncio.sleep(0)

    await asyncio.wait_for(outermost(scope(), receive, send), 5)  # type: ignore[arg-type]
    assert spy.passed == ["http.response.start"]
    headers = dict(server[0]["headers"])
    assert headers[b"content-security-policy"] == API_CSP
    assert b"x-request-id" in headers
    assert server[1]["body"] == b'id: 1\nevent: tick\ndata: {"n":1}\n\n'
    assert [message["type"] for message in server[1:4]] == ["http.response.body"] * 3
    assert frames.closed.is_set()
    labels = {"method": "GET", "route": "/events", "status": "200"}
    assert metrics.registry.get_sample_value("waymark_http_requests_total", labels) == 1


class EagerServer:
    """A server whose `send` hands a chunk over as it is called (as Granian's does): it
    returns a future, done at once unless `holding` (the client's window is full), then
    done when `release` is called."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.holding = False
        self.held: list[asyncio.Future[None]] = []

    def send(self, message: dict[str, Any]) -> asyncio.Future[None]:
        if message["type"] == "http.response.body":
            self.bodies.append(message["body"])
        landed = asyncio.get_running_loop().create_future()
        if self.holding:
            self.held.append(landed)
        else:
            landed.set_result(None)
        return landed

    def release(self) -> None:
        self.holding = False
        for landed in self.held:
            landed.set_result(None)


def app_of(stream: sse.EventStream) -> RequestContextMiddleware:
    """The stream behind the outer layers, which hand its body the server's own `send`."""

    @get("/events", media_type=sse.MEDIA_TYPE)
    async def events() -> sse.EventStream:
        return stream

    return RequestContextMiddleware(
        Litestar([events]), metrics=HttpMetrics(), access_log_enabled=False
    )


async def two_frames_apart(idle: asyncio.Event, between: asyncio.Event) -> AsyncIterator[bytes]:
    yield b"a"
    idle.set()  # `a` sent: the stream waits for its next frame
    await between.wait()
    yield b"b"


async def test_writes_between_frames_go_out_in_order_one_in_flight_at_a_time() -> None:
    server, writes = EagerServer(), sse.BodyWrites()
    idle, between, closed = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def close() -> None:
        closed.set()

    stream = sse.EventStream(
        two_frames_apart(idle, between), on_close=close, send_timeout=30, writes=writes
    )
    app = app_of(stream)
    assert not writes.write(b"early")  # before the body starts: nothing
    running = asyncio.ensure_future(app(scope(), never_disconnects, server.send))  # type: ignore[arg-type]
    await asyncio.wait_for(idle.wait(), 5)
    assert writes.write(b"x")
    server.holding = True
    assert writes.write(b"y")  # handed over, not landed yet
    assert not writes.write(b"z")  # one in flight at a time
    between.set()  # the stream's own next frame waits for `y` to land
    await asyncio.sleep(0.1)
    assert server.bodies == [b"a", b"x", b"y"]
    server.release()
    await asyncio.wait_for(running, 5)
    assert server.bodies == [b"a", b"x", b"y", b"b", b""]
    assert closed.is_set()
    assert not writes.write(b"late")  # the body ended


async def test_a_write_that_never_lands_cuts_the_stream_off() -> None:
    server, writes = EagerServer(), sse.BodyWrites()
    frames = Frames()
    idle, waiting = asyncio.Event(), asyncio.Event()

    async def one_then_wait() -> AsyncIterator[bytes]:
        yield b"a"
        idle.set()
        await waiting.wait()
        yield b"never"

    stream = sse.EventStream(
        one_then_wait(), on_close=frames.close, send_timeout=0.3, writes=writes
    )
    app = app_of(stream)
    running = asyncio.ensure_future(app(scope(), never_disconnects, server.send))  # type: ignore[arg-type]
    await asyncio.wait_for(idle.wait(), 5)
    server.holding = True
    assert writes.write(b"x")
    started = time.monotonic()
    await asyncio.wait_for(running, 5)
    assert time.monotonic() - started < 2
    assert frames.closed.is_set()


async def test_a_server_whose_send_must_be_awaited_gets_no_writes() -> None:
    sent: list[dict[str, Any]] = []
    writes = sse.BodyWrites()

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    writes.bind(send)  # type: ignore[arg-type]
    assert not writes.write(b"x")
    assert not writes.write(b"y")
    assert sent == []
