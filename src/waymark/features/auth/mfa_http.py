"""REST for two-step verification: answering the sign-in challenge, enrolling a TOTP app,
stepping up before a sensitive action, recovery codes, turning it off. Thin: each handler
is one call to `mfa.Mfa`."""

from __future__ import annotations

from typing import Any

from litestar import Response, delete, get, post
from litestar.params import JSONBody

from waymark.features.accounts.errors import REAUTHENTICATION
from waymark.features.auth.errors import (
    ChallengeEnded,
    EmailCodesOff,
    FactorDisabled,
    MfaAlreadyOn,
    MfaNotOn,
    NoEnrolment,
    SecondFactorRefused,
)
from waymark.features.auth.http import signed_in, with_session
from waymark.features.auth.mfa import Mfa
from waymark.features.auth.schemas import (
    ChallengeAnswer,
    ChallengeRef,
    FactorAnswer,
    MfaStatus,
    PasskeyOptions,
    RecoveryCodes,
    SessionLogin,
    TokenPair,
    TotpConfirm,
    TotpEnrolment,
)
from waymark.kernel.errors import (
    NotAuthenticated,
    RateLimited,
    ServiceUnavailable,
    StepUpRequired,
    UnsupportedMediaType,
    ValidationFailed,
)
from waymark.transport.http.guards import require_json_body
from waymark.transport.http.identity import (
    AUTHENTICATED,
    CSRF_HEADER,
    NO_STORE,
    Caller,
    Client,
    RequestIdentity,
)
from waymark.transport.http.problems import BAD_BODY, documented_problems
from waymark.transport.http.router import Router

CODE_PROBLEMS = (SecondFactorRefused, FactorDisabled, RateLimited, ServiceUnavailable)


def mfa_routes(mfa: Mfa, identity: RequestIdentity) -> list[Router]:
    clock = mfa.clock

    @post(
        "/mfa/challenge",
        responses=documented_problems(*BAD_BODY, ChallengeEnded, *CODE_PROBLEMS),
        summary="Answer the second-factor challenge of a sign-in",
        description="`challenge` is what the sign-in answered (`mfa_required: true`); `kind` "
        "is `totp` (an authenticator app's code), `recovery` (a recovery code, used up), "
        "`email` (a mailed code) with `code`, or `webauthn` with `credential` (a passkey's "
        "assertion for the options of `POST /api/v1/auth/mfa/challenge/passkey`). "
        "The answer is what the sign-in would have been: tokens, or a browser session's cookie "
        "and CSRF token. Five wrong answers end the challenge (`mfa-challenge-ended`). A kind "
        "this site turned off (`auth.factors`) is 403 `factor-disabled`.",
        status_code=200,
    )
    async def answer(
        data: JSONBody[ChallengeAnswer], client: Client
    ) -> Response[TokenPair | SessionLogin]:
        account, issued = await mfa.answer(
            data.challenge,
            kind=data.kind,
            code=data.code,
            credential=data.credential,
            client=client,
        )
        return signed_in(account, issued, now=clock.time())

    @post(
        "/mfa/challenge/passkey",
        responses=documented_problems(
            *BAD_BODY, ChallengeEnded, FactorDisabled, RateLimited, ServiceUnavailable
        ),
        summary="Options to answer this sign-in's challenge with a passkey",
        description="For an account with a passkey (`webauthn` among the challenge's "
        "`factors`): options for `navigator.credentials.get()` naming its passkeys, bound to "
        "this challenge. Answer with `kind: webauthn` and `credential`; a new request voids "
        "the options before, and an answer (right or wrong) uses them up.",
        status_code=200,
    )
    async def passkey_options(
        data: JSONBody[ChallengeRef], client: Client
    ) -> Response[PasskeyOptions]:
        options = await mfa.factor_options(data.challenge, kind="webauthn", client=client)
        return Response(PasskeyOptions(public_key=options), headers=NO_STORE)

    @post(
        "/mfa/challenge/email",
        responses=documented_problems(
            *BAD_BODY,
            ChallengeEnded,
            EmailCodesOff,
            FactorDisabled,
            RateLimited,
            ServiceUnavailable,
        ),
        summary="Mail a code for this sign-in's challenge",
        description="For an account with codes by mail on (`email` among the challenge's "
        "`factors`): a 6-digit code for this challenge only, mailed to the account's address; "
        "answer with `kind: email`. Three per challenge; a new one voids the one before.",
        status_code=202,
    )
    async def mail_code(data: JSONBody[ChallengeRef], client: Client) -> Response[None]:
        await mfa.send_email_code(data.challenge, client=client)
        return Response(None, status_code=202, headers=NO_STORE)

    @post(
        "/mfa/email",
        responses=documented_problems(
            *AUTHENTICATED, StepUpRequired, MfaNotOn, FactorDisabled, UnsupportedMediaType
        ),
        summary="Turn codes by mail on, as an alternative to the app when signing in",
        status_code=204,
    )
    async def email_on(principal: Caller, client: Client) -> None:
        await mfa.set_email_codes(principal, on=True, client=client)

    @delete(
        "/mfa/email",
        responses=documented_problems(*AUTHENTICATED, StepUpRequired, MfaNotOn),
        summary="Turn codes by mail off",
    )
    async def email_off(principal: Caller, client: Client) -> None:
        await mfa.set_email_codes(principal, on=False, client=client)

    @get("/mfa", responses=documented_problems(NotAuthenticated), summary="Your second factors")
    async def status(principal: Caller) -> Response[MfaStatus]:
        return Response(await mfa.status(principal), headers=NO_STORE)

    @post(
        "/mfa/totp",
        responses=documented_problems(
            *AUTHENTICATED, MfaAlreadyOn, FactorDisabled, ServiceUnavailable, UnsupportedMediaType
        ),
        summary="Begin enrolling an authenticator app (TOTP)",
        description="A new secret, its `otpauth://` URI and the URI as an SVG QR code. MFA is "
        "not on until a first code confirms it (`POST /api/v1/me/mfa/totp/confirm`).",
        status_code=200,
    )
    async def start_totp(principal: Caller) -> Response[TotpEnrolment]:
        return Response(await mfa.start_totp(principal), headers=NO_STORE)

    @post(
        "/mfa/totp/confirm",
        responses=documented_problems(
            *BAD_BODY, *AUTHENTICATED, *REAUTHENTICATION, NoEnrolment, MfaAlreadyOn, *CODE_PROBLEMS
        ),
        summary="Confirm the authenticator app with a first code: MFA on",
        description="With `password`, the current one (re-authentication; not asked when "
        "passwords are off here). Answers the 10 recovery codes, shown this once (none where "
        "recovery codes are turned off: `auth.factors`). Every other "
        "session and token family ends; a browser session gets a new id (`Set-Cookie`) and "
        "CSRF token (the `X-CSRF-Token` response header).",
        status_code=200,
    )
    async def confirm_totp(
        data: JSONBody[TotpConfirm], principal: Caller, client: Client
    ) -> Response[RecoveryCodes]:
        codes, renewed = await mfa.confirm_totp(
            principal, code=data.code, password=data.password, client=client
        )
        if renewed is None:
            return Response(codes, headers=NO_STORE)
        headers = {CSRF_HEADER: renewed.record.csrf_token, **NO_STORE}
        response: Response[Any] = with_session(codes, renewed, headers=headers, now=clock.time())
        return response

    @post(
        "/mfa/step-up",
        responses=documented_problems(*BAD_BODY, *AUTHENTICATED, *CODE_PROBLEMS),
        summary="Prove a second factor again, for the sensitive actions of the next 10 minutes",
        description="`kind` `totp` or `recovery` with `code`, or `webauthn` with `credential` "
        "(a passkey's assertion for the options of `POST /api/v1/me/mfa/step-up/passkey`). "
        "A browser session gets a new id (`Set-Cookie`) and CSRF token (the "
        "`X-CSRF-Token` response header): send that one from now on.",
        status_code=204,
    )
    async def step_up(
        data: JSONBody[FactorAnswer], principal: Caller, client: Client
    ) -> Response[None]:
        _, renewed = await mfa.step_up(
            principal, kind=data.kind, code=data.code, credential=data.credential, client=client
        )
        if renewed is None:
            return Response(None, status_code=204)
        headers = {CSRF_HEADER: renewed.record.csrf_token, **NO_STORE}
        response: Response[None] = with_session(None, renewed, headers=headers, now=clock.time())
        response.status_code = 204
        return response

    @post(
        "/mfa/step-up/passkey",
        responses=documented_problems(
            *AUTHENTICATED, ValidationFailed, RateLimited, ServiceUnavailable, UnsupportedMediaType
        ),
        summary="Options to step up with a passkey",
        description="For an account with a passkey: options for `navigator.credentials.get()` "
        "naming its passkeys (user verification required), bound to this session and good for "
        "3 minutes. Answer with `POST /api/v1/me/mfa/step-up` (`kind: webauthn`, "
        "`credential`); a new request voids the options before, and an answer (right or "
        "wrong) uses them up.",
        status_code=200,
    )
    async def step_up_passkey(principal: Caller, client: Client) -> Response[PasskeyOptions]:
        options = await mfa.step_up_options(principal, kind="webauthn", client=client)
        return Response(PasskeyOptions(public_key=options), headers=NO_STORE)

    @post(
        "/mfa/recovery-codes",
        responses=documented_problems(
            *AUTHENTICATED, StepUpRequired, MfaNotOn, FactorDisabled, UnsupportedMediaType
        ),
        summary="New recovery codes (the old ones stop working); needs a recent step-up",
        status_code=200,
    )
    async def regenerate(principal: Caller, client: Client) -> Response[RecoveryCodes]:
        codes = await mfa.regenerate_recovery_codes(principal, client=client)
        return Response(codes, headers=NO_STORE)

    @delete(
        "/mfa",
        responses=documented_problems(*AUTHENTICATED, StepUpRequired, MfaNotOn),
        summary="Turn two-step verification off; needs a recent step-up",
    )
    async def disable(principal: Caller, client: Client) -> None:
        await mfa.disable(principal, client=client)

    dependencies = identity.dependencies()
    return [
        Router(
            path="/api/v1/auth",
            route_handlers=[answer, mail_code, passkey_options],
            dependencies=dependencies,
            before_request=require_json_body,
            tags=["auth"],
        ),
        Router(
            path="/api/v1/me",
            route_handlers=[
                status,
                start_totp,
                confirm_totp,
                step_up,
                step_up_passkey,
                regenerate,
                disable,
                email_on,
                email_off,
            ],
            dependencies=dependencies,
            before_request=require_json_body,
            tags=["me"],
        ),
    ]
