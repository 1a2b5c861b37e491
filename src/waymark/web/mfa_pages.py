"""Two-step verification as pages: the challenge after a password or OIDC sign-in, enrolling
an authenticator app (its QR code drawn by the server, inline SVG), the recovery codes shown
once (with a text file to download), a step-up, and turning it off. No JavaScript: each
form posts, one `Mfa` call does the work, and the answer is a page or a redirect. The one
exception is "Use a passkey" at the challenge and at a step-up (`static/passkeys.js`): it
fetches options for this challenge or session (`POST /login/mfa/passkey`,
`/settings/mfa/step-up/passkey`: form posts answered with JSON), asks the browser's
authenticator, and posts the assertion with the page's own form (`kind=webauthn`).

Between the first factor and the challenge page the browser holds only the challenge's
token, in a `__Host-` cookie of its own that lives as long as the challenge; no session
exists until a code is right.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import quote

import msgspec
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import QueryParameter

from waymark.features.accounts.errors import ReauthenticationRequired, WrongPassword
from waymark.features.auth.errors import (
    ChallengeEnded,
    EmailCodesOff,
    FactorDisabled,
    MfaAlreadyOn,
    MfaNotOn,
    NoEnrolment,
    SecondFactorRefused,
)
from waymark.features.auth.federation import Federation
from waymark.features.auth.mfa import Mfa
from waymark.features.auth.schemas import (
    FactorAnswer,
    MfaChallenge,
    PasskeyOptions,
    RecoveryCodes,
    TotpConfirm,
)
from waymark.features.auth.sessions import NewSession
from waymark.kernel.errors import (
    FieldError,
    RateLimited,
    StepUpRequired,
    ValidationFailed,
    WaymarkError,
)
from waymark.kernel.identity import Principal
from waymark.kernel.paths import local_path, with_next
from waymark.transport.http.identity import host_cookie, session_cookie
from waymark.web import forms
from waymark.web.forms import FormState
from waymark.web.rendering import page, redirect
from waymark.web.visitor import Browsing, Visitor

CHALLENGE_COOKIE = "__Host-waymark_mfa"
NextQuery = Annotated[str | None, QueryParameter(name="next", max_length=2000)]
REFUSED = (SecondFactorRefused, ValidationFailed, RateLimited, StepUpRequired, FactorDisabled)
PASSKEY = "webauthn"


def posted_answer(form: dict[str, str]) -> tuple[str, str | None, dict[str, Any] | None]:
    """The challenge form as (kind, code, credential): a code typed, or a passkey's
    assertion (JSON, put there by the page's script)."""
    if form.get("kind") != PASSKEY:
        body = forms.decode(FactorAnswer, form)
        return body.kind, body.code, None
    try:
        credential = json.loads(form.get("credential", ""))
    except ValueError:
        credential = None
    if not isinstance(credential, dict):
        raise ValidationFailed([FieldError("credential", "a passkey's answer")])
    return PASSKEY, None, credential


def to_challenge(visitor: Visitor, challenge: MfaChallenge, next_path: str) -> Response[Any]:
    """After a first factor, for an account with MFA on: to the challenge page, holding the
    challenge's token in its own cookie."""
    cookie = host_cookie(CHALLENGE_COOKIE, challenge.challenge, max_age=challenge.expires_in)
    return redirect(visitor, with_next("/login/mfa", next_path), cookies=[cookie])


def recovery_file(codes: RecoveryCodes) -> str:
    """The codes as a text file, for a download link (`data:` URL, no script)."""
    text = "Waymark recovery codes (each works once)\n\n" + "\n".join(codes.recovery_codes) + "\n"
    return "data:text/plain;charset=utf-8," + quote(text)


def mfa_pages(mfa: Mfa, federation: Federation) -> list[HTTPRouteHandler]:
    clock = mfa.clock

    async def challenge_page(
        request: Request[Any, Any, Any],
        visitor: Visitor,
        target: str,
        form: FormState,
        status_code: int = 200,
        **context: Any,
    ) -> Response[Any]:
        factors = await mfa.factors_of(request.cookies.get(CHALLENGE_COOKIE, "") or "-")
        if factors is None:
            visitor.cookies.append(host_cookie(CHALLENGE_COOKIE, "", max_age=0))
            return redirect(visitor, with_next("/login", target))
        return page(
            visitor,
            "mfa/challenge.html",
            status_code=status_code,
            form=form,
            next=target,
            factors=factors,
            **context,
        )

    @get("/login/mfa")
    async def challenge_form(
        request: Request[Any, Any, Any], visitor: Browsing, next_: NextQuery = None
    ) -> Response[Any]:
        return await challenge_page(request, visitor, local_path(next_), FormState())

    @post("/login/mfa/email")
    async def mail_code(request: Request[Any, Any, Any], visitor: Browsing) -> Response[Any]:
        target = local_path(visitor.form.get("next"))
        try:
            await mfa.send_email_code(
                request.cookies.get(CHALLENGE_COOKIE, "") or "-" * 43, client=visitor.client
            )
        except ChallengeEnded:
            return redirect(visitor, with_next("/login", target))
        except (EmailCodesOff, FactorDisabled, RateLimited) as error:
            state = FormState.refused(error, {})
            return await challenge_page(request, visitor, target, state, error.status)
        return await challenge_page(request, visitor, target, FormState(), mailed=True)

    @post("/login/mfa/passkey", status_code=200)
    async def passkey_options(request: Request[Any, Any, Any], visitor: Browsing) -> Response[Any]:
        """Options for this challenge's passkeys (JSON, for the page's script)."""
        options = await mfa.factor_options(
            request.cookies.get(CHALLENGE_COOKIE, "") or "-" * 43,
            kind=PASSKEY,
            client=visitor.client,
        )
        return Response(PasskeyOptions(public_key=options), headers={"cache-control": "no-store"})

    @post("/login/mfa")
    async def answer(request: Request[Any, Any, Any], visitor: Browsing) -> Response[Any]:
        target = local_path(visitor.form.get("next"))
        spent = host_cookie(CHALLENGE_COOKIE, "", max_age=0)
        try:
            kind, code, credential = posted_answer(visitor.form)
            _, session = await mfa.answer(
                request.cookies.get(CHALLENGE_COOKIE, "") or "-" * 43,
                kind=kind,
                code=code,
                credential=credential,
                client=visitor.client,
            )
        except ChallengeEnded as error:
            visitor.cookies.append(spent)
            state = FormState.refused(error, {})
            return page(visitor, "account/login.html", status_code=401, form=state, next=target)
        except REFUSED as error:
            state = FormState.refused(error, visitor.form, fields={"mfa-code-invalid": "code"})
            return await challenge_page(request, visitor, target, state, error.status)
        if not isinstance(session, NewSession):  # an API sign-in's challenge, posted here
            visitor.cookies.append(spent)
            return redirect(visitor, with_next("/login", target))
        cookie = session_cookie(
            session.id, expires_at=session.record.absolute_expires_at, now=clock.time()
        )
        return redirect(visitor, target, cookies=[spent, cookie])

    def renew(visitor: Visitor, renewed: NewSession) -> None:
        """The browser's session has a new id and CSRF token: the response carries them."""
        visitor.principal = msgspec.structs.replace(
            visitor.signed_in(), csrf_token=renewed.record.csrf_token
        )
        visitor.csrf_token = renewed.record.csrf_token
        cookie = session_cookie(
            renewed.id, expires_at=renewed.record.absolute_expires_at, now=clock.time()
        )
        visitor.cookies.append(cookie)

    async def settings_page(
        visitor: Visitor, form: FormState, status_code: int = 200
    ) -> Response[Any]:
        principal = visitor.signed_in()
        password = await mfa.auth.accounts.credentials.has_password(principal.account_id)
        return page(
            visitor,
            "mfa/settings.html",
            status_code=status_code,
            status=await mfa.status(principal),
            pending=await mfa.pending_totp(principal),
            password_on=mfa.auth.password_on,
            on=list(mfa.factors),
            has_password=password,
            identities=[] if password else await federation.identities(principal),
            form=form,
        )

    @get("/settings/mfa")
    async def settings(visitor: Browsing) -> Response[Any]:
        return await settings_page(visitor, FormState())

    async def again(visitor: Visitor, error: WaymarkError) -> Response[Any]:
        fields = {"mfa-code-invalid": "code", "wrong-password": "password"}
        state = FormState.refused(error, visitor.form, fields=fields)
        return await settings_page(visitor, state, error.status)

    @post("/settings/mfa/totp")
    async def start(visitor: Browsing) -> Response[Any]:
        try:
            await mfa.start_totp(visitor.signed_in())
        except (MfaAlreadyOn, FactorDisabled) as error:
            return await again(visitor, error)
        return redirect(visitor, "/settings/mfa#enrol")

    @post("/settings/mfa/totp/confirm")
    async def confirm(visitor: Browsing) -> Response[Any]:
        try:
            body = forms.decode(TotpConfirm, visitor.form)
            codes, renewed = await mfa.confirm_totp(
                visitor.signed_in(), code=body.code, password=body.password, client=visitor.client
            )
        except (
            *REFUSED,
            WrongPassword,
            ReauthenticationRequired,
            NoEnrolment,
            MfaAlreadyOn,
        ) as error:
            return await again(visitor, error)
        if renewed is not None:
            renew(visitor, renewed)
        if not codes.recovery_codes:  # recovery codes are off here
            return redirect(visitor, "/settings/mfa?notice=mfa-on")
        return show_codes(visitor, codes)

    def show_codes(visitor: Visitor, codes: RecoveryCodes) -> Response[Any]:
        return page(visitor, "mfa/recovery_codes.html", codes=codes, download=recovery_file(codes))

    async def stepped_up(
        visitor: Visitor, then: Callable[[Principal], Awaitable[Response[Any]]]
    ) -> Response[Any]:
        """A form that carries a second factor's code: proved on this session (a step-up),
        then `then`; refused, the page again saying why. With neither a code nor a passkey,
        `then` alone: the session stepped up a moment ago (with a passkey, say), or is told so."""
        principal = visitor.signed_in()
        try:
            if visitor.form.get("kind") != PASSKEY and not visitor.form.get("code", "").strip():
                return await then(principal)
            kind, code, credential = posted_answer(visitor.form)
            principal, renewed = await mfa.step_up(
                principal, kind=kind, code=code, credential=credential, client=visitor.client
            )
            if renewed is not None:
                renew(visitor, renewed)
            return await then(principal)
        except (*REFUSED, MfaNotOn) as error:
            return await again(visitor, error)

    @post("/settings/mfa/recovery-codes")
    async def regenerate(visitor: Browsing) -> Response[Any]:
        async def then(principal: Principal) -> Response[Any]:
            codes = await mfa.regenerate_recovery_codes(principal, client=visitor.client)
            return show_codes(visitor, codes)

        return await stepped_up(visitor, then)

    @post("/settings/mfa/step-up")
    async def step_up(visitor: Browsing) -> Response[Any]:
        async def then(_: Principal) -> Response[Any]:
            return redirect(visitor, local_path(visitor.form.get("next"), "/settings"))

        return await stepped_up(visitor, then)

    @post("/settings/mfa/step-up/passkey", status_code=200)
    async def step_up_passkey(visitor: Browsing) -> Response[Any]:
        """Options to step up with one of the account's passkeys (JSON, for the script)."""
        options = await mfa.step_up_options(
            visitor.signed_in(), kind=PASSKEY, client=visitor.client
        )
        return Response(PasskeyOptions(public_key=options), headers={"cache-control": "no-store"})

    @post("/settings/mfa/email")
    async def email_codes(visitor: Browsing) -> Response[Any]:
        on = visitor.form.get("on") == "1"

        async def then(principal: Principal) -> Response[Any]:
            await mfa.set_email_codes(principal, on=on, client=visitor.client)
            return redirect(visitor, "/settings/mfa?notice=" + ("mail-on" if on else "mail-off"))

        return await stepped_up(visitor, then)

    @post("/settings/mfa/disable")
    async def disable(visitor: Browsing) -> Response[Any]:
        async def then(principal: Principal) -> Response[Any]:
            await mfa.disable(principal, client=visitor.client)
            return redirect(visitor, "/settings/mfa?notice=mfa-off")

        return await stepped_up(visitor, then)

    return [
        challenge_form,
        passkey_options,
        mail_code,
        answer,
        settings,
        start,
        confirm,
        regenerate,
        step_up,
        step_up_passkey,
        email_codes,
        disable,
    ]
