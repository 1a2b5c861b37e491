"""The outermost ASGI layer: request id, security headers, metrics and the access log.

It wraps Litestar's own exception handling, so every response (404s for unknown paths and
405s included) gets an `X-Request-ID`, the security headers, and a line in the metrics keyed
by the route template, never the raw path.

The Content-Security-Policy follows what the response is: an HTML page gets the pages'
policy (scripts, styles, images and forms of our own origin only, nothing inline), the API
docs page the one Swagger UI needs, and everything else (JSON, problems, static files)
`default-src 'none'`.

Every layer that wraps `send` (this one, CORS, HEAD's, Litestar's exception handling) acts on
`http.response.start` alone and passes the body on as it is. A long-lived stream (Server-Sent
Events) sends its start through them all, then its body chunks straight to the server
(`body_send`): one coroutine call per layer per chunk was a fan-out's cost on every stream
of every event, for nothing. What the layers guarantee is unchanged: the headers are on the
start, the status and latency are taken from it, the request is counted once when it ends.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from typing import TYPE_CHECKING

import structlog
from litestar.enums import ScopeType

from waymark.kernel.context import reset_request_id, set_request_id

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

    from waymark.infra.observability.metrics import HttpMetrics

_VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
# W3C Trace Context, version 00: trace id and parent id not all zeros.
_VALID_TRACEPARENT = re.compile(rb"^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$")
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "<unmatched>"
_SERVER_SEND = "waymark.server_send"

_COMMON_HEADERS: list[tuple[bytes, bytes]] = [
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
API_CSP = b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
# Server-rendered pages: their own scripts and styles, as files; no inline code, no `unsafe-*`.
PAGE_CSP = (
    b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    b"font-src 'self'; connect-src 'self'; manifest-src 'self'; form-action 'self'; "
    b"base-uri 'none'; frame-ancestors 'none'; object-src 'none'"
)
# The API docs page runs Swagger UI, served from our own origin.
DOCS_CSP = (
    b"default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: HttpMetrics,
        access_log_enabled: bool,
        docs_prefix: str = "/schema",
    ) -> None:
        self.app = app
        self.metrics = metrics
        # Bound once, under the logging configured by then (`create_app` does it first): a
        # module-level lazy proxy re-binds, and looks up its stdlib logger, on every call,
        # which was 7% of a cached roadmap's answer (bench/results/profiles).
        self.access_log = (
            structlog.get_logger("waymark.access").bind() if access_log_enabled else None
        )
        self.docs_prefix = docs_prefix
        # Unique, not secret: a random per-process prefix and a counter (no syscall a request).
        self._id_prefix = secrets.token_hex(8)
        self._id_counter = itertools.count(1)

    def _new_request_id(self) -> str:
        return f"{self._id_prefix}{next(self._id_counter):016x}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return

        # Read now: the layers below may rewrite it (HEAD is run as GET).
        method = scope["method"]
        request_id, traceparent = _incoming(scope)
        request_id = request_id or self._new_request_id()
        token = set_request_id(request_id, traceparent)
        scope[_SERVER_SEND] = send  # type: ignore[literal-required]
        docs = scope["path"].startswith(self.docs_prefix)
        extra_headers = [(b"x-request-id", request_id.encode())]
        status = 500
        started = time.perf_counter()
        answered: float | None = None

        async def send_with_context(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers") or ())
                if _streams_events(headers):
                    answered = time.perf_counter()
                headers.extend(extra_headers)
                headers.append((b"content-security-policy", _csp(headers, docs=docs)))
                headers.extend(_COMMON_HEADERS)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_context)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("path_template") or UNMATCHED_ROUTE
            # A stream of events lasts as long as its client stays: its latency is the time
            # to its first byte (the access log says how long it was open).
            latency = elapsed if answered is None else answered - started
            self.metrics.observe(
                method if method in _KNOWN_METHODS else "OTHER", route, status, latency
            )
            if self.access_log is not None:
                self.access_log.info(
                    "request",
                    method=method,
                    path=scope["path"],
                    route=route,
                    status=status,
                    duration_ms=round(elapsed * 1000, 3),
                )
            reset_request_id(token)


def body_send(scope: Scope, send: Send) -> Send:
    """What a streaming response sends its body chunks with, once its `http.response.start`
    went through `send`: the server's own (see the module's doc), else `send` itself (an
    app built without this layer, in tests)."""
    found: Send | None = scope.get(_SERVER_SEND)  # type: ignore[assignment]
    return found or send


def _streams_events(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(
        name == b"content-type" and value.startswith(b"text/event-stream")
        for name, value in headers
    )


def name_route(scope: Scope, template: str) -> None:
    """Say which route answered, for a layer that answers before Litestar routes (which
    names the route in the same scope key): metrics and the access log label by it."""
    scope["path_template"] = template


def _csp(headers: list[tuple[bytes, bytes]], *, docs: bool) -> bytes:
    if docs:
        return DOCS_CSP
    content_type = next((value for name, value in headers if name == b"content-type"), b"")
    return PAGE_CSP if content_type.startswith(b"text/html") else API_CSP


def _incoming(scope: Scope) -> tuple[str | None, str | None]:
    """The caller's X-Request-ID and W3C `traceparent`, each if well formed, in one pass."""
    request_id = traceparent = None
    for name, value in scope["headers"]:
        if name == b"x-request-id" and _VALID_REQUEST_ID.match(value):
            request_id = value.decode()
        elif name == b"traceparent" and _VALID_TRACEPARENT.match(value):
            traceparent = value.decode()
    return request_id, traceparent
