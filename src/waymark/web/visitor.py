"""Who is looking at a page: a signed-in account (by the session cookie) or a stranger, with
the CSRF token their forms carry and the theme they chose.

Every form posts a `csrf_token` field. Signed in, it is the session's own token (the one
API clients send as `X-CSRF-Token`), checked by the `Authenticator` like that header. A
stranger's forms (sign in, sign up, forgotten password) carry a random token that is also
in a `__Host-` cookie, and the two must match (double submit): a page elsewhere can make a
browser post a form here, but it can neither read nor set that cookie.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from litestar import Request
from litestar.datastructures import Cookie
from litestar.di import NamedDependency, Provide

from waymark.kernel.errors import CsrfFailed, NotAuthenticated
from waymark.kernel.identity import Account, ClientInfo, Principal, new_token
from waymark.transport.http.identity import (
    SESSION_COOKIE,
    RequestIdentity,
    cleared_session_cookie,
    host_cookie,
)

CSRF_FIELD = "csrf_token"
FORM_COOKIE = "__Host-waymark_form"
THEME_COOKIE = "__Host-waymark_theme"
YEAR = 365 * 86_400
Theme = Literal["light", "dark"]
THEMES: tuple[Theme, ...] = ("light", "dark")


class SignInRequired(NotAuthenticated):
    """A page that needs an account, asked for by a stranger: they are sent to sign in."""


@dataclass(kw_only=True)
class Visitor:
    principal: Principal | None
    client: ClientInfo
    csrf_token: str
    theme: Theme | None
    form: dict[str, str]
    """The posted form's fields (first value of each), empty for GET."""
    cookies: list[Cookie] = field(default_factory=list)
    """To set with the response: a new form token, the end of a dead session."""
    unread: int = 0
    """The signed-in visitor's unread notifications (the navigation's bell)."""

    @property
    def account(self) -> Account | None:
        return self.principal.account if self.principal else None

    def signed_in(self) -> Principal:
        """The caller, or SignInRequired (the page sends them to sign in, then back)."""
        if self.principal is None:
            raise SignInRequired()
        return self.principal


Browsing = NamedDependency[Visitor]
"""A page handler's parameter `visitor: Browsing`."""


class Visitors:
    """Resolves the visitor of a page request; one per app. `unread` counts a signed-in
    visitor's unread notifications, for the bell on every page (one indexed count)."""

    def __init__(
        self, identity: RequestIdentity, unread: Callable[[uuid.UUID], Awaitable[int]]
    ) -> None:
        self.identity = identity
        self.unread = unread

    async def visitor(self, request: Request[Any, Any, Any]) -> Visitor:
        posted = request.method == "POST"
        form = _first_values(await request.form()) if posted else {}
        submitted = form.pop(CSRF_FIELD, None)
        cookies: list[Cookie] = []
        principal = None
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id:
            try:
                principal = await self.identity.authenticator.from_cookie(
                    session_id, method=request.method, csrf_header=submitted
                )
            except NotAuthenticated:
                if posted:  # the session ended while the form was open
                    raise SignInRequired("your session has ended") from None
                cookies.append(cleared_session_cookie())
        if principal is not None:
            token = principal.csrf_token
        else:
            token = request.cookies.get(FORM_COOKIE, "")
            if posted and not (
                token and submitted and hmac.compare_digest(token.encode(), submitted.encode())
            ):
                raise CsrfFailed("the form is stale or came from another site")
            if not token:
                token = new_token()
                cookies.append(host_cookie(FORM_COOKIE, token, max_age=YEAR))
        theme = request.cookies.get(THEME_COOKIE)
        return Visitor(
            principal=principal,
            client=self.identity.client(request),
            csrf_token=token,
            theme=theme if theme in THEMES else None,
            form=form,
            cookies=cookies,
            unread=0 if principal is None else await self.unread(principal.account.id),
        )

    def dependencies(self) -> dict[str, Provide]:
        # A plain function: Litestar deep-copies routers, a bound method would drag the pools.
        async def visitor(request: Request[Any, Any, Any]) -> Visitor:
            return await self.visitor(request)

        return {"visitor": Provide(visitor)}


def theme_cookie(theme: Theme | None) -> Cookie:
    """Remember a theme for a year; None forgets it (the system's setting applies)."""
    return host_cookie(THEME_COOKIE, theme or "", max_age=YEAR if theme else 0)


def _first_values(form: Any) -> dict[str, str]:
    """Text fields of a posted form, the first value of each (uploads are ignored)."""
    return {key: value for key in form if isinstance(value := form.get(key), str)}
