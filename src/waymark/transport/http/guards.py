"""Request checks shared by routers."""

from __future__ import annotations

from typing import Any

from litestar import Request

from waymark.kernel.errors import UnsupportedMediaType

_BODYLESS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


async def require_json_body(request: Request[Any, Any, Any]) -> None:
    """Refuse a state-changing request whose body is not declared JSON.

    Besides being honest about the API, this closes a CSRF route: a cross-site HTML form can
    send `text/plain` or form encodings, but never `application/json` without a preflight.
    """
    if request.method in _BODYLESS:
        return
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json" and (
        media_type or request.headers.get("content-length", "0") != "0"
    ):
        raise UnsupportedMediaType("send the body as application/json")
