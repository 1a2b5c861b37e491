"""Load shedding: past a number of requests in flight, answer 503 at once.

A worker that takes every request it is given answers all of them late when it is
overloaded: at 1,000 connections the signed-in read waited 1.5 s (p99) and nobody got a
quick answer, not even "come back later" (bench/README.md). Here at most `max_in_flight`
requests are being worked on per worker; one more is refused at once with 503
`service-unavailable` and `Retry-After`, costing microseconds, so the requests that are
admitted keep their latency (Little's law: in flight = rate x time) and clients back off.
Health, readiness and metrics are never shed: operators must see an overloaded server.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from litestar.enums import ScopeType

from waymark.kernel.errors import ServiceUnavailable
from waymark.transport.http.context import name_route
from waymark.transport.http.problems import PROBLEM_MEDIA_TYPE, problem_body

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Receive, Scope, Send

RETRY_AFTER_SECONDS = 1
SHED_ROUTE = "<shed>"


class LoadShedder:
    def __init__(self, app: ASGIApp, *, max_in_flight: int, exempt: Iterable[str]) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.app = app
        self.max_in_flight = max_in_flight
        self.exempt = frozenset(exempt)
        self.in_flight = 0
        self.shed = 0
        """Requests refused since start (for metrics and tests)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            self.shed += 1
            name_route(scope, SHED_ROUTE)  # metrics count refusals apart from any route
            await self._refuse(scope, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    @staticmethod
    async def _refuse(scope: Scope, send: Send) -> None:
        body = problem_body(
            scope["path"],
            status=ServiceUnavailable.status,
            code=ServiceUnavailable.code,
            title=ServiceUnavailable.title,
            detail="the server is at capacity; try again shortly",
        )
        headers = [
            (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})
