"""A team's webhooks on the pages, for its admins and owner (`/teams/{id}/webhooks`): the
endpoints with their recent deliveries, and forms to add one, send a test ping, rotate its
secret, turn it off or on, delete it, and send a logged delivery again.

Thin, like `features/webhooks/http.py`: each form posts to its own path and calls one use
case of `Webhooks.endpoints` (which checks the caller's role: 404 or 403 drawn as the error
page). A new secret (an endpoint made, a secret rotated) is shown once, on the page that
answers the form (never stored for a later page, never in a URL); every other form comes
back to the page with a notice, or shows it again saying what is wrong."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import PathParameter

from waymark.features.webhooks.errors import (
    TooManyWebhooks,
    UnsafeUrl,
    WebhookDisabled,
)
from waymark.features.webhooks.schemas import (
    EVENT_TYPES,
    Rotation,
    WebhookCreate,
    WebhookPatch,
    WebhookSecret,
)
from waymark.features.webhooks.service import Webhooks
from waymark.kernel.authz import Action
from waymark.kernel.errors import RateLimited, WaymarkError
from waymark.kernel.identity import Account
from waymark.web import forms
from waymark.web.account_pages import submit
from waymark.web.rendering import page, redirect
from waymark.web.visitor import Browsing, Visitor

PAGE = "teams/webhooks.html"
SHOWN_DELIVERIES = 10
FORM_ERRORS: tuple[type[WaymarkError], ...] = (
    UnsafeUrl,
    TooManyWebhooks,
    WebhookDisabled,
    RateLimited,
)
TeamId = Annotated[uuid.UUID, PathParameter()]
WebhookId = Annotated[uuid.UUID, PathParameter()]
DeliveryId = Annotated[uuid.UUID, PathParameter()]


def webhooks_url(team_id: uuid.UUID, notice: str) -> str:
    return f"/teams/{team_id}/webhooks?notice={notice}"


def webhook_pages(webhooks: Webhooks) -> list[HTTPRouteHandler]:
    endpoints = webhooks.endpoints
    asking = webhooks.teams.asking

    async def context(account: Account, team_id: uuid.UUID) -> dict[str, Any]:
        async with endpoints.db.read() as conn:
            team = await asking.require(conn, account, team_id, Action.WEBHOOKS_MANAGE)
        hooks = await endpoints.of_team(account, team_id)
        logs = {
            hook.id: await endpoints.deliveries(account, team_id, hook.id, SHOWN_DELIVERIES)
            for hook in hooks
        }
        return {"team": team, "hooks": hooks, "logs": logs, "event_types": EVENT_TYPES}

    async def show(
        visitor: Visitor, team_id: uuid.UUID, *, secret: WebhookSecret | None = None
    ) -> Response[Any]:
        shown = await context(visitor.signed_in().account, team_id)
        return page(visitor, PAGE, form=None, refused=None, secret=secret, **shown)

    async def webhook_form(
        visitor: Visitor, team_id: uuid.UUID, action: Any, form_name: str
    ) -> Response[Any]:
        """Run a form; refused, the page again, that form saying why."""
        account = visitor.signed_in().account

        async def again() -> dict[str, Any]:
            return {**await context(account, team_id), "refused": form_name, "secret": None}

        return await submit(visitor, action, PAGE, more=again, also=FORM_ERRORS)

    @get("/teams/{team_id:uuid}/webhooks")
    async def webhooks_page(visitor: Browsing, team_id: TeamId) -> Response[Any]:
        return await show(visitor, team_id)

    @post("/teams/{team_id:uuid}/webhooks")
    async def create(visitor: Browsing, team_id: TeamId) -> Response[Any]:
        async def action() -> Response[Any]:
            chosen = [event for event in EVENT_TYPES if visitor.form.get(event) == "true"]
            visitor.form["events"] = ",".join(chosen)  # so that an error on it is the field's
            body = forms.decode(
                WebhookCreate,
                {
                    "url": visitor.form.get("url", ""),
                    "description": visitor.form.get("description", ""),
                    "events": chosen,  # type: ignore[dict-item]
                },
            )
            made = await endpoints.create(visitor.signed_in().account, team_id, body)
            return await show(visitor, team_id, secret=made)

        return await webhook_form(visitor, team_id, action, "create")

    @post("/teams/{team_id:uuid}/webhooks/{webhook_id:uuid}/rotate")
    async def rotate(visitor: Browsing, team_id: TeamId, webhook_id: WebhookId) -> Response[Any]:
        async def action() -> Response[Any]:
            body = forms.decode(Rotation, visitor.form)
            rotated = await endpoints.rotate(visitor.signed_in().account, team_id, webhook_id, body)
            return await show(visitor, team_id, secret=rotated)

        return await webhook_form(visitor, team_id, action, f"rotate-{webhook_id}")

    @post("/teams/{team_id:uuid}/webhooks/{webhook_id:uuid}/ping")
    async def ping(visitor: Browsing, team_id: TeamId, webhook_id: WebhookId) -> Response[Any]:
        async def action() -> Response[Any]:
            await endpoints.ping(visitor.signed_in().account, team_id, webhook_id)
            return redirect(visitor, webhooks_url(team_id, "webhook-pinged"))

        return await webhook_form(visitor, team_id, action, f"hook-{webhook_id}")

    @post("/teams/{team_id:uuid}/webhooks/{webhook_id:uuid}/enabled")
    async def switch(visitor: Browsing, team_id: TeamId, webhook_id: WebhookId) -> Response[Any]:
        async def action() -> Response[Any]:
            body = forms.decode(WebhookPatch, visitor.form, checkboxes=("enabled",))
            await endpoints.update(visitor.signed_in().account, team_id, webhook_id, body)
            notice = "webhook-enabled" if body.enabled is True else "webhook-disabled"
            return redirect(visitor, webhooks_url(team_id, notice))

        return await webhook_form(visitor, team_id, action, f"hook-{webhook_id}")

    @post("/teams/{team_id:uuid}/webhooks/{webhook_id:uuid}/delete")
    async def remove(visitor: Browsing, team_id: TeamId, webhook_id: WebhookId) -> Response[Any]:
        await endpoints.delete(visitor.signed_in().account, team_id, webhook_id)
        return redirect(visitor, webhooks_url(team_id, "webhook-deleted"))

    @post(
        "/teams/{team_id:uuid}/webhooks/{webhook_id:uuid}/deliveries/{delivery_id:uuid}/redeliver"
    )
    async def redeliver(
        visitor: Browsing, team_id: TeamId, webhook_id: WebhookId, delivery_id: DeliveryId
    ) -> Response[Any]:
        async def action() -> Response[Any]:
            account = visitor.signed_in().account
            await endpoints.redeliver(account, team_id, webhook_id, delivery_id)
            return redirect(visitor, webhooks_url(team_id, "webhook-redelivered"))

        return await webhook_form(visitor, team_id, action, f"hook-{webhook_id}")

    return [webhooks_page, create, rotate, ping, switch, remove, redeliver]
