"""Who is calling an HTTP route: the client (IP, user agent), and the authenticated caller
from a Bearer access token or the session cookie (with its CSRF header).

Routes receive them by naming a parameter: `principal` (the `Principal`), `account` (the
caller's `Account`, for routes that need nothing else of the session) or `client`
(`ClientInfo`). The cookie helpers are here too: the session cookie is the transport's.
Who checks the credentials is the auth feature's business (an `Authenticator`).
"""

from __future__ import annotations

from typing import Any, Protocol

from litestar import Request, Response
from litestar._parsers import parse_cookie_string  # `Request.cookies`' own, for the fast path
from litestar.datastructures import Cookie
from litestar.di import NamedDependency, Provide

from waymark.kernel.errors import CsrfFailed, NotAuthenticated, StepUpRequired, WaymarkError
from waymark.kernel.identity import Account, ClientInfo, Principal
from waymark.kernel.ports import SessionRecord, StepUp, no_step_up
from waymark.transport.http.client import Network, client_ip

SESSION_COOKIE = "__Host-waymark_session"
CSRF_HEADER = "x-csrf-token"
NO_STORE = {"cache-control": "no-store"}
MAX_USER_AGENT = 256
AUTHENTICATED: tuple[type[WaymarkError], ...] = (NotAuthenticated, CsrfFailed)
"""What any route that needs a caller can answer (documented in OpenAPI)."""


Caller = NamedDependency[Principal]
"""A route parameter `principal: Caller`: the authenticated caller (401 without one)."""
CallerAccount = NamedDependency[Account]
"""A route parameter `account: CallerAccount`: the authenticated caller's account."""
Client = NamedDependency[ClientInfo]
"""A route parameter `client: Client`: who is on the other end (IP, user agent)."""
SteppedUp = NamedDependency[Principal]
"""A route parameter `stepped_up: SteppedUp`: the caller of a sensitive action (a password
or email change, deleting the account, handing a team over), who proved a second factor in
the last minutes if the account has MFA on (403 `step-up-required` otherwise)."""
STEPPED_UP: tuple[type[WaymarkError], ...] = (*AUTHENTICATED, StepUpRequired)


class Authenticator(Protocol):
    async def from_bearer(self, token: str) -> Principal: ...

    async def from_cookie(
        self, session_id: str, *, method: str, csrf_header: str | None
    ) -> Principal: ...


class RequestIdentity:
    """Resolves the caller of a request; one per app, built by `create_app`."""

    def __init__(
        self,
        authenticator: Authenticator,
        *,
        trusted_proxies: tuple[Network, ...],
        step_up: StepUp = no_step_up,
    ):
        self.authenticator = authenticator
        self.trusted_proxies = trusted_proxies
        self.step_up = step_up
        """The policy of sensitive actions (`kernel.ports.StepUp`), for `stepped_up`."""

    def client(self, request: Request[Any, Any, Any]) -> ClientInfo:
        return ClientInfo(
            ip=client_ip(request, self.trusted_proxies),
            user_agent=request.headers.get("user-agent", "")[:MAX_USER_AGENT],
        )

    async def principal(self, request: Request[Any, Any, Any]) -> Principal:
        """The authenticated caller: a Bearer access token, else the session cookie."""
        return await self.principal_of(
            authorization=request.headers.get("authorization"),
            cookie=request.headers.get("cookie"),
            method=request.method,
            csrf_header=request.headers.get(CSRF_HEADER),
        )

    async def principal_of(
        self,
        *,
        authorization: str | None,
        cookie: str | None,
        method: str,
        csrf_header: str | None,
    ) -> Principal:
        """The caller from the request's headers (for the layers that answer before routing
        too, `transport/http/fast.py`): a Bearer access token, else the session cookie."""
        scheme, _, credentials = (authorization or "").partition(" ")
        if scheme.lower() == "bearer" and credentials:
            return await self.authenticator.from_bearer(credentials.strip())
        session_id = parse_cookie_string(cookie).get(SESSION_COOKIE) if cookie else None
        if session_id:
            return await self.authenticator.from_cookie(
                session_id, method=method, csrf_header=csrf_header
            )
        raise NotAuthenticated()

    def dependencies(self) -> dict[str, Provide]:
        """`principal`, `account`, `stepped_up` and `client`, for a router's
        `dependencies`."""

        # Plain functions, not bound methods: Litestar deep-copies routers, and a bound
        # method would drag this object (and the pools behind it) into the copy.
        async def principal(request: Request[Any, Any, Any]) -> Principal:
            return await self.principal(request)

        async def account(principal: Caller) -> Account:
            return principal.account

        async def stepped_up(principal: Caller) -> Principal:
            await self.step_up(principal)
            return principal

        def client(request: Request[Any, Any, Any]) -> ClientInfo:
            return self.client(request)

        return {
            "principal": Provide(principal),
            "account": Provide(account),
            "stepped_up": Provide(stepped_up),
            "client": Provide(client, sync_to_thread=False),
        }


def session_cookie(session_id: str, *, expires_at: float, now: float) -> Cookie:
    """The cookie of a session, living as long as the session may (its absolute expiry)."""
    return host_cookie(SESSION_COOKIE, session_id, max_age=max(0, int(expires_at - now)))


def renewed_session(
    response: Response[Any], renewed: tuple[str, SessionRecord] | None, *, now: float
) -> Response[Any]:
    """`response` carrying a regenerated browser session (`SessionRenewal`): the new cookie
    and, for the script that posts changes, the new CSRF token in `X-CSRF-Token`."""
    if renewed is not None:
        session_id, record = renewed
        response.set_cookie(
            session_cookie(session_id, expires_at=record.absolute_expires_at, now=now)
        )
        response.headers[CSRF_HEADER] = record.csrf_token
    return response


def cleared_session_cookie() -> Cookie:
    """Tells the browser to forget the session cookie."""
    return host_cookie(SESSION_COOKIE, "", max_age=0)


def host_cookie(key: str, value: str, *, max_age: int) -> Cookie:
    """A cookie of this host alone (`__Host-` names require it): Secure, HttpOnly, Path=/,
    no Domain, SameSite=Lax."""
    return Cookie(
        key=key,
        value=value,
        max_age=max_age,
        path="/",
        secure=True,
        httponly=True,
        samesite="lax",
    )
