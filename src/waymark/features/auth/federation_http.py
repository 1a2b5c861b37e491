"""REST for signing in through other sites: the providers on here, and the identities an
account has linked (listed, removed). The redirects themselves are pages (the browser goes
to the other site and back): `web/sign_in_pages.py`."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Response, delete, get
from litestar.params import PathParameter

from waymark.features.auth.errors import LastWayIn
from waymark.features.auth.federation import Federation
from waymark.features.auth.schemas import LinkedIdentity, SignInOption
from waymark.kernel.errors import NotAuthenticated, NotFound
from waymark.transport.http.guards import require_json_body
from waymark.transport.http.identity import (
    AUTHENTICATED,
    NO_STORE,
    Caller,
    Client,
    RequestIdentity,
)
from waymark.transport.http.problems import documented_problems
from waymark.transport.http.router import Router

IdentityId = Annotated[uuid.UUID, PathParameter(description="An id from `GET /me/identities`.")]


def federation_routes(federation: Federation, identity: RequestIdentity) -> list[Router]:
    @get("/providers", summary="The other sites you can sign in with here")
    async def providers() -> list[SignInOption]:
        return federation.options()

    @get(
        "/identities",
        responses=documented_problems(NotAuthenticated),
        summary="Identities at other sites linked to your account",
    )
    async def list_identities(principal: Caller) -> Response[list[LinkedIdentity]]:
        return Response(await federation.identities(principal), headers=NO_STORE)

    @delete(
        "/identities/{identity_id:uuid}",
        responses=documented_problems(*AUTHENTICATED, NotFound, LastWayIn),
        summary="Unlink an identity (never your last way in)",
    )
    async def unlink(principal: Caller, client: Client, identity_id: IdentityId) -> None:
        await federation.unlink(principal, identity_id, client=client)

    dependencies = identity.dependencies()
    return [
        Router(path="/api/v1/auth", route_handlers=[providers], tags=["auth"]),
        Router(
            path="/api/v1/me",
            route_handlers=[list_identities, unlink],
            dependencies=dependencies,
            before_request=require_json_body,
            tags=["me"],
        ),
    ]
