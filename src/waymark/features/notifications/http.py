"""REST for the caller's notifications, under `/api/v1/me/notifications` (bearer, or the
session cookie with `X-CSRF-Token` on changes, like every `/me` route): thin handlers over
`Notifications`. Another account's notification is a 404, never a 403."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Response, delete, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter

from waymark.features.notifications.errors import NoSuchNotification
from waymark.features.notifications.schemas import MarkAllRead, NotificationPage, Unread
from waymark.features.notifications.service import Notifications
from waymark.kernel.errors import NotAuthenticated, UnsupportedMediaType, ValidationFailed
from waymark.kernel.pagination import DEFAULT_LIMIT
from waymark.transport.http.guards import require_json_body
from waymark.transport.http.identity import AUTHENTICATED, NO_STORE, CallerAccount, RequestIdentity
from waymark.transport.http.params import PageLimit
from waymark.transport.http.problems import BAD_BODY, documented_problems
from waymark.transport.http.router import Router

NotificationIdPath = Annotated[uuid.UUID, PathParameter(description="The notification's `id`.")]
Cursor = Annotated[
    str | None, QueryParameter(max_length=512, description="`next_cursor` of the last page.")
]
UnreadOnly = Annotated[bool, QueryParameter(description="Only the unread ones.")]


def notification_routes(notifications: Notifications, identity: RequestIdentity) -> Router:
    @get(
        "/",
        summary="Your notifications, newest first, with the unread count",
        responses=documented_problems(NotAuthenticated, ValidationFailed),
    )
    async def list_notifications(
        account: CallerAccount,
        limit: PageLimit = DEFAULT_LIMIT,
        cursor: Cursor = None,
        unread: UnreadOnly = False,
    ) -> Response[NotificationPage]:
        found = await notifications.page(account.id, cursor=cursor, limit=limit, unread=unread)
        return Response(found, headers=NO_STORE)

    @post(
        "/{notification_id:uuid}/read",
        summary="Mark one of your notifications read",
        status_code=200,
        responses=documented_problems(UnsupportedMediaType, *AUTHENTICATED, NoSuchNotification),
    )
    async def mark_read(
        account: CallerAccount, notification_id: NotificationIdPath
    ) -> Response[Unread]:
        return Response(
            await notifications.mark_read(account.id, notification_id), headers=NO_STORE
        )

    @post(
        "/read",
        summary="Mark read every notification up to one",
        description="`up_to`: the newest notification you have shown. Any that arrived after "
        "it stays unread.",
        status_code=200,
        responses=documented_problems(*BAD_BODY, *AUTHENTICATED, NoSuchNotification),
    )
    async def mark_all_read(
        data: JSONBody[MarkAllRead], account: CallerAccount
    ) -> Response[Unread]:
        return Response(await notifications.mark_all_read(account.id, data.up_to), headers=NO_STORE)

    @delete(
        "/{notification_id:uuid}",
        summary="Delete one of your notifications",
        status_code=204,
        responses=documented_problems(UnsupportedMediaType, *AUTHENTICATED, NoSuchNotification),
    )
    async def delete_notification(
        account: CallerAccount, notification_id: NotificationIdPath
    ) -> None:
        await notifications.delete(account.id, notification_id)

    return Router(
        path="/api/v1/me/notifications",
        route_handlers=[list_notifications, mark_read, mark_all_read, delete_notification],
        dependencies=identity.dependencies(),
        before_request=require_json_body,
        tags=["notifications"],
    )
