"""REST for logging in and out, tokens, sessions and the JWKS; and the principal every
authenticated route receives."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, Router, delete, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody, PathParameter

from waymark.features.accounts.errors import (
    CsrfFailed,
    EmailNotVerified,
    InvalidCredentials,
    NotAuthenticated,
    RateLimited,
)
from waymark.features.accounts.service import AccountService, ClientInfo
from waymark.features.auth.errors import InvalidRefreshToken, RefreshReused
from waymark.features.auth.policies import (
    LOGIN_ACCOUNT_IP,
    LOGIN_IP,
    REFRESH_IP,
    Throttle,
    account_key,
)
from waymark.features.auth.schemas import (
    LoginRequest,
    Principal,
    RefreshRequest,
    SessionLogin,
    SessionView,
    TokenPair,
)
from waymark.features.auth.service import AuthService, SessionPolicy
from waymark.infra.outbox import Outbox
from waymark.infra.security.signing_keys import KeyRing
from waymark.infra.sql.database import Database
from waymark.kernel.errors import NotFound, ServiceUnavailable
from waymark.kernel.ports import SessionRecord
from waymark.transport.http.client import Network, client_ip
from waymark.transport.http.guards import require_json_body
from waymark.transport.http.problems import BAD_BODY, documented_problems

Caller = NamedDependency[Principal]
"""The authenticated caller, injected into any route that names a `principal` parameter."""

SESSION_COOKIE = "__Host-waymark_session"
CSRF_HEADER = "x-csrf-token"
NO_STORE = {"cache-control": "no-store"}


class AuthEdge:
    """What every auth-aware route needs: services, the database, and who is calling."""

    def __init__(
        self,
        *,
        auth: AuthService,
        accounts: AccountService,
        db: Database,
        outbox: Outbox,
        throttle: Throttle,
        trusted_proxies: tuple[Network, ...],
    ) -> None:
        self.auth = auth
        self.accounts = accounts
        self.db = db
        self.outbox = outbox
        self.throttle = throttle
        self.trusted_proxies = trusted_proxies

    def client(self, request: Request[Any, Any, Any]) -> ClientInfo:
        return ClientInfo(
            ip=client_ip(request, self.trusted_proxies),
            user_agent=request.headers.get("user-agent", "")[:256],
        )

    async def principal(self, request: Request[Any, Any, Any]) -> Principal:
        """The authenticated caller: a Bearer access token, else the session cookie."""
        authorization = request.headers.get("authorization", "")
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials:
            return await self.auth.from_bearer(credentials.strip())
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id:
            return await self.auth.from_cookie(
                session_id, method=request.method, csrf_header=request.headers.get(CSRF_HEADER)
            )
        raise NotAuthenticated()

    def provide_principal(self) -> Provide:
        # A function, not the bound method: Litestar deep-copies routers, and a bound method
        # would drag this object (engine, pools) into the copy.
        async def principal(request: Request[Any, Any, Any]) -> Principal:
            return await self.principal(request)

        return Provide(principal)


def session_cookie_for(session_id: str, record: SessionRecord, *, now: float) -> Cookie:
    """The cookie of a session, living as long as the session may (its absolute expiry)."""
    return session_cookie(session_id, max_age=max(0, int(record.absolute_expires_at - now)))


def session_cookie(value: str, *, max_age: int) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=value,
        max_age=max_age,
        path="/",
        secure=True,
        httponly=True,
        samesite="lax",
    )


SessionRef = Annotated[
    str, PathParameter(max_length=80, description="An id from `GET /me/sessions`.")
]


def auth_routes(edge: AuthEdge, keys: KeyRing) -> list[Router]:
    auth, accounts = edge.auth, edge.accounts

    @post(
        "/login",
        responses=documented_problems(
            *BAD_BODY, InvalidCredentials, EmailNotVerified, RateLimited, ServiceUnavailable
        ),
        summary="Log in with email and password",
        status_code=200,
    )
    async def login(
        request: Request[Any, Any, Any], data: JSONBody[LoginRequest]
    ) -> Response[TokenPair | SessionLogin]:
        client = edge.client(request)
        login_key = account_key(data.email, client.ip)
        await edge.throttle.check((LOGIN_ACCOUNT_IP, login_key), (LOGIN_IP, client.ip))
        # The password check (argon2, ~20-50 ms of CPU) runs holding no pooled connection.
        async with edge.db.read() as conn:
            candidate = await accounts.find_for_login(conn, data.email)
        try:
            user = await accounts.check_login(candidate, data.password)
        except InvalidCredentials:
            # The same write for known and unknown addresses; the audit row, for a known one
            # only, is written after the request (features/accounts/jobs.py).
            async with edge.db.transaction() as conn:
                await accounts.queue_login_failure(conn, email=data.email, client=client)
            raise
        await edge.throttle.forgive(LOGIN_ACCOUNT_IP, login_key)
        rehashed = await accounts.rehash_if_weaker(user, data.password)
        async with edge.db.transaction() as conn:
            await accounts.after_login(conn, user, rehashed)
            await accounts.record(conn, user.id, "login.succeeded", client, mode=data.mode)
        if data.mode == "token":
            return Response(await auth.issue_tokens(user, client), headers=NO_STORE)
        session_id, record = await auth.start_session(user, client)
        return Response(
            SessionLogin(user=accounts.profile_of(user), csrf_token=record.csrf_token),
            headers=NO_STORE,
            cookies=[session_cookie_for(session_id, record, now=record.created_at)],
        )

    @post(
        "/refresh",
        responses=documented_problems(
            *BAD_BODY, InvalidRefreshToken, RateLimited, ServiceUnavailable
        ),
        summary="Trade a refresh token for new tokens (it rotates)",
        description="Each refresh token works once. The same token sent again within "
        f"{SessionPolicy.refresh_grace:g} s of its rotation gets the same successor back (two tabs "
        "refreshing at once, or a lost answer); sent later, it is taken as stolen and its "
        "whole family (every token descended from the same login) is revoked.",
        status_code=200,
    )
    async def refresh(
        request: Request[Any, Any, Any], data: JSONBody[RefreshRequest]
    ) -> Response[TokenPair]:
        client = edge.client(request)
        await edge.throttle.check((REFRESH_IP, client.ip))
        try:
            pair = await auth.refresh(data.refresh_token)
        except RefreshReused as reused:
            async with edge.db.transaction() as conn:
                await accounts.record(
                    conn, reused.user_id, "refresh.reused", client, family=reused.family_id
                )
            raise
        return Response(pair, headers=NO_STORE)

    @post(
        "/logout",
        responses=documented_problems(NotAuthenticated, CsrfFailed),
        summary="End this session or token family",
        status_code=204,
    )
    async def logout(request: Request[Any, Any, Any], principal: Caller) -> Response[None]:
        await auth.logout(principal)
        async with edge.db.transaction() as conn:
            await accounts.record(conn, principal.user_id, "logout", edge.client(request))
        return Response(None, status_code=204, cookies=[session_cookie("", max_age=0)])

    @post(
        "/logout-all",
        responses=documented_problems(NotAuthenticated, CsrfFailed),
        summary="End every session and token family of the account",
        status_code=204,
    )
    async def logout_all(request: Request[Any, Any, Any], principal: Caller) -> Response[None]:
        ended = await auth.end_all(principal.user_id)
        async with edge.db.transaction() as conn:
            await accounts.sign_out_everywhere(conn, principal.user_id)
            await accounts.record(
                conn, principal.user_id, "logout.all", edge.client(request), ended=ended
            )
        return Response(None, status_code=204, cookies=[session_cookie("", max_age=0)])

    @get(
        "/sessions",
        responses=documented_problems(NotAuthenticated),
        summary="Your sessions and API token families",
    )
    async def list_sessions(principal: Caller) -> Response[list[SessionView]]:
        return Response(await auth.list_sessions(principal), headers=NO_STORE)

    @delete(
        "/sessions/{session_ref:str}",
        responses=documented_problems(NotAuthenticated, CsrfFailed, NotFound),
        summary="End one of your sessions or token families",
    )
    async def revoke_session(
        request: Request[Any, Any, Any], principal: Caller, session_ref: SessionRef
    ) -> None:
        if not await auth.revoke(principal, session_ref):
            raise NotFound("no such session")
        async with edge.db.transaction() as conn:
            await accounts.record(
                conn,
                principal.user_id,
                "session.revoked",
                edge.client(request),
                session=session_ref,
            )

    @get("/.well-known/jwks.json", summary="Public keys that verify access tokens")
    async def jwks() -> Response[dict[str, list[dict[str, str]]]]:
        return Response(
            keys.jwks(now=auth.clock()), headers={"cache-control": "public, max-age=300"}
        )

    principal = {"principal": edge.provide_principal()}
    return [
        Router(
            path="/api/v1/auth",
            route_handlers=[login, refresh, logout, logout_all],
            dependencies=principal,
            before_request=require_json_body,
            tags=["auth"],
        ),
        Router(
            path="/api/v1/me",
            route_handlers=[list_sessions, revoke_session],
            dependencies=principal,
            tags=["me"],
        ),
        Router(path="/", route_handlers=[jwks], tags=["auth"]),
    ]
