"""Server-Sent Events on the wire (the WHATWG `text/event-stream` format), and the response
that streams them.

`EventStream` is Litestar's `Stream` with what a long-lived stream needs here:

- a send that has not completed after `send_timeout` ends the stream (it is noticed within
  half as long again): a client that stops reading (its TCP window full) is cut off, never
  waited on forever;
- `on_close` runs however the stream ends (finished, client gone, cut off, never started),
  so what the stream holds (a subscription, a slot of a connection cap) is released at once;
- a HEAD (run as GET by `HttpMethodSemantics`) gets the headers and no stream;
- its `http.response.start` passes every outer layer (headers, status, metrics); its frames
  go straight to the server (`context.body_send`): a fan-out writes one per stream per
  event, and each layer's `send` wrapper was a coroutine call on each;
- the headers say: not cached, not buffered by a proxy (`X-Accel-Buffering: no`);
- with `writes` (`BodyWrites`), whoever makes the frames may also write one at once, while
  the stream waits for its next: a fan-out's event goes out from the fan-out itself, where
  waking each stream's task to send it was most of its cost. The chunks keep their order.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec
from anyio import create_task_group
from litestar.response import Stream
from litestar.response.streaming import ASGIStreamingResponse

from waymark.transport.http.context import body_send
from waymark.transport.http.methods import is_head

if TYPE_CHECKING:
    from litestar.connection import Request
    from litestar.response.base import ASGIResponse
    from litestar.types import Message, Receive, Scope, Send

MEDIA_TYPE = "text/event-stream"
HEADERS = {"cache-control": "no-store", "x-accel-buffering": "no"}
HEARTBEAT = b": keep-alive\n\n"


def frame(*, event: str | None = None, data: Any = None, id: str | None = None) -> bytes:
    """One event: `id:`, `event:` and `data:` (JSON, on one line) lines, then a blank line."""
    lines = fields(event=event, data=data)
    return lines if id is None else with_id(id, lines)


def fields(*, event: str | None = None, data: Any = None) -> bytes:
    """An event's frame without its `id:` line: what a fan-out's streams share."""
    head = b"" if event is None else f"event: {event}\n".encode()
    return head + b"data: " + msgspec.json.encode(data) + b"\n\n"


def with_id(id: str, lines: bytes) -> bytes:
    """The frame of `lines` (from `fields`) with its `id:` line."""
    return b"id: " + id.encode() + b"\n" + lines


def retry(milliseconds: int) -> bytes:
    """How long a client waits before it reconnects."""
    return f"retry: {milliseconds}\n\n".encode()


class BodyWrites:
    """A stream's body chunks: those its loop sends (`send`, awaited) and those written at
    once from elsewhere (`write`, not awaited) while the loop waits for its next chunk.

    `write` works with a server whose `send` hands a chunk over as it is called (Granian:
    it returns an awaitable already done, or a future that completes by itself once the
    chunk is flushed); with one whose `send` is a coroutine to await, `write` says False and
    everything takes the loop. One chunk at most is in flight: Granian reorders chunks sent
    while earlier ones still wait, so a write or send after one waits until it has landed,
    and a chunk that does not land within the stream's `send_timeout` ends the stream as a
    hung send does (the client stopped reading)."""

    def __init__(self) -> None:
        self._send: Send | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._landed = asyncio.Event()
        self._landed.set()
        self.busy_since: float | None = None
        """When the send or write in progress began (the watchdog's clock); None if none."""

    def bind(self, send: Send | None) -> None:
        """Write with `send` from now (the body started); None: no more (it ended)."""
        self._send = send
        self._loop = asyncio.get_running_loop() if send is not None else None

    def write(self, body: bytes) -> bool:
        """Write `body` now, if nothing is in flight and the server takes it without being
        awaited: True; False, and nothing written, otherwise."""
        send, loop = self._send, self._loop
        if send is None or loop is None or self.busy_since is not None:
            return False
        try:
            sent = send({"type": "http.response.body", "body": body, "more_body": True})
        except OSError:  # the client is gone: the loop's own send finds it so and ends
            return False
        if inspect.iscoroutine(sent):
            sent.close()  # not begun: nothing written, and never will be this way
            self._send = None
            return False
        if asyncio.isfuture(sent) and not sent.done():
            self.busy_since = loop.time()
            self._landed.clear()
            sent.add_done_callback(self._land)
        return True

    def _land(self, _: object) -> None:
        self.busy_since = None
        self._landed.set()

    async def send(self, send: Send, message: Message) -> None:
        """`message` sent with `send`, after what `write` put in flight has landed."""
        loop = asyncio.get_running_loop()
        while not self._landed.is_set():
            await self._landed.wait()
        self.busy_since = loop.time()
        try:
            await send(message)
        finally:
            self.busy_since = None


class EventStream(Stream):
    def __init__(
        self,
        frames: AsyncIterator[bytes],
        *,
        on_close: Callable[[], Awaitable[None]],
        send_timeout: float,
        headers: Mapping[str, str] | None = None,
        writes: BodyWrites | None = None,
    ) -> None:
        super().__init__(frames, media_type=MEDIA_TYPE, headers={**HEADERS, **(headers or {})})
        self.on_close = on_close
        self.send_timeout = send_timeout
        self.writes = writes

    def to_asgi_response(
        self, app: Any, request: Request[Any, Any, Any], **kwargs: Any
    ) -> ASGIResponse:
        kwargs["headers"] = {**(kwargs.get("headers") or {}), **self.headers}
        kwargs.pop("media_type", None)
        return _Streaming(
            iterator=self.iterator,
            on_close=self.on_close,
            send_timeout=self.send_timeout,
            writes=self.writes or BodyWrites(),
            media_type=MEDIA_TYPE,
            status_code=self.status_code or kwargs.pop("status_code", None) or 200,
            headers=kwargs["headers"],
            cookies=kwargs.get("cookies"),
            encoded_headers=kwargs.get("encoded_headers"),
        )


class _Streaming(ASGIStreamingResponse):
    __slots__ = ("on_close", "send_timeout", "writes")

    def __init__(
        self,
        *,
        on_close: Callable[[], Awaitable[None]],
        send_timeout: float,
        writes: BodyWrites,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.on_close = on_close
        self.send_timeout = send_timeout
        self.writes = writes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.start_response(send)
            if is_head(scope):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            # The start went through every layer (headers, status); the frames need not.
            await self.send_body(body_send(scope, send), receive)
            await self.after_response()
        finally:
            closing = self.iterator
            if hasattr(closing, "aclose"):
                await closing.aclose()
            await self.on_close()

    async def send_body(self, send: Send, receive: Receive) -> None:
        loop = asyncio.get_running_loop()
        writes = self.writes
        watchdog: asyncio.TimerHandle

        async with create_task_group() as group:

            async def stream_then_stop() -> None:
                # Litestar's `_stream`, each send watched (`writes.busy_since`).
                async for chunk in self.iterator:
                    body = chunk if isinstance(chunk, bytes) else chunk.encode()
                    await writes.send(
                        send, {"type": "http.response.body", "body": body, "more_body": True}
                    )
                writes.bind(None)
                await writes.send(
                    send, {"type": "http.response.body", "body": b"", "more_body": False}
                )
                group.cancel_scope.cancel()  # stop listening for a disconnect too

            def watch() -> None:
                # One timer per stream, checking every half `send_timeout` whether a send
                # has hung that long (the client stopped reading): a timeout around each
                # send armed and cancelled a timer per frame, a fan-out's largest cost.
                nonlocal watchdog
                since = writes.busy_since
                if since is not None and loop.time() - since >= self.send_timeout:
                    group.cancel_scope.cancel()
                    return
                watchdog = loop.call_later(self.send_timeout / 2, watch)

            watchdog = loop.call_later(self.send_timeout / 2, watch)
            writes.bind(send)
            try:
                group.start_soon(stream_then_stop)
                await self._listen_for_disconnect(cancel_scope=group.cancel_scope, receive=receive)
            finally:
                writes.bind(None)
                watchdog.cancel()
