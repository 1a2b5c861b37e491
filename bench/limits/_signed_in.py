"""The plumbing of a limit for a signed-in route, so that each such limit is only what its
route does: the configuration, the caller (`_bearer.Bearer`), a PostgreSQL pool of the app's
size opened at startup (asyncpg, every connection kept, nothing reset on release), and the
ASGI entry point (lifespan, `/readyz`, the route's answer sent).

Configuration keys it reads: `database_url`, `pool_size`, `redis_url`, `headers` (the app's
response headers for the route, sent as they are but for content-length and the ETag, which
the route gives), and what `Bearer` reads (none of it for a limit of cookie callers, whose
configuration has no `jwks`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from bench.limits import _asgi
from bench.limits._asgi import Headers, Receive, Scope, Send
from bench.limits._bearer import Bearer, Claims, authorization

Answer = tuple[int, Headers, bytes]
Route = Callable[[Scope, Receive], Awaitable[Answer]]


def text(status: int, message: bytes) -> Answer:
    """A plain-text answer (refusals: the harness compares only the expected status's bodies)."""
    return (
        status,
        [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(message))],
        message,
    )


UNAUTHORIZED = text(401, b"unauthorized")
NOT_FOUND = text(404, b"not found")


async def _no_reset(_conn: Any) -> None:
    return None


class SignedInLimit:
    def __init__(self) -> None:
        self.config = _asgi.load_config()
        self.bearer = Bearer(self.config) if "jwks" in self.config else None
        """None for a limit whose callers come with a session cookie (`_session.py`)."""
        self.base_headers = _asgi.encode_headers(
            [h for h in self.config["headers"] if h[0].lower() != "etag"]
        )
        self.pool: Any = None
        self.on_startup: list[Callable[[Any], Awaitable[None]]] = []
        """Called with the pool once it is open (to read what the limit keeps in memory)."""

    async def caller(self, scope: Scope) -> tuple[uuid.UUID, Claims] | None:
        assert self.bearer is not None
        return await self.bearer.caller(authorization(scope), time.time())

    def ok(self, body: bytes, etag: str | None = None) -> Answer:
        """200 with the app's headers, `etag` and the body's length."""
        headers = [*self.base_headers, (b"content-length", b"%d" % len(body))]
        if etag is not None:
            headers.append((b"etag", etag.encode()))
        return 200, headers, body

    async def _startup(self) -> None:
        import asyncpg

        dsn = self.config["database_url"].replace("postgresql+asyncpg://", "postgresql://", 1)
        self.pool = await asyncpg.create_pool(
            dsn,
            min_size=self.config["pool_size"],
            max_size=self.config["pool_size"],
            max_queries=2**31,
            reset=_no_reset,
        )
        for hook in self.on_startup:
            await hook(self.pool)
        if self.bearer is not None:
            await self.bearer.open(self.config["redis_url"])

    async def _shutdown(self) -> None:
        if self.bearer is not None:
            self.bearer.close()
        if self.pool is not None:
            await self.pool.close()

    def serve(self, route: Route) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
        """The ASGI app: lifespan and `/readyz` here, every other request to `route`."""

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "lifespan":
                await _asgi.lifespan(receive, send, self._startup, self._shutdown)
                return
            if scope["path"] == "/readyz":
                await _asgi.respond(send, 200, _asgi.READY_HEADERS, b"ok")
                return
            await _asgi.respond(send, *await route(scope, receive))

        return app
