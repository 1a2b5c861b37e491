"""REST for accounts: registration, verification, passwords, profile, deletion, audit log.

Registration and forgot-password answer 202 with the same body whether or not the address
has an account, so neither can be used to find out who is registered.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, Router, delete, get, patch, post
from litestar.params import JSONBody, QueryParameter

from waymark.features.accounts.errors import (
    CsrfFailed,
    InvalidEmailToken,
    NotAuthenticated,
    RateLimited,
    WrongPassword,
)
from waymark.features.accounts.schemas import (
    Accepted,
    AuditEvent,
    ChangeEmailRequest,
    ChangePasswordRequest,
    DeleteAccountRequest,
    ForgotPasswordRequest,
    Me,
    ProfilePatch,
    RegisterRequest,
    ResetPasswordRequest,
    VerifyEmailRequest,
)
from waymark.features.auth.http import (
    CSRF_HEADER,
    NO_STORE,
    AuthEdge,
    Caller,
    session_cookie,
    session_cookie_for,
)
from waymark.features.auth.policies import (
    FORGOT_ACCOUNT_IP,
    FORGOT_IP,
    REAUTH_ACCOUNT,
    REGISTER_IP,
    RESEND_ACCOUNT_IP,
    RESEND_IP,
    RESET_IP,
    VERIFY_IP,
    account_key,
)
from waymark.features.auth.schemas import Principal
from waymark.kernel.errors import Conflict, FieldError, ServiceUnavailable, ValidationFailed
from waymark.kernel.pagination import DEFAULT_LIMIT, MAX_LIMIT
from waymark.transport.http.guards import require_json_body
from waymark.transport.http.problems import BAD_BODY, documented_problems

CHOSEN_ON_CONFIRMATION = FieldError(
    "password", "required to confirm a new account: the password typed here becomes the account's"
)
REGISTERED = Accepted(detail="If the address can be used, a confirmation link is on its way.")
RESET_SENT = Accepted(detail="If the address has an account, a reset link is on its way.")
EMAIL_CHANGE_SENT = Accepted(detail="A confirmation link is on its way to the new address.")

# Changes that ask for the current password again: throttled per account like a login.
REAUTH_PROBLEMS = (
    *BAD_BODY,
    NotAuthenticated,
    CsrfFailed,
    WrongPassword,
    RateLimited,
    ServiceUnavailable,
)

Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)]
Before = Annotated[int | None, QueryParameter(ge=1, description="`id` of the last event seen.")]


def account_routes(edge: AuthEdge) -> list[Router]:
    accounts, auth = edge.accounts, edge.auth

    async def reauthenticate(
        request: Request[Any, Any, Any], principal: Principal, password: str, action: str
    ) -> None:
        """The current password again before a sensitive change: throttled per account like
        a login, a failure audited (a stolen session guessing), a success forgiven."""
        key = str(principal.user_id)
        await edge.throttle.check((REAUTH_ACCOUNT, key))
        try:
            await accounts.verify_password(principal.user, password)
        except WrongPassword:
            async with edge.db.transaction() as conn:
                await accounts.record(
                    conn, principal.user_id, "reauth.failed", edge.client(request), action=action
                )
            raise
        await edge.throttle.forgive(REAUTH_ACCOUNT, key)

    @post(
        "/register",
        responses=documented_problems(*BAD_BODY, RateLimited, ServiceUnavailable, Conflict),
        summary="Create an account (answers the same for taken addresses)",
        status_code=202,
    )
    async def register(
        request: Request[Any, Any, Any], data: JSONBody[RegisterRequest]
    ) -> Accepted:
        client = edge.client(request)
        await edge.throttle.check((REGISTER_IP, client.ip))
        password_hash = await accounts.hash_new_password(data.password, email=data.email)
        async with edge.db.transaction() as conn:
            user_id, created = await accounts.register(
                conn, email=data.email, password_hash=password_hash, display_name=data.display_name
            )
            # On the owner's log either way: a second registration may be someone probing.
            kind = "account.registered" if created else "account.registration-attempted"
            await accounts.record(conn, user_id, kind, client)
        return REGISTERED

    @post(
        "/verify-email",
        responses=documented_problems(*BAD_BODY, InvalidEmailToken, RateLimited),
        summary="Confirm an email address with the mailed token",
        status_code=200,
    )
    async def verify_email(
        request: Request[Any, Any, Any], data: JSONBody[VerifyEmailRequest]
    ) -> Me:
        client = edge.client(request)
        await edge.throttle.check((VERIFY_IP, client.ip))
        async with edge.db.read() as conn:
            confirming = await accounts.confirmation(conn, data.token)
        password_hash = None
        if confirming.new_account:
            if data.password is None:
                raise ValidationFailed([CHOSEN_ON_CONFIRMATION])
            password_hash = await accounts.hash_new_password(data.password, email=confirming.email)
        async with edge.db.transaction() as conn:
            user_id = await accounts.verify_email(conn, data.token, password_hash=password_hash)
            await accounts.record(conn, user_id, "email.verified", client)
            return await accounts.me(conn, user_id)

    @post(
        "/verify-email/resend",
        responses=documented_problems(*BAD_BODY, RateLimited, ServiceUnavailable),
        summary="Mail a new confirmation link (answers the same for any address)",
        status_code=202,
    )
    async def resend_verification(
        request: Request[Any, Any, Any], data: JSONBody[ForgotPasswordRequest]
    ) -> Accepted:
        client = edge.client(request)
        await edge.throttle.check(
            (RESEND_ACCOUNT_IP, account_key(data.email, client.ip)), (RESEND_IP, client.ip)
        )
        async with edge.db.transaction() as conn:
            await accounts.queue_mail(conn, email=data.email, purpose="verify-email")
        return REGISTERED

    @post(
        "/password/forgot",
        responses=documented_problems(*BAD_BODY, RateLimited, ServiceUnavailable),
        summary="Mail a password reset link",
        status_code=202,
    )
    async def forgot_password(
        request: Request[Any, Any, Any], data: JSONBody[ForgotPasswordRequest]
    ) -> Accepted:
        client = edge.client(request)
        await edge.throttle.check(
            (FORGOT_ACCOUNT_IP, account_key(data.email, client.ip)), (FORGOT_IP, client.ip)
        )
        async with edge.db.transaction() as conn:
            await accounts.queue_mail(conn, email=data.email, purpose="reset-password")
        return RESET_SENT

    @post(
        "/password/reset",
        responses=documented_problems(*BAD_BODY, InvalidEmailToken, RateLimited),
        summary="Set a new password with the mailed token",
        status_code=204,
    )
    async def reset_password(
        request: Request[Any, Any, Any], data: JSONBody[ResetPasswordRequest]
    ) -> None:
        client = edge.client(request)
        await edge.throttle.check((RESET_IP, client.ip))
        async with edge.db.read() as conn:
            user = await accounts.reset_target(conn, data.token)
        password_hash = await accounts.hash_new_password(data.new_password, email=user.email)
        async with edge.db.transaction() as conn:
            user_id = await accounts.reset_password(
                conn, token=data.token, password_hash=password_hash
            )
            await accounts.record(conn, user_id, "password.reset", client)
        # The reset itself signed the account out everywhere (in its transaction); ending the
        # stored sessions and families now only tidies up, so a store outage cannot undo it.
        await auth.end_all_quietly(user_id)

    @post(
        "/password/change",
        responses=documented_problems(*REAUTH_PROBLEMS, Conflict),
        summary="Change your password (ends other sessions by default)",
        description="A browser session gets a new id (`Set-Cookie`) and a new CSRF token "
        "(the `X-CSRF-Token` response header): send that one from now on.",
        status_code=204,
    )
    async def change_password(
        request: Request[Any, Any, Any], data: JSONBody[ChangePasswordRequest], principal: Caller
    ) -> Response[None]:
        await reauthenticate(request, principal, data.current_password, "password.change")
        password_hash = await accounts.hash_new_password(
            data.new_password, email=principal.user.email
        )
        if data.end_other_sessions:
            # Before the change commits: if the stores are down, nothing has changed yet and
            # the caller may retry; never a new password with the old sessions still alive.
            await auth.end_all(principal.user_id, keep=principal)
        async with edge.db.transaction() as conn:
            await accounts.change_password(conn, principal.user, password_hash=password_hash)
            await accounts.record(conn, principal.user_id, "password.changed", edge.client(request))
        # Re-authenticated: a browser session gets a new id and CSRF token.
        renewed = await auth.regenerate_session(principal)
        if renewed is None:
            return Response(None, status_code=204)
        session_id, record = renewed
        return Response(
            None,
            status_code=204,
            headers={CSRF_HEADER: record.csrf_token, **NO_STORE},
            cookies=[session_cookie_for(session_id, record, now=auth.clock())],
        )

    @get("/", summary="Your account", responses=documented_problems(NotAuthenticated))
    async def me(principal: Caller) -> Response[Me]:
        # The principal's user row was read for this request: no second query.
        return Response(accounts.profile_of(principal.user), headers=NO_STORE)

    @patch(
        "/",
        summary="Change your profile",
        responses=documented_problems(*BAD_BODY, NotAuthenticated, CsrfFailed),
    )
    async def update_me(data: JSONBody[ProfilePatch], principal: Caller) -> Response[Me]:
        changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        async with edge.db.transaction() as conn:
            return Response(
                await accounts.update_profile(conn, principal.user_id, **changes), headers=NO_STORE
            )

    @post(
        "/email",
        responses=documented_problems(*REAUTH_PROBLEMS),
        summary="Change your email address (confirmed by a link to the new one)",
        status_code=202,
    )
    async def change_email(
        request: Request[Any, Any, Any], data: JSONBody[ChangeEmailRequest], principal: Caller
    ) -> Accepted:
        await reauthenticate(request, principal, data.password, "email.change")
        async with edge.db.transaction() as conn:
            await accounts.request_email_change(conn, principal.user_id, new_email=data.new_email)
            await accounts.record(
                conn, principal.user_id, "email.change-requested", edge.client(request)
            )
        return EMAIL_CHANGE_SENT

    @delete(
        "/",
        summary="Delete your account and its data",
        status_code=204,
        responses=documented_problems(*REAUTH_PROBLEMS),
    )
    async def delete_me(
        request: Request[Any, Any, Any], data: JSONBody[DeleteAccountRequest], principal: Caller
    ) -> Response[None]:
        await reauthenticate(request, principal, data.password, "account.delete")
        async with edge.db.transaction() as conn:
            await accounts.delete_account(conn, principal.user_id)
        await auth.end_all_quietly(principal.user_id)  # no user row: nothing lets them in
        return Response(None, status_code=204, cookies=[session_cookie("", max_age=0)])

    @get(
        "/audit",
        responses=documented_problems(NotAuthenticated, ValidationFailed),
        summary="Authentication events of your account, newest first",
    )
    async def audit(
        principal: Caller, limit: Limit = DEFAULT_LIMIT, before: Before = None
    ) -> Response[list[AuditEvent]]:
        async with edge.db.read() as conn:
            events = await accounts.audit_log(conn, principal.user_id, before=before, limit=limit)
        return Response(events, headers=NO_STORE)

    principal = {"principal": edge.provide_principal()}
    return [
        Router(
            path="/api/v1/auth",
            route_handlers=[
                register,
                verify_email,
                resend_verification,
                forgot_password,
                reset_password,
                change_password,
            ],
            dependencies=principal,
            before_request=require_json_body,
            tags=["auth"],
        ),
        Router(
            path="/api/v1/me",
            route_handlers=[me, update_me, change_email, delete_me, audit],
            dependencies=principal,
            before_request=require_json_body,
            tags=["me"],
        ),
    ]
