"""REST for a team's webhooks, under `/api/v1/teams/{team_id}/webhooks`: thin handlers over
`Webhooks.endpoints`, for the team's admins and owner (404 outside the team, 403 below
admin). The secret is in the answer to a creation and a rotation only."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Response, delete, get, patch, post
from litestar.params import JSONBody, PathParameter

from waymark.features.webhooks.errors import (
    DeliveryNotFound,
    TooManyWebhooks,
    UnsafeUrl,
    WebhookDisabled,
    WebhookNotFound,
)
from waymark.features.webhooks.limits import LOG_LIMIT
from waymark.features.webhooks.schemas import (
    Delivery,
    Rotation,
    Webhook,
    WebhookCreate,
    WebhookPatch,
    WebhookSecret,
)
from waymark.features.webhooks.service import Webhooks
from waymark.kernel.errors import (
    Forbidden,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
)
from waymark.transport.http.guards import require_json_body
from waymark.transport.http.identity import AUTHENTICATED, NO_STORE, CallerAccount, RequestIdentity
from waymark.transport.http.params import PageLimit
from waymark.transport.http.problems import BAD_BODY, documented_problems
from waymark.transport.http.router import Router

TeamId = Annotated[uuid.UUID, PathParameter(description="The team's `id`.")]
WebhookId = Annotated[uuid.UUID, PathParameter(description="The endpoint's `id`.")]
DeliveryId = Annotated[uuid.UUID, PathParameter(description="The delivery's `id`.")]

ADMINS = (*AUTHENTICATED, NotFound, Forbidden)
ONE = (*ADMINS, WebhookNotFound)
NO_BODY = (UnsupportedMediaType,)


def webhook_routes(webhooks: Webhooks, identity: RequestIdentity) -> Router:
    endpoints = webhooks.endpoints
    one = "/{webhook_id:uuid}"

    @post(
        "/",
        summary="Subscribe an https endpoint to the team's events (its secret is shown once)",
        status_code=201,
        responses=documented_problems(
            *BAD_BODY, *ADMINS, UnsafeUrl, TooManyWebhooks, RateLimited, ServiceUnavailable
        ),
    )
    async def create(
        data: JSONBody[WebhookCreate], account: CallerAccount, team_id: TeamId
    ) -> Response[WebhookSecret]:
        made = await endpoints.create(account, team_id, data)
        return Response(made, status_code=201, headers=NO_STORE)

    @get("/", summary="The team's webhook endpoints", responses=documented_problems(*ADMINS))
    async def of_team(account: CallerAccount, team_id: TeamId) -> Response[list[Webhook]]:
        return Response(await endpoints.of_team(account, team_id), headers=NO_STORE)

    @get(one, summary="One webhook endpoint", responses=documented_problems(*ONE))
    async def get_one(
        account: CallerAccount, team_id: TeamId, webhook_id: WebhookId
    ) -> Response[Webhook]:
        return Response(await endpoints.get(account, team_id, webhook_id), headers=NO_STORE)

    @patch(
        one,
        summary="Change an endpoint's URL, events or note, or turn it off or back on",
        responses=documented_problems(*BAD_BODY, *ONE, UnsafeUrl),
    )
    async def update(
        data: JSONBody[WebhookPatch], account: CallerAccount, team_id: TeamId, webhook_id: WebhookId
    ) -> Response[Webhook]:
        changed = await endpoints.update(account, team_id, webhook_id, data)
        return Response(changed, headers=NO_STORE)

    @delete(
        one,
        summary="Delete an endpoint and its log",
        status_code=204,
        responses=documented_problems(*ONE),
    )
    async def remove(account: CallerAccount, team_id: TeamId, webhook_id: WebhookId) -> None:
        await endpoints.delete(account, team_id, webhook_id)

    @post(
        f"{one}/rotate",
        summary="A new signing secret (shown once); the previous one signs too for a while",
        status_code=200,
        responses=documented_problems(*BAD_BODY, *ONE),
    )
    async def rotate(
        data: JSONBody[Rotation], account: CallerAccount, team_id: TeamId, webhook_id: WebhookId
    ) -> Response[WebhookSecret]:
        rotated = await endpoints.rotate(account, team_id, webhook_id, data)
        return Response(rotated, headers=NO_STORE)

    @post(
        f"{one}/ping",
        summary="Send the endpoint a test `ping` (queued; see its deliveries)",
        status_code=202,
        responses=documented_problems(*ONE, WebhookDisabled, *NO_BODY),
    )
    async def ping(
        account: CallerAccount, team_id: TeamId, webhook_id: WebhookId
    ) -> Response[Delivery]:
        queued = await endpoints.ping(account, team_id, webhook_id)
        return Response(queued, status_code=202, headers=NO_STORE)

    @get(
        f"{one}/deliveries",
        summary="The endpoint's deliveries, newest first",
        responses=documented_problems(*ONE, ValidationFailed),
    )
    async def deliveries(
        account: CallerAccount, team_id: TeamId, webhook_id: WebhookId, limit: PageLimit = LOG_LIMIT
    ) -> Response[list[Delivery]]:
        found = await endpoints.deliveries(account, team_id, webhook_id, limit)
        return Response(found, headers=NO_STORE)

    @post(
        f"{one}/deliveries/{{delivery_id:uuid}}/redeliver",
        summary="Send a logged delivery again (the same event and body, signed anew)",
        status_code=202,
        responses=documented_problems(*ONE, DeliveryNotFound, WebhookDisabled, *NO_BODY),
    )
    async def redeliver(
        account: CallerAccount, team_id: TeamId, webhook_id: WebhookId, delivery_id: DeliveryId
    ) -> Response[Delivery]:
        again = await endpoints.redeliver(account, team_id, webhook_id, delivery_id)
        return Response(again, status_code=202, headers=NO_STORE)

    return Router(
        path="/api/v1/teams/{team_id:uuid}/webhooks",
        route_handlers=[
            create,
            of_team,
            get_one,
            update,
            remove,
            rotate,
            ping,
            deliveries,
            redeliver,
        ],
        dependencies=identity.dependencies(),
        before_request=require_json_body,
        tags=["webhooks"],
    )
