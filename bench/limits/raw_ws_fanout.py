"""Limit for `ws-fanout`: a raw `websockets` server broadcasting the same bytes to the same
connections (issue 14: "a raw `websockets` server broadcasting the same bytes").

    python -m bench.limits.raw_ws_fanout --port PORT

A connection is greeted as the app greets one (`ready`) and answers a `subscribe` with
`subscribed`, so the subscribers cannot tell it from the app; every message received on
`/publish` (an event frame the app sent, captured by the subscribers) goes to every other
connection with `websockets.broadcast`, then is acknowledged. `GET /readyz` answers 200.
No ticket, database or broker. On uvloop, as the app is.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import ServerConnection, broadcast, serve

READY = '{"type":"ready","channels":[],"cursor":""}'
SUBSCRIBED = '{"type":"subscribed","channel":"team:limit","cursor":""}'

subscribers: set[ServerConnection] = set()


async def handler(socket: ServerConnection) -> None:
    if socket.request is not None and socket.request.path.startswith("/publish"):
        async for message in socket:
            broadcast(subscribers, message)
            await socket.send("ok")
        return
    await socket.send(READY)
    subscribers.add(socket)
    try:
        async for message in socket:
            if '"subscribe"' in str(message):
                await socket.send(SUBSCRIBED)
    finally:
        subscribers.discard(socket)


def answer_http(connection: ServerConnection, request: Any) -> Any:
    if request.path == "/readyz":
        return connection.respond(HTTPStatus.OK, "ok\n")
    return None


async def main(port: int) -> None:
    async with serve(
        handler,
        "127.0.0.1",
        port,
        process_request=answer_http,
        ping_interval=None,
        compression=None,
        max_size=2**16,
    ) as server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    with contextlib.suppress(KeyboardInterrupt):
        try:
            import uvloop

            uvloop.run(main(port))
        except ImportError:
            asyncio.run(main(port))
