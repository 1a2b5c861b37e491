"""Limit for `roadmap-get` and `roadmap-get-304`: fixed bytes from memory, or a 304.

Configuration (written by `bench/scenarios/_roadmap.py` from the running app):
`path`, `body_file` (the app's exact response body), `etag`, `headers` and
`not_modified_headers` (the app's own response headers, [name, value] pairs). A request whose
`If-None-Match` equals the ETag gets the 304 with the same headers the app sends with its 304.
"""

from __future__ import annotations

from pathlib import Path

from bench.limits._asgi import (
    NOT_FOUND_HEADERS,
    READY_HEADERS,
    Receive,
    Scope,
    Send,
    encode_headers,
    lifespan,
    load_config,
    respond,
)

_config = load_config()
PATH: str = _config["path"]
BODY = Path(_config["body_file"]).read_bytes()
ETAG = str(_config["etag"]).encode("latin-1")
OK_HEADERS = encode_headers(_config["headers"], len(BODY))
NOT_MODIFIED_HEADERS = encode_headers(_config["not_modified_headers"])


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
        return
    path = scope["path"]
    if path == PATH:
        for name, value in scope["headers"]:
            if name == b"if-none-match" and value == ETAG:
                await respond(send, 304, NOT_MODIFIED_HEADERS)
                return
        await respond(send, 200, OK_HEADERS, BODY)
    elif path == "/readyz":
        await respond(send, 200, READY_HEADERS, b"ok")
    else:
        await respond(send, 404, NOT_FOUND_HEADERS, b"not found")
