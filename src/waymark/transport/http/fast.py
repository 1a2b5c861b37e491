"""Hot GET routes answered before routing, by the same code as their Litestar routes.

On the signed-in path, Litestar's routing, dependency injection, signature model and
response objects cost more than the work of the route itself: on `GET /api/v1/me` they were
more than half of the worker's time (bench/README.md). A `FastRoute` answers a few hot GETs
in front of the router: it matches the route's path template, checks each path parameter
against the pattern the route's own parameter declares (anything else goes on to Litestar,
which answers the validation problem), finds the caller with the same `RequestIdentity`,
and runs an `answer` function that the feature's Litestar handler calls too, so both answer
from one place.

What the fast path answers is what the route would, byte for byte (a test sends every fast
route's requests, good and bad, through both). It answers errors itself (`WaymarkError` as
the same problem+json); `answer` returns None for anything it leaves to Litestar. It never
stands in front of a route with guards, which it would skip: `FastRoutes` refuses to be built
then, and refuses a template that no route of the app has. The layers outside it (request
id, security headers, metrics by route template, the access log, load shedding, HEAD as
GET) see it as any route.

`WAYMARK_HTTP__FAST_ROUTES=false` turns it off: Litestar then answers everything.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request
from litestar.enums import ScopeType

from waymark.kernel.errors import WaymarkError
from waymark.transport.http.context import name_route
from waymark.transport.http.problems import problem_answer

if TYPE_CHECKING:
    from litestar.handlers import BaseRouteHandler
    from litestar.types import (
        ASGIApp,
        HTTPRequestEvent,
        HTTPScope,
        Receive,
        ReceiveMessage,
        Scope,
        Send,
    )

    from waymark.kernel.identity import Principal
    from waymark.transport.http.identity import RequestIdentity

Answer = tuple[int, Mapping[str, str], bytes]
"""Status, headers (content-length is added) and body."""

_encode_json = msgspec.json.Encoder().encode
JSON_HEADERS = {"content-type": "application/json"}


def json_answer(value: Any, headers: Mapping[str, str] | None = None, status: int = 200) -> Answer:
    """`value` as JSON, as Litestar encodes a handler's return value (msgspec)."""
    return status, {**JSON_HEADERS, **(headers or {})}, _encode_json(value)


class FastRequest:
    """What an `answer` function can read of the request."""

    __slots__ = ("_identity", "_max_body", "_receive", "body_read", "complete", "params", "scope")

    def __init__(
        self,
        scope: HTTPScope,
        receive: Receive,
        params: dict[str, str],
        identity: RequestIdentity,
        max_body: int,
    ) -> None:
        self.scope = scope
        self.params = params
        self._receive = receive
        self._identity = identity
        self._max_body = max_body
        self.body_read = b""
        self.complete = False
        """Whether `body_read` is the whole body."""

    async def body(self) -> bytes | None:
        """The whole body, or None past the app's cap on bodies (Litestar then answers)."""
        declared = self.header(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self._max_body):
            return None
        chunks = [self.body_read]
        size = len(self.body_read)
        while not self.complete:
            message = await self._receive()
            if message["type"] != "http.request":
                return None  # the client went away: Litestar's own handling
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            self.complete = not message.get("more_body", False)
            self.body_read = b"".join(chunks)
            if size > self._max_body:
                return None
        return self.body_read

    def receive_again(self) -> Receive:
        """`receive` for Litestar, starting with what was read of the body here."""
        if not self.body_read and not self.complete:
            return self._receive
        replayed = False

        async def receive() -> ReceiveMessage:
            nonlocal replayed
            if replayed:
                return await self._receive()
            replayed = True
            again: HTTPRequestEvent = {
                "type": "http.request",
                "body": self.body_read,
                "more_body": not self.complete,
            }
            return again

        return receive

    def header(self, name: bytes) -> str | None:
        """The first value of header `name` (lower case), or None."""
        for key, value in self.scope["headers"]:
            if key == name:
                return value.decode("latin-1")
        return None

    async def caller(self) -> Principal:
        """The authenticated caller, exactly as the routes' `principal` dependency finds it."""
        return await self._identity.principal_of(
            authorization=self.header(b"authorization"),
            cookie=self.header(b"cookie"),
            method=self.scope["method"],
            csrf_header=self.header(b"x-csrf-token"),
        )


@dataclass(frozen=True)
class FastRoute:
    """A GET route that may be answered before routing.

    `template` is the Litestar route's path (`/api/v1/me/progress/{slug}`); `params` gives
    each placeholder the pattern its value must match in full for the fast path to answer
    (what the route's parameter declares: length, characters). `answer` returns None to
    leave the request to Litestar, with what it read of the body given back. GET also
    answers HEAD (the layer outside runs HEAD as GET).
    """

    template: str
    answer: Callable[[FastRequest], Awaitable[Answer | None]]
    params: Mapping[str, str] = field(default_factory=dict)
    method: str = "GET"
    before_request: tuple[Callable[[Request[Any, Any, Any]], Awaitable[None]], ...] = ()
    """The route's `before_request` hook, which the fast path then runs too (a route with
    any other hook is refused)."""
    reads: bool = False
    """Whether its answer reads the database besides the caller's account: then the caller's
    read and the route's share one hot-read connection (`Database.hot_reads`, taken at the
    first read), one wait for the pool instead of two."""

    def matcher(self) -> re.Pattern[str]:
        names = re.findall(r"{(\w+)}", self.template)
        if set(names) != set(self.params):
            raise ValueError(f"{self.template}: give a pattern for each of {names}")
        pattern = re.escape(self.template)
        for name in names:
            pattern = pattern.replace(
                re.escape("{" + name + "}"), f"(?P<{name}>(?:{self.params[name]}))"
            )
        return re.compile(pattern)


class FastRoutes:
    """The ASGI layer that answers `routes` before Litestar routes (GET, and HEAD as GET)."""

    def __init__(
        self,
        app: ASGIApp,
        routes: Iterable[FastRoute],
        *,
        identity: RequestIdentity,
        handler_of: Callable[[str, str], BaseRouteHandler | None],
        max_body_bytes: int,
        hot_reads: Callable[[], AbstractAsyncContextManager[None]] = nullcontext,
    ) -> None:
        self.app = app
        self.hot_reads = hot_reads
        self.identity = identity
        self.max_body_bytes = max_body_bytes
        self.answered = 0
        """Requests answered here since start (for tests)."""
        self.routes: dict[str, list[tuple[re.Pattern[str], FastRoute]]] = {}
        for route in routes:
            handler = handler_of(route.template, route.method)
            if handler is None:
                raise LookupError(
                    f"no {route.method} route {route.template} for a fast route to stand before"
                )
            if handler.resolve_guards():
                raise RuntimeError(
                    f"{route.template} has guards: the fast route would skip them; "
                    "let it check them, or take it away"
                )
            hook = handler.resolve_before_request()  # type: ignore[attr-defined]
            if (hook is not None and hook not in route.before_request) or (
                handler.resolve_after_response()  # type: ignore[attr-defined]
                or handler.after_request  # type: ignore[attr-defined]
            ):
                raise RuntimeError(f"{route.template} has hooks the fast route does not run")
            self.routes.setdefault(route.method, []).append((route.matcher(), route))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # HEAD arrives here as GET (transport/http/methods.py strips the body afterwards).
        if scope["type"] == ScopeType.HTTP:
            path = scope["path"]
            for matcher, route in self.routes.get(scope["method"], ()):
                match = matcher.fullmatch(path)
                if match is not None:
                    request = FastRequest(
                        scope, receive, match.groupdict(), self.identity, self.max_body_bytes
                    )
                    if await self._answer(scope, send, route, request):
                        return
                    receive = request.receive_again()
                    break
        await self.app(scope, receive, send)

    async def _answer(
        self, scope: HTTPScope, send: Send, route: FastRoute, request: FastRequest
    ) -> bool:
        try:
            for hook in route.before_request:
                await hook(Request(scope))
            if route.reads:
                async with self.hot_reads():
                    answer = await route.answer(request)
            else:
                answer = await route.answer(request)
        except WaymarkError as exc:
            answer = problem_answer(exc, scope["path"])
        if answer is None:
            return False
        self.answered += 1
        name_route(scope, route.template)
        status, headers, body = answer
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        if status != 304:  # a 304 has no body and says nothing of its length (as Litestar)
            raw.append((b"content-length", b"%d" % len(body)))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body, "more_body": False})
        return True
