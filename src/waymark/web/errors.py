"""Error pages a person can act on, for pages; the API keeps its problem+json.

The problem handlers stay the one place that maps an error to a status, code and title: for
a page, their answer is read back and shown as HTML (with `Retry-After` as "try again in",
the request id of a 500). A page that needs an account sends a stranger to sign in instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.response import Redirect
from litestar.types import ExceptionHandlersMap

from waymark.features.ops.http import OPS_PATHS
from waymark.kernel.errors import NotAuthenticated
from waymark.kernel.paths import with_next
from waymark.transport.http.identity import NO_STORE
from waymark.transport.http.problems import Problem
from waymark.web.rendering import page

API_PREFIXES = ("/api/", "/schema", "/.well-known/", *OPS_PATHS)
"""Paths whose errors stay problem+json; every other path is a page's."""

Handler = Callable[[Request[Any, Any, Any], Any], Response[Any]]


def is_page(path: str) -> bool:
    return not path.startswith(API_PREFIXES)


def with_error_pages(handlers: ExceptionHandlersMap) -> ExceptionHandlersMap:
    """`handlers`, answering with an HTML page where the request was for one."""
    return {kind: _page_or(handler) for kind, handler in handlers.items()}


def _page_or(handler: Handler) -> Handler:
    def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        if not is_page(request.url.path):
            return handler(request, exc)
        if isinstance(exc, NotAuthenticated):
            return _to_sign_in(request)
        problem_response = handler(request, exc)
        problem = msgspec.json.decode(problem_response.content, type=Problem)
        retry_after = problem_response.headers.get("retry-after")
        response = page(
            None,
            "error.html",
            status_code=problem.status,
            problem=problem,
            retry_after=int(retry_after) if retry_after and retry_after.isdigit() else None,
        )
        if retry_after:
            response.headers["retry-after"] = retry_after
        return response

    return handle


def _to_sign_in(request: Request[Any, Any, Any]) -> Response[Any]:
    target = "/login"
    if request.method == "GET":
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target = with_next(target, here)
    return Redirect(path=target, status_code=303, headers=NO_STORE)
