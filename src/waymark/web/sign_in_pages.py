"""Signing in through other sites, as pages: the sign-in page's `Sign in with <provider>`
buttons post to `/auth/<provider>/start` (a form, no JavaScript), settings' `Link` buttons
to `/auth/<provider>/link`, `Confirm with <provider>` (re-authentication, for an account
with no password) to `/auth/<provider>/reauth`; each sends the browser there with a pre-login cookie
(`SameSite=Lax`: the way back is a cross-site GET), and `/auth/<provider>/callback` finishes
the attempt: a new session, or the identity linked. `/auth/link/confirm` is the mailed link
that links an identity with a verified address an account has (signed in as it: else to
the sign-in page and back, through its own first factor and MFA). Thin: one `Federation`
call each."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import PathParameter, QueryParameter
from litestar.response import Redirect

from waymark.features.auth.errors import (
    ConfirmByMail,
    IdentityNotLinked,
    IdentityTaken,
    LinkConfirmationInvalid,
    LinkDenied,
    ReauthenticatedAsAnother,
    SignInDenied,
    SignInFailed,
    UnknownProvider,
)
from waymark.features.auth.federation import ATTEMPT_SECONDS, Federation
from waymark.transport.http.identity import NO_STORE, host_cookie, session_cookie
from waymark.web.forms import FormState
from waymark.web.mfa_pages import to_challenge
from waymark.web.rendering import page, redirect
from waymark.web.visitor import Browsing

ATTEMPT_COOKIE = "__Host-waymark_signin"
REFUSALS = (
    SignInFailed,
    IdentityNotLinked,
    ConfirmByMail,
    IdentityTaken,
    SignInDenied,
    LinkDenied,
    UnknownProvider,
    ReauthenticatedAsAnother,
)
Param = Annotated[str, QueryParameter(max_length=2048)]
Provider = Annotated[str, PathParameter(max_length=64, description="A provider's name.")]


def sign_in_pages(federation: Federation) -> list[HTTPRouteHandler]:
    clock = federation.clock

    def to_provider(visitor: Any, attempt_id: str, url: str) -> Response[Any]:
        cookie = host_cookie(ATTEMPT_COOKIE, attempt_id, max_age=ATTEMPT_SECONDS)
        return Redirect(
            path=url, status_code=303, cookies=[*visitor.cookies, cookie], headers=NO_STORE
        )

    @post("/auth/{provider:str}/start")
    async def start(visitor: Browsing, provider: Provider) -> Response[Any]:
        attempt_id, url = await federation.start(
            provider, next_path=visitor.form.get("next"), client=visitor.client
        )
        return to_provider(visitor, attempt_id, url)

    @post("/auth/{provider:str}/link")
    async def link(visitor: Browsing, provider: Provider) -> Response[Any]:
        attempt_id, url = await federation.start(
            provider,
            next_path="/settings?notice=identity-linked",
            client=visitor.client,
            link_to=visitor.signed_in(),
        )
        return to_provider(visitor, attempt_id, url)

    @post("/auth/{provider:str}/reauth")
    async def reauthenticate(visitor: Browsing, provider: Provider) -> Response[Any]:
        attempt_id, url = await federation.start(
            provider,
            next_path=visitor.form.get("next"),
            client=visitor.client,
            reauthenticate=visitor.signed_in(),
        )
        return to_provider(visitor, attempt_id, url)

    @get("/auth/{provider:str}/callback")
    async def callback(
        request: Request[Any, Any, Any],
        visitor: Browsing,
        provider: Provider,
        state_: Annotated[str, QueryParameter(name="state", max_length=2048)] = "",
        code: Param = "",
    ) -> Response[Any]:
        # The attempt's cookie dies here whatever comes of it: an attempt is finished once.
        spent = host_cookie(ATTEMPT_COOKIE, "", max_age=0)
        visitor.cookies.append(spent)
        try:
            finished = await federation.finish(
                provider,
                attempt_id=request.cookies.get(ATTEMPT_COOKIE),
                state=state_,
                code=code,
                current=visitor.principal,
                client=visitor.client,
            )
        except REFUSALS as error:
            refused = FormState.refused(error, {})
            return page(
                visitor, "account/login.html", status_code=error.status, form=refused, next="/"
            )
        if finished.challenge is not None:
            return to_challenge(visitor, finished.challenge, finished.next_path)
        cookies = []
        if finished.session is not None:
            session = finished.session
            cookies.append(
                session_cookie(
                    session.id, expires_at=session.record.absolute_expires_at, now=clock.time()
                )
            )
        return redirect(visitor, finished.next_path, cookies=cookies)

    @get("/auth/link/confirm")
    async def confirm_form(visitor: Browsing, token: Param = "") -> Response[Any]:
        visitor.signed_in()  # else to the sign-in page, and back here after it
        return page(visitor, "account/link_confirm.html", form=FormState(), token=token)

    @post("/auth/link/confirm")
    async def confirm(visitor: Browsing) -> Response[Any]:
        principal = visitor.signed_in()
        token = visitor.form.get("token", "")[:2048]
        try:
            await federation.confirm_link(principal, token, client=visitor.client)
        except (LinkConfirmationInvalid, IdentityTaken, LinkDenied) as error:
            refused = FormState.refused(error, {})
            return page(
                visitor,
                "account/link_confirm.html",
                status_code=error.status,
                form=refused,
                token="",
            )
        return redirect(visitor, "/settings?notice=identity-linked")

    return [start, link, reauthenticate, callback, confirm_form, confirm]
