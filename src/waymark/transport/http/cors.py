"""CORS for other front-ends: browsers on the origins an operator lists may call the API with
credentials (a session cookie or a Bearer token); everyone else gets no CORS header at all.

An allow list, never a wildcard or an echo of any `Origin`: with credentials allowed, a
wildcard would let any site act as its visitors. The layer answers preflights itself (they
carry no credentials, so nothing below has anything to say about them) and caches them in
the browser for `max_age` seconds. `Vary: Origin` goes on every answer of the paths it
covers while the list is not empty, allowed origin or not, so no cache hands one origin's
answer to another.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from litestar.enums import ScopeType

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

ALLOWED_METHODS = b"GET, HEAD, POST, PUT, PATCH, DELETE"
ALLOWED_HEADERS = b"authorization, content-type, if-none-match, x-csrf-token, x-request-id"
EXPOSED_HEADERS = (
    b"etag, location, retry-after, ratelimit, ratelimit-policy, x-csrf-token, x-request-id"
)
_PREFLIGHT_VARY = b"origin, access-control-request-method, access-control-request-headers"


class CrossOriginAccess:
    def __init__(
        self,
        app: ASGIApp,
        *,
        origins: Collection[str],
        max_age: int,
        path_prefixes: tuple[str, ...] = ("/api/", "/.well-known/"),
    ) -> None:
        self.app = app
        self.origins = frozenset(origin.encode() for origin in origins)
        self.max_age = str(max_age).encode()
        self.path_prefixes = path_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != ScopeType.HTTP
            or not self.origins
            or not scope["path"].startswith(self.path_prefixes)
        ):
            await self.app(scope, receive, send)
            return
        origin = _header(scope, b"origin") or b""
        allowed = origin in self.origins
        if (
            allowed
            and scope["method"] == "OPTIONS"
            and _header(scope, b"access-control-request-method") is not None
        ):
            await self._preflight(origin, send)
            return
        cors: list[tuple[bytes, bytes]] = (
            [
                (b"access-control-allow-origin", origin),
                (b"access-control-allow-credentials", b"true"),
                (b"access-control-expose-headers", EXPOSED_HEADERS),
            ]
            if allowed
            else []
        )

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = _with_vary(list(message.get("headers") or ()), b"origin")
                message["headers"] = headers + cors
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(self, origin: bytes, send: Send) -> None:
        headers = [
            (b"access-control-allow-origin", origin),
            (b"access-control-allow-credentials", b"true"),
            (b"access-control-allow-methods", ALLOWED_METHODS),
            (b"access-control-allow-headers", ALLOWED_HEADERS),
            (b"access-control-max-age", self.max_age),
            (b"vary", _PREFLIGHT_VARY),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _header(scope: Scope, wanted: bytes) -> bytes | None:
    return next((value for name, value in scope["headers"] if name == wanted), None)


def _with_vary(headers: list[tuple[bytes, bytes]], field: bytes) -> list[tuple[bytes, bytes]]:
    """`headers` with `field` named in `Vary` (added to one already there)."""
    for i, (name, value) in enumerate(headers):
        if name.lower() == b"vary":
            if field not in value.lower():
                headers[i] = (name, value + b", " + field)
            return headers
    return [*headers, (b"vary", field)]
