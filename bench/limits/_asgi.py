"""The few ASGI helpers the limit apps share; deliberately nothing more than they need."""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

# Headers the server sets itself, or that describe one particular body.
SERVER_HEADERS = frozenset({"date", "server", "content-length", "transfer-encoding", "connection"})


def load_config() -> dict[str, Any]:
    path = os.environ.get("BENCH_LIMIT_CONFIG")
    if not path:
        raise RuntimeError("BENCH_LIMIT_CONFIG must name the limit's JSON configuration file")
    config: dict[str, Any] = json.loads(Path(path).read_text())
    return config


def encode_headers(pairs: list[list[str]], body_length: int | None = None) -> Headers:
    """Raw ASGI headers from [name, value] pairs, plus content-length when a body follows."""
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in pairs
        if name.lower() not in SERVER_HEADERS
    ]
    if body_length is not None:
        headers.append((b"content-length", str(body_length).encode()))
    return headers


async def respond(send: Send, status: int, headers: Headers, body: bytes = b"") -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


NOT_FOUND_HEADERS: Headers = [(b"content-type", b"text/plain"), (b"content-length", b"9")]
READY_HEADERS: Headers = [(b"content-type", b"text/plain"), (b"content-length", b"2")]


async def lifespan(
    receive: Receive,
    send: Send,
    startup: Callable[[], Awaitable[None]] | None = None,
    shutdown: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Answer the ASGI lifespan protocol, running `startup`/`shutdown` if given."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                if startup is not None:
                    await startup()
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                raise
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if shutdown is not None:
                await shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return
