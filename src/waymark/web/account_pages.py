"""Pages for getting in and out: sign up, confirm an address (the mailed link lands here),
sign in and out, forgotten and reset passwords, and the theme. Every mail Waymark sends
links to one of them (`features/accounts/links.py`).

Thin, like the REST handlers: a form is decoded into the API's own request body, one service
call does the work, and the answer is a redirect (or the form again, with what is wrong).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any

from litestar import Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import QueryParameter

from waymark.features.accounts.errors import (
    EmailNotVerified,
    InvalidCredentials,
    InvalidEmailToken,
    WrongPassword,
)
from waymark.features.accounts.schemas import (
    ForgotPasswordRequest,
    RegisterRequest,
    ResetPasswordRequest,
    VerifyEmailRequest,
)
from waymark.features.accounts.service import Accounts
from waymark.features.auth.schemas import LoginRequest, MfaChallenge
from waymark.features.auth.service import AuthService
from waymark.features.auth.sessions import NewSession
from waymark.kernel.errors import Conflict, ValidationFailed, WaymarkError
from waymark.kernel.paths import local_path, with_next
from waymark.transport.http.identity import cleared_session_cookie, session_cookie
from waymark.web import forms
from waymark.web.forms import FormState
from waymark.web.mfa_pages import to_challenge
from waymark.web.rendering import page, redirect
from waymark.web.visitor import THEMES, Browsing, Visitor, theme_cookie

FORM_ERRORS: tuple[type[WaymarkError], ...] = (
    ValidationFailed,
    InvalidCredentials,
    EmailNotVerified,
    WrongPassword,
    InvalidEmailToken,
    Conflict,
)
"""What a form answers by showing itself again; anything else is an error page."""

TokenQuery = Annotated[str, QueryParameter(max_length=512)]
NextQuery = Annotated[str | None, QueryParameter(name="next", max_length=2000)]


async def submit(
    visitor: Visitor,
    action: Callable[[], Awaitable[Response[Any]]],
    template: str,
    *,
    fields: Mapping[str, str] | None = None,
    more: Callable[[], Awaitable[dict[str, Any]]] | None = None,
    also: tuple[type[WaymarkError], ...] = (),
    **context: Any,
) -> Response[Any]:
    """Run a form's action; if the form is refused (`FORM_ERRORS`, and those `also` named),
    show its page again saying why (with `context`, and what `more` reads only then)."""
    try:
        return await action()
    except (*FORM_ERRORS, *also) as error:
        state = FormState.refused(error, visitor.form, fields=fields)
        if more is not None:
            context |= await more()
        return page(visitor, template, status_code=error.status, form=state, **context)


def account_pages(accounts: Accounts, auth: AuthService) -> list[HTTPRouteHandler]:
    clock = auth.sessions.clock

    # A `next` path (only ever a local one, `kernel.paths.local_path`) goes along from the
    # sign-up form, in the confirmation link mailed, to the sign-in after confirming: a
    # sign-up begun from an invite's page comes back to it, as a sign-in does.

    @get("/signup")
    async def signup_form(visitor: Browsing, next_: NextQuery = None) -> Response[Any]:
        if visitor.account:
            return redirect(visitor, local_path(next_))
        target = local_path(next_, "")
        return page(visitor, "account/signup.html", form=FormState(), next=target)

    @post("/signup")
    async def signup(visitor: Browsing) -> Response[Any]:
        target = local_path(visitor.form.get("next"), "")

        async def action() -> Response[Any]:
            body = forms.decode(RegisterRequest, visitor.form)
            await accounts.registration.register(
                email=body.email,
                password=body.password,
                display_name=body.display_name,
                client=visitor.client,
                next_path=target,
            )
            return redirect(visitor, with_next("/signup?notice=check-inbox", target))

        return await submit(visitor, action, "account/signup.html", next=target)

    @get("/verify-email")
    async def verify_form(
        visitor: Browsing, token: TokenQuery = "", next_: NextQuery = None
    ) -> Response[Any]:
        purpose = await accounts.registration.pending_confirmation(token) if token else None
        return page(
            visitor,
            "account/verify.html",
            form=FormState(),
            token=token,
            purpose=purpose,
            next=local_path(next_, ""),
        )

    @post("/verify-email")
    async def verify(visitor: Browsing) -> Response[Any]:
        new_account = "password" in visitor.form
        target = local_path(visitor.form.get("next"), "")

        async def action() -> Response[Any]:
            body = forms.decode(VerifyEmailRequest, visitor.form)
            await accounts.registration.confirm(
                token=body.token, password=body.password, client=visitor.client
            )
            if new_account:
                return redirect(visitor, with_next("/login?notice=email-confirmed", target))
            return redirect(
                visitor,
                "/settings?notice=email-changed"
                if visitor.account
                else "/login?notice=email-changed",
            )

        return await submit(
            visitor,
            action,
            "account/verify.html",
            token=visitor.form.get("token", ""),
            purpose="verify-email" if new_account else "change-email",
            next=target,
        )

    @post("/verify-email/resend")
    async def resend(visitor: Browsing) -> Response[Any]:
        target = local_path(visitor.form.get("next"), "")

        async def action() -> Response[Any]:
            body = forms.decode(ForgotPasswordRequest, visitor.form)
            await accounts.registration.resend(
                email=body.email, client=visitor.client, next_path=target
            )
            return redirect(visitor, with_next("/signup?notice=check-inbox", target))

        return await submit(
            visitor, action, "account/verify.html", token="", purpose=None, next=target
        )

    @get("/login")
    async def login_form(visitor: Browsing, next_: NextQuery = None) -> Response[Any]:
        target = local_path(next_)
        if visitor.account:
            return redirect(visitor, target)
        return page(visitor, "account/login.html", form=FormState(), next=target)

    @post("/login")
    async def login(visitor: Browsing) -> Response[Any]:
        target = local_path(visitor.form.get("next"))

        async def action() -> Response[Any]:
            body = forms.decode(LoginRequest, visitor.form)
            _, session = await auth.login(
                email=body.email, password=body.password, mode="session", client=visitor.client
            )
            if isinstance(session, MfaChallenge):
                return to_challenge(visitor, session, target)
            assert isinstance(session, NewSession)
            cookie = session_cookie(
                session.id, expires_at=session.record.absolute_expires_at, now=clock.time()
            )
            return redirect(visitor, target, cookies=[cookie])

        return await submit(visitor, action, "account/login.html", next=target)

    @post("/logout")
    async def logout(visitor: Browsing) -> Response[Any]:
        await auth.logout(visitor.signed_in(), client=visitor.client)
        return redirect(visitor, "/?notice=signed-out", cookies=[cleared_session_cookie()])

    @get("/forgot-password")
    async def forgot_form(visitor: Browsing) -> Response[Any]:
        return page(visitor, "account/forgot.html", form=FormState())

    @post("/forgot-password")
    async def forgot(visitor: Browsing) -> Response[Any]:
        async def action() -> Response[Any]:
            body = forms.decode(ForgotPasswordRequest, visitor.form)
            await accounts.credentials.forgot(email=body.email, client=visitor.client)
            return redirect(visitor, "/forgot-password?notice=reset-sent")

        return await submit(visitor, action, "account/forgot.html")

    @get("/reset-password")
    async def reset_form(visitor: Browsing, token: TokenQuery = "") -> Response[Any]:
        return page(visitor, "account/reset.html", form=FormState(), token=token)

    @post("/reset-password")
    async def reset(visitor: Browsing) -> Response[Any]:
        async def action() -> Response[Any]:
            body = forms.decode(ResetPasswordRequest, visitor.form)
            await auth.reset_password(
                token=body.token, new_password=body.new_password, client=visitor.client
            )
            return redirect(
                visitor, "/login?notice=password-reset", cookies=[cleared_session_cookie()]
            )

        return await submit(
            visitor,
            action,
            "account/reset.html",
            fields={"password": "new_password"},
            token=visitor.form.get("token", ""),
        )

    @post("/theme")
    async def choose_theme(visitor: Browsing) -> Response[Any]:
        chosen = visitor.form.get("theme")
        theme = next((t for t in THEMES if t == chosen), None)
        back = local_path(visitor.form.get("next"))
        return redirect(visitor, back, cookies=[theme_cookie(theme)])

    return [
        signup_form,
        signup,
        verify_form,
        verify,
        resend,
        login_form,
        login,
        logout,
        forgot_form,
        forgot,
        reset_form,
        reset,
        choose_theme,
    ]
