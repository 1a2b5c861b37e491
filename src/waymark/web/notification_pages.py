"""The notification centre on the pages: the signed-in visitor's notifications, newest first,
a page at a time, each linking to what it is about, with forms to mark one read, mark all
read (up to the newest shown: one that arrived meanwhile stays unread) and delete one. Each
form calls one use case of `Notifications` and comes back (303) to the page. The bell in
the navigation (`_bell.html`) links here."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import PathParameter, QueryParameter

from waymark.features.notifications.schemas import MarkAllRead
from waymark.features.notifications.service import Notifications
from waymark.web import forms
from waymark.web.rendering import page, redirect
from waymark.web.visitor import Browsing

NOTIFICATIONS_PAGE = "notifications.html"
PER_PAGE = 20
NotificationId = Annotated[uuid.UUID, PathParameter()]
Cursor = Annotated[str | None, QueryParameter(max_length=512)]


def notification_pages(notifications: Notifications) -> list[HTTPRouteHandler]:
    @get("/notifications")
    async def notifications_page(visitor: Browsing, cursor: Cursor = None) -> Response[Any]:
        account = visitor.signed_in().account
        found = await notifications.page(account.id, cursor=cursor, limit=PER_PAGE)
        return page(visitor, NOTIFICATIONS_PAGE, found=found, cursor=cursor)

    @post("/notifications/{notification_id:uuid}/read")
    async def mark_read(visitor: Browsing, notification_id: NotificationId) -> Response[Any]:
        await notifications.mark_read(visitor.signed_in().account.id, notification_id)
        return redirect(visitor, f"/notifications#n-{notification_id}")

    @post("/notifications/read")
    async def mark_all_read(visitor: Browsing) -> Response[Any]:
        account = visitor.signed_in().account
        body = forms.decode(MarkAllRead, visitor.form)
        await notifications.mark_all_read(account.id, body.up_to)
        return redirect(visitor, "/notifications")

    @post("/notifications/{notification_id:uuid}/delete")
    async def delete(visitor: Browsing, notification_id: NotificationId) -> Response[Any]:
        await notifications.delete(visitor.signed_in().account.id, notification_id)
        return redirect(visitor, "/notifications")

    return [notifications_page, mark_read, mark_all_read, delete]
