"""REST for passkeys: signing in with one (username-less), and the account's passkeys
(registered, listed, renamed, removed). Thin: one `Passkeys` call each. The pages' script
(`web/static/passkeys.js`) calls these with the browser's `navigator.credentials`."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Response, delete, get, patch, post
from litestar.params import JSONBody, PathParameter

from waymark.features.auth.errors import (
    LastWayIn,
    PasskeyCounterRegressed,
    PasskeyExists,
    PasskeyRefused,
    SignInDenied,
    StrategyDisabled,
)
from waymark.features.auth.http import signed_in
from waymark.features.auth.passkeys import Passkeys
from waymark.features.auth.schemas import (
    PasskeyCeremony,
    PasskeyRegistration,
    PasskeyRename,
    PasskeySignIn,
    PasskeyView,
    SessionLogin,
    TokenPair,
)
from waymark.kernel.errors import (
    NotAuthenticated,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    UnsupportedMediaType,
)
from waymark.transport.http.guards import require_json_body
from waymark.transport.http.identity import (
    AUTHENTICATED,
    NO_STORE,
    Caller,
    Client,
    RequestIdentity,
)
from waymark.transport.http.problems import BAD_BODY, documented_problems
from waymark.transport.http.router import Router

PasskeyId = Annotated[uuid.UUID, PathParameter(description="An id from `GET /me/passkeys`.")]


def passkey_routes(passkeys: Passkeys, identity: RequestIdentity) -> list[Router]:
    clock = passkeys.clock

    @post(
        "/passkey/options",
        responses=documented_problems(
            StrategyDisabled, RateLimited, ServiceUnavailable, UnsupportedMediaType
        ),
        summary="Begin signing in with a passkey (options for navigator.credentials.get)",
        status_code=200,
    )
    async def sign_in_options(client: Client) -> Response[PasskeyCeremony]:
        return Response(await passkeys.begin_sign_in(client=client), headers=NO_STORE)

    @post(
        "/passkey/verify",
        responses=documented_problems(
            *BAD_BODY, PasskeyRefused, PasskeyCounterRegressed, StrategyDisabled, SignInDenied
        ),
        summary="Sign in with a passkey's assertion",
        description="The ceremony answers once. A passkey whose signature counter did not go "
        "up is refused (`passkey-counter-regressed`) and the account's activity says so.",
        status_code=200,
    )
    async def sign_in(
        data: JSONBody[PasskeySignIn], client: Client
    ) -> Response[TokenPair | SessionLogin]:
        account, issued = await passkeys.sign_in(
            ceremony=data.ceremony, credential=data.credential, mode=data.mode, client=client
        )
        return signed_in(account, issued, now=clock.time())

    @get(
        "/passkeys",
        responses=documented_problems(NotAuthenticated),
        summary="Your passkeys",
    )
    async def list_passkeys(principal: Caller) -> Response[list[PasskeyView]]:
        return Response(await passkeys.list(principal), headers=NO_STORE)

    @post(
        "/passkeys/options",
        responses=documented_problems(
            *AUTHENTICATED, StrategyDisabled, RateLimited, ServiceUnavailable, UnsupportedMediaType
        ),
        summary="Begin registering a passkey (options for navigator.credentials.create)",
        status_code=200,
    )
    async def register_options(principal: Caller, client: Client) -> Response[PasskeyCeremony]:
        ceremony = await passkeys.begin_registration(principal, client=client)
        return Response(ceremony, headers=NO_STORE)

    @post(
        "/passkeys",
        responses=documented_problems(*BAD_BODY, *AUTHENTICATED, PasskeyRefused, PasskeyExists),
        summary="Register a passkey to your account",
        status_code=201,
    )
    async def register(
        data: JSONBody[PasskeyRegistration], principal: Caller, client: Client
    ) -> PasskeyView:
        return await passkeys.register(
            principal,
            ceremony=data.ceremony,
            credential=data.credential,
            name=data.name,
            client=client,
        )

    @patch(
        "/passkeys/{passkey_id:uuid}",
        responses=documented_problems(*BAD_BODY, *AUTHENTICATED, NotFound),
        summary="Rename one of your passkeys",
        status_code=204,
    )
    async def rename(
        data: JSONBody[PasskeyRename], principal: Caller, client: Client, passkey_id: PasskeyId
    ) -> None:
        await passkeys.rename(principal, passkey_id, data.name, client=client)

    @delete(
        "/passkeys/{passkey_id:uuid}",
        responses=documented_problems(*AUTHENTICATED, NotFound, LastWayIn),
        summary="Remove one of your passkeys (never your last way in)",
    )
    async def remove(principal: Caller, client: Client, passkey_id: PasskeyId) -> None:
        await passkeys.remove(principal, passkey_id, client=client)

    dependencies = identity.dependencies()
    return [
        Router(
            path="/api/v1/auth",
            route_handlers=[sign_in_options, sign_in],
            dependencies=dependencies,
            before_request=require_json_body,
            tags=["auth"],
        ),
        Router(
            path="/api/v1/me",
            route_handlers=[list_passkeys, register_options, register, rename, remove],
            dependencies=dependencies,
            before_request=require_json_body,
            tags=["me"],
        ),
    ]
