"""Running the platform from the browser: platform admins list the accounts and set their
platform roles. The same use cases as `GET /api/v1/admin/users` and `PUT .../role`, so the
same policy refuses anyone else (403), and every change is audited."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import PathParameter, QueryParameter

from waymark.features.accounts.schemas import RoleChange
from waymark.features.accounts.service import Accounts
from waymark.kernel.authz import PlatformRole
from waymark.web import forms
from waymark.web.account_pages import submit
from waymark.web.rendering import page, redirect
from waymark.web.visitor import Browsing, Visitor

USERS_PAGE = 50
USERS_TEMPLATE = "admin/users.html"
UserIdPath = Annotated[uuid.UUID, PathParameter()]
CursorQuery = Annotated[str | None, QueryParameter(max_length=512)]
EmailQuery = Annotated[str, QueryParameter(max_length=320, pattern=r"^[^\x00-\x1f\x7f]*$")]


def admin_pages(accounts: Accounts) -> list[HTTPRouteHandler]:
    async def context(visitor: Visitor, cursor: str | None, email: str) -> dict[str, Any]:
        listing = await accounts.administration.directory(
            visitor.signed_in().account, cursor=cursor, limit=USERS_PAGE, email_prefix=email
        )
        return {"listing": listing, "email": email, "roles": list(PlatformRole)}

    @get("/admin/users")
    async def users(
        visitor: Browsing, cursor: CursorQuery = None, email: EmailQuery = ""
    ) -> Response[Any]:
        return page(visitor, USERS_TEMPLATE, **await context(visitor, cursor, email))

    @post("/admin/users/{user_id:uuid}/role")
    async def set_role(visitor: Browsing, user_id: UserIdPath) -> Response[Any]:
        actor = visitor.signed_in().account

        async def action() -> Response[Any]:
            body = forms.decode(RoleChange, visitor.form)
            await accounts.administration.set_role(actor, user_id, body.role, client=visitor.client)
            return redirect(visitor, "/admin/users?notice=role-saved")

        async def again() -> dict[str, Any]:
            return {**await context(visitor, None, ""), "refused_user": user_id}

        return await submit(visitor, action, USERS_TEMPLATE, more=again)

    return [users, set_role]
