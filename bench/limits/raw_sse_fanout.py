"""Limit for `sse-fanout`: the same event bytes broadcast to the same open streams, with no
work between: no token, no database, no broker.

`GET /events` opens a `text/event-stream` (the app's headers, `retry:` and a `ready` frame),
whose bytes come from a bounded queue of its own; `POST /publish` puts its body (an event
frame the app sent, captured by the subscribers) on every stream's queue, and a stream whose
queue is full is ended, as the app ends a slow consumer. Configuration: `queue_size`.
"""

from __future__ import annotations

import asyncio
import contextlib

from bench.limits._asgi import (
    NOT_FOUND_HEADERS,
    READY_HEADERS,
    Receive,
    Scope,
    Send,
    lifespan,
    load_config,
    respond,
)

_config = load_config()
QUEUE_SIZE: int = int(_config.get("queue_size", 256))
STREAM_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),
]
OPENING = b'retry: 3000\n\nid: 0\nevent: ready\ndata: {"channels":[]}\n\n'
NO_CONTENT: list[tuple[bytes, bytes]] = []

streams: set[asyncio.Queue[bytes | None]] = set()


async def _stream(receive: Receive, send: Send) -> None:
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_SIZE)
    await send({"type": "http.response.start", "status": 200, "headers": STREAM_HEADERS})
    await send({"type": "http.response.body", "body": OPENING, "more_body": True})

    async def gone() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        queue.put_nowait(None)

    watcher = asyncio.create_task(gone())
    streams.add(queue)
    try:
        while (frame := await queue.get()) is not None:
            await send({"type": "http.response.body", "body": frame, "more_body": True})
    finally:
        streams.discard(queue)
        watcher.cancel()
        with contextlib.suppress(BaseException):
            await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _publish(receive: Receive, send: Send) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    for queue in list(streams):
        try:
            queue.put_nowait(body)
        except asyncio.QueueFull:
            streams.discard(queue)
            queue.get_nowait()
            queue.put_nowait(None)  # a slow consumer: its stream ends
    await respond(send, 204, NO_CONTENT)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
        return
    path = scope["path"]
    if path == "/events":
        await _stream(receive, send)
    elif path == "/publish" and scope["method"] == "POST":
        await _publish(receive, send)
    elif path == "/readyz":
        await respond(send, 200, READY_HEADERS, b"ok")
    else:
        await respond(send, 404, NOT_FOUND_HEADERS, b"not found")
