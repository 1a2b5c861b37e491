"""REST for signing in and out, tokens, sessions, the JWKS, and the password change (which
ends other sessions and renews this one). Thin: each handler is one call to `AuthService`."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Response, delete, get, post
from litestar.params import JSONBody, PathParameter

from waymark.features.accounts.errors import (
    REAUTHENTICATION,
    EmailNotVerified,
    InvalidCredentials,
    InvalidEmailToken,
)
from waymark.features.accounts.schemas import (
    ChangePasswordRequest,
    Me,
    ResetPasswordRequest,
)
from waymark.features.auth.errors import (
    InvalidRefreshToken,
    NoFactorOn,
    SignInDenied,
    StrategyDisabled,
)
from waymark.features.auth.schemas import (
    LoginRequest,
    MfaChallenge,
    RefreshRequest,
    SessionLogin,
    SessionView,
    TokenPair,
)
from waymark.features.auth.service import AuthService
from waymark.features.auth.sessions import NewSession, SessionPolicy
from waymark.infra.security.signing_keys import KeyRing
from waymark.kernel.errors import (
    Conflict,
    NotAuthenticated,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
)
from waymark.kernel.identity import Account
from waymark.transport.http.guards import require_json_body
from waymark.transport.http.identity import (
    AUTHENTICATED,
    CSRF_HEADER,
    NO_STORE,
    STEPPED_UP,
    Caller,
    Client,
    RequestIdentity,
    SteppedUp,
    cleared_session_cookie,
    session_cookie,
)
from waymark.transport.http.problems import BAD_BODY, documented_problems
from waymark.transport.http.router import Router

SessionRef = Annotated[
    str, PathParameter(max_length=80, description="An id from `GET /me/sessions`.")
]


def with_session(
    body: Any, session: NewSession, *, now: float, headers: dict[str, str]
) -> Response[Any]:
    """`body`, setting the browser session's cookie."""
    cookie = session_cookie(session.id, expires_at=session.record.absolute_expires_at, now=now)
    return Response(body, headers=headers, cookies=[cookie])


def signed_in(
    account: Account, issued: TokenPair | NewSession, *, now: float
) -> Response[TokenPair | SessionLogin]:
    """What a sign-in answers, whichever way in: the tokens, or the session's cookie and
    CSRF token."""
    if isinstance(issued, TokenPair):
        return Response(issued, headers=NO_STORE)
    body = SessionLogin(user=Me.of(account), csrf_token=issued.record.csrf_token)
    return with_session(body, issued, now=now, headers=NO_STORE)


def auth_routes(auth: AuthService, identity: RequestIdentity, keys: KeyRing) -> list[Router]:
    clock = auth.sessions.clock

    @post(
        "/login",
        responses=documented_problems(
            *BAD_BODY,
            InvalidCredentials,
            EmailNotVerified,
            StrategyDisabled,
            SignInDenied,
            NoFactorOn,
            RateLimited,
            ServiceUnavailable,
        ),
        summary="Log in with email and password",
        description="For an account with two-step verification on, the answer is a challenge "
        "(`mfa_required: true`), never tokens or a session: answer it at "
        "`POST /api/v1/auth/mfa/challenge`. If every second factor of the account is turned "
        "off on this site, 403 `mfa-factors-off`.",
        status_code=200,
    )
    async def login(
        data: JSONBody[LoginRequest], client: Client
    ) -> Response[TokenPair | SessionLogin | MfaChallenge]:
        account, issued = await auth.login(
            email=data.email, password=data.password, mode=data.mode, client=client
        )
        if isinstance(issued, MfaChallenge):
            return Response(issued, headers=NO_STORE)
        answer: Response[Any] = signed_in(account, issued, now=clock.time())
        return answer

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
    async def refresh(data: JSONBody[RefreshRequest], client: Client) -> Response[TokenPair]:
        return Response(await auth.refresh(data.refresh_token, client=client), headers=NO_STORE)

    @post(
        "/logout",
        responses=documented_problems(*AUTHENTICATED, UnsupportedMediaType),
        summary="End this session or token family",
        status_code=204,
    )
    async def logout(principal: Caller, client: Client) -> Response[None]:
        await auth.logout(principal, client=client)
        return Response(None, status_code=204, cookies=[cleared_session_cookie()])

    @post(
        "/logout-all",
        responses=documented_problems(*AUTHENTICATED, UnsupportedMediaType),
        summary="End every session and token family of the account",
        status_code=204,
    )
    async def logout_all(principal: Caller, client: Client) -> Response[None]:
        await auth.logout_everywhere(principal, client=client)
        return Response(None, status_code=204, cookies=[cleared_session_cookie()])

    @post(
        "/password/reset",
        responses=documented_problems(
            *BAD_BODY, InvalidEmailToken, RateLimited, ServiceUnavailable
        ),
        summary="Set a new password with the mailed token (ends every session)",
        status_code=204,
    )
    async def reset_password(data: JSONBody[ResetPasswordRequest], client: Client) -> None:
        await auth.reset_password(token=data.token, new_password=data.new_password, client=client)

    @post(
        "/password/change",
        responses=documented_problems(*BAD_BODY, *STEPPED_UP, *REAUTHENTICATION, Conflict),
        summary="Change your password (ends other sessions by default)",
        description="A browser session gets a new id (`Set-Cookie`) and a new CSRF token "
        "(the `X-CSRF-Token` response header): send that one from now on.",
        status_code=204,
    )
    async def change_password(
        data: JSONBody[ChangePasswordRequest], stepped_up: SteppedUp, client: Client
    ) -> Response[None]:
        renewed = await auth.change_password(
            stepped_up,
            current=data.current_password,
            new=data.new_password,
            end_other_sessions=data.end_other_sessions,
            client=client,
        )
        if renewed is None:
            return Response(None, status_code=204)
        response = with_session(
            None,
            renewed,
            now=clock.time(),
            headers={CSRF_HEADER: renewed.record.csrf_token, **NO_STORE},
        )
        response.status_code = 204
        return response

    @get(
        "/sessions",
        responses=documented_problems(NotAuthenticated),
        summary="Your sessions and API token families",
    )
    async def list_sessions(principal: Caller) -> Response[list[SessionView]]:
        return Response(await auth.list_sessions(principal), headers=NO_STORE)

    @delete(
        "/sessions/{session_ref:str}",
        responses=documented_problems(*AUTHENTICATED, NotFound, ValidationFailed),
        summary="End one of your sessions or token families",
    )
    async def end_session(principal: Caller, client: Client, session_ref: SessionRef) -> None:
        if not await auth.end_session(principal, session_ref, client=client):
            raise NotFound("no such session")

    @get("/.well-known/jwks.json", summary="Public keys that verify access tokens")
    async def jwks() -> Response[dict[str, list[dict[str, str]]]]:
        return Response(
            keys.jwks(now=clock.time()), headers={"cache-control": "public, max-age=300"}
        )

    dependencies = identity.dependencies()
    return [
        Router(
            path="/api/v1/auth",
            route_handlers=[login, refresh, logout, logout_all, reset_password, change_password],
            dependencies=dependencies,
            before_request=require_json_body,
            tags=["auth"],
        ),
        Router(
            path="/api/v1/me",
            route_handlers=[list_sessions, end_session],
            dependencies=dependencies,
            before_request=require_json_body,
            tags=["me"],
        ),
        Router(path="/", route_handlers=[jwks], tags=["auth"]),
    ]
