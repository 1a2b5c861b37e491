"""HEAD and `Allow` as HTTP defines them (RFC 9110 9.3.2, 10.2.1), which Litestar 2 leaves out.

- HEAD is the GET of the same URL without its body: same status, same headers (the length
  of the body it would have had included). Litestar routes HEAD only to handlers declared
  for it, so every GET route answered 405; and `RoadmapFastPath` answered HEAD itself only
  when its cache was warm. Here HEAD becomes GET before anything below sees it, so every GET
  route, cached or not, answers HEAD the same way. GET never changes state, so running it
  for a HEAD is safe.
- `Allow` (on OPTIONS and 405 answers) names every method of the route, HEAD with GET.
  Litestar's automatic OPTIONS answer lists only the methods of the first handler registered
  on a path (litestar#4169, fixed in Litestar 3): `OPTIONS /api/v1/me` left out PATCH and
  DELETE.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from litestar.enums import ScopeType

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

MethodsOf = Callable[[str], Iterable[str] | None]
_HEAD = "waymark.head"


def is_head(scope: Scope) -> bool:
    """Whether this GET is a HEAD (so a stream answers with its headers only)."""
    return bool(scope.get(_HEAD))


"""The methods of the route with this path template; None for no such route."""


class HttpMethodSemantics:
    def __init__(self, app: ASGIApp, *, methods_of: MethodsOf) -> None:
        self.app = app
        self.methods_of = methods_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        if head:
            scope["method"] = "GET"
            scope[_HEAD] = True  # type: ignore[literal-required]

        async def send_as_http_says(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or ())
                if any(name == b"allow" for name, _ in headers):
                    message["headers"] = self._with_full_allow(scope, headers)
            elif head and message["type"] == "http.response.body":
                message["body"] = b""
            await send(message)

        await self.app(scope, receive, send_as_http_says)

    def _with_full_allow(
        self, scope: Scope, headers: list[tuple[bytes, bytes]]
    ) -> list[tuple[bytes, bytes]]:
        given = next(value for name, value in headers if name == b"allow")
        template = scope.get("path_template")
        methods = set((self.methods_of(template) or ()) if template else ())
        # A 405 is raised before routing sets the template; its header is right but for HEAD.
        methods |= {m.strip() for m in given.decode("latin-1").split(",") if m.strip()}
        if "GET" in methods:
            methods.add("HEAD")
        allow = ", ".join(sorted(methods)).encode()
        return [(name, allow if name == b"allow" else value) for name, value in headers]
