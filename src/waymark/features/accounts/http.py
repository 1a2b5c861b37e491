"""REST for accounts: signing up, confirming addresses, forgotten passwords, the profile, the
move to another address, and the audit log. Thin: each handler is one call to a service.

Sign-up, forgot-password and resend-confirmation answer 202 with the same body whether or
not the address has an account, so none of them tells who is registered.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Response, delete, get, patch, post, put
from litestar.params import JSONBody, PathParameter, QueryParameter

from waymark.features.accounts.errors import REAUTHENTICATION, InvalidEmailToken
from waymark.features.accounts.schemas import (
    Accepted,
    AuditEvent,
    ChangeEmailRequest,
    DeleteAccountRequest,
    ForgotPasswordRequest,
    Me,
    ProfilePatch,
    RegisterRequest,
    RoleChange,
    UserEntry,
    VerifyEmailRequest,
)
from waymark.features.accounts.service import Accounts
from waymark.kernel.errors import (
    Conflict,
    Forbidden,
    NotAuthenticated,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    ValidationFailed,
)
from waymark.kernel.pagination import DEFAULT_LIMIT, Page
from waymark.transport.http.fast import Answer, FastRequest, FastRoute, json_answer
from waymark.transport.http.guards import require_json_body
from waymark.transport.http.identity import (
    AUTHENTICATED,
    NO_STORE,
    STEPPED_UP,
    CallerAccount,
    Client,
    RequestIdentity,
    SteppedUp,
    cleared_session_cookie,
)
from waymark.transport.http.params import PageLimit, int64
from waymark.transport.http.problems import BAD_BODY, documented_problems
from waymark.transport.http.router import Router

REGISTERED = Accepted(detail="If the address can be used, a confirmation link is on its way.")
RESET_SENT = Accepted(detail="If the address has an account, a reset link is on its way.")
EMAIL_CHANGE_SENT = Accepted(detail="A confirmation link is on its way to the new address.")


UserIdPath = Annotated[uuid.UUID, PathParameter(description="The account's `id`.")]
Cursor = Annotated[
    str | None, QueryParameter(max_length=512, description="`next_cursor` of the last page.")
]
EmailPrefix = Annotated[
    str,
    QueryParameter(
        max_length=320,
        pattern=r"^[^\x00-\x1f\x7f]*$",
        description="Only addresses starting with this.",
    ),
]
Before = Annotated[int | None, int64(ge=1, description="`id` of the last event seen.")]


def account_routes(accounts: Accounts, identity: RequestIdentity) -> list[Router]:
    @post(
        "/register",
        responses=documented_problems(*BAD_BODY, RateLimited, ServiceUnavailable, Conflict),
        summary="Create an account (answers the same for taken addresses)",
        status_code=202,
    )
    async def register(data: JSONBody[RegisterRequest], client: Client) -> Accepted:
        await accounts.registration.register(
            email=data.email,
            password=data.password,
            display_name=data.display_name,
            client=client,
        )
        return REGISTERED

    @post(
        "/verify-email",
        responses=documented_problems(
            *BAD_BODY, InvalidEmailToken, RateLimited, ServiceUnavailable
        ),
        summary="Confirm an email address with the mailed token",
        status_code=200,
    )
    async def verify_email(data: JSONBody[VerifyEmailRequest], client: Client) -> Me:
        account = await accounts.registration.confirm(
            token=data.token, password=data.password, client=client
        )
        return Me.of(account)

    @post(
        "/verify-email/resend",
        responses=documented_problems(*BAD_BODY, RateLimited, ServiceUnavailable),
        summary="Mail a new confirmation link (answers the same for any address)",
        status_code=202,
    )
    async def resend_verification(
        data: JSONBody[ForgotPasswordRequest], client: Client
    ) -> Accepted:
        await accounts.registration.resend(email=data.email, client=client)
        return REGISTERED

    @post(
        "/password/forgot",
        responses=documented_problems(*BAD_BODY, RateLimited, ServiceUnavailable),
        summary="Mail a password reset link",
        status_code=202,
    )
    async def forgot_password(data: JSONBody[ForgotPasswordRequest], client: Client) -> Accepted:
        await accounts.credentials.forgot(email=data.email, client=client)
        return RESET_SENT

    @get("/", summary="Your account", responses=documented_problems(NotAuthenticated))
    async def me(account: CallerAccount) -> Response[Me]:
        # The caller's account was read for this request: no second query.
        return Response(Me.of(account), headers=NO_STORE)  # as `me_fast_route`

    @patch(
        "/",
        summary="Change your profile",
        responses=documented_problems(*BAD_BODY, *AUTHENTICATED),
    )
    async def update_me(data: JSONBody[ProfilePatch], account: CallerAccount) -> Response[Me]:
        updated = await accounts.profiles.update(account.id, data.changes())
        return Response(Me.of(updated), headers=NO_STORE)

    @post(
        "/email",
        responses=documented_problems(*BAD_BODY, *STEPPED_UP, *REAUTHENTICATION),
        summary="Change your email address (confirmed by a link to the new one)",
        status_code=202,
    )
    async def change_email(
        data: JSONBody[ChangeEmailRequest], stepped_up: SteppedUp, client: Client
    ) -> Accepted:
        await accounts.profiles.request_email_change(
            stepped_up.account_id,
            password=data.password,
            new_email=data.new_email,
            client=client,
            session_key=stepped_up.session_key,
        )
        return EMAIL_CHANGE_SENT

    @delete(
        "/",
        summary="Delete your account and its data",
        status_code=204,
        responses=documented_problems(*BAD_BODY, *STEPPED_UP, *REAUTHENTICATION),
    )
    async def delete_me(
        data: JSONBody[DeleteAccountRequest], stepped_up: SteppedUp, client: Client
    ) -> Response[None]:
        await accounts.profiles.delete(
            stepped_up.account_id,
            password=data.password,
            client=client,
            session_key=stepped_up.session_key,
        )
        return Response(None, status_code=204, cookies=[cleared_session_cookie()])

    @get(
        "/audit",
        responses=documented_problems(NotAuthenticated, ValidationFailed),
        summary="Authentication events of your account, newest first",
    )
    async def audit(
        account: CallerAccount, limit: PageLimit = DEFAULT_LIMIT, before: Before = None
    ) -> Response[list[AuditEvent]]:
        events = await accounts.audit.page(account.id, before=before, limit=limit)
        return Response(events, headers=NO_STORE)

    @get(
        "/users",
        responses=documented_problems(NotAuthenticated, Forbidden, ValidationFailed),
        summary="The accounts and their platform roles (platform admins: users.read)",
    )
    async def list_users(
        account: CallerAccount,
        limit: PageLimit = DEFAULT_LIMIT,
        cursor: Cursor = None,
        email: EmailPrefix = "",
    ) -> Response[Page[UserEntry]]:
        page = await accounts.administration.directory(
            account, cursor=cursor, limit=limit, email_prefix=email
        )
        return Response(page, headers=NO_STORE)

    @put(
        "/users/{user_id:uuid}/role",
        responses=documented_problems(*BAD_BODY, *AUTHENTICATED, Forbidden, NotFound, Conflict),
        summary="Give an account a platform role (platform admins: roles.grant; audited)",
        description="Counts from the account's next request. Not your own role (409).",
    )
    async def set_role(
        user_id: UserIdPath, data: JSONBody[RoleChange], account: CallerAccount, client: Client
    ) -> UserEntry:
        return await accounts.administration.set_role(account, user_id, data.role, client=client)

    dependencies = identity.dependencies()
    return [
        Router(
            path="/api/v1/auth",
            route_handlers=[
                register,
                verify_email,
                resend_verification,
                forgot_password,
            ],
            dependencies=dependencies,
            before_request=require_json_body,
            tags=["auth"],
        ),
        Router(
            path="/api/v1/me",
            route_handlers=[me, update_me, change_email, delete_me, audit],
            dependencies=dependencies,
            before_request=require_json_body,
            tags=["me"],
        ),
        Router(
            path="/api/v1/admin",
            route_handlers=[list_users, set_role],
            dependencies=dependencies,
            before_request=require_json_body,
            tags=["admin"],
        ),
    ]


ME_TEMPLATE = "/api/v1/me"


def me_fast_route() -> FastRoute:
    """`GET /api/v1/me` answered before routing (`transport/http/fast.py`): every signed-in
    client asks it first, and it is nothing but the caller's checks."""

    async def me(request: FastRequest) -> Answer:
        return json_answer(Me.of((await request.caller()).account), NO_STORE)

    return FastRoute(ME_TEMPLATE, me, before_request=(require_json_body,))
