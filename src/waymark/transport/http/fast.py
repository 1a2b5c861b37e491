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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
from litestar.enums import ScopeType

from waymark.kernel.errors import WaymarkError
from waymark.transport.http.context import name_route
from waymark.transport.http.problems import problem_answer

if TYPE_CHECKING:
    from litestar.handlers import BaseRouteHandler
    from litestar.types import ASGIApp, HTTPScope, Receive, Scope, Send

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

    __slots__ = ("_identity", "params", "scope")

    def __init__(self, scope: HTTPScope, params: dict[str, str], identity: RequestIdentity) -> None:
        self.scope = scope
        self.params = params
        self._identity = identity

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
    leave the request to Litestar.
    """

    template: str
    answer: Callable[[FastRequest], Awaitable[Answer | None]]
    params: Mapping[str, str] = field(default_factory=dict)

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
        handler_of: Callable[[str], BaseRouteHandler | None],
    ) -> None:
        self.app = app
        self.identity = identity
        self.answered = 0
        """Requests answered here since start (for tests)."""
        self.routes: list[tuple[re.Pattern[str], FastRoute]] = []
        for route in routes:
            handler = handler_of(route.template)
            if handler is None:
                raise LookupError(f"no GET route {route.template} for a fast route to stand before")
            if handler.resolve_guards():
                raise RuntimeError(
                    f"{route.template} has guards: the fast route would skip them; "
                    "let it check them, or take it away"
                )
            self.routes.append((route.matcher(), route))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # HEAD arrives here as GET (transport/http/methods.py strips the body afterwards).
        if scope["type"] == ScopeType.HTTP and scope["method"] == "GET":
            path = scope["path"]
            for matcher, route in self.routes:
                match = matcher.fullmatch(path)
                if match is not None:
                    if await self._answer(scope, send, route, match.groupdict()):
                        return
                    break
        await self.app(scope, receive, send)

    async def _answer(
        self, scope: HTTPScope, send: Send, route: FastRoute, params: dict[str, str]
    ) -> bool:
        try:
            answer = await route.answer(FastRequest(scope, params, self.identity))
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
