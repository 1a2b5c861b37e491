"""The Litestar application factory. `granian --factory waymark.app:create_app` serves it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.handlers.base import BaseRouteHandler
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp

from waymark.container import Container
from waymark.features.accounts.http import account_routes, me_fast_route
from waymark.features.auth.federation_http import federation_routes
from waymark.features.auth.http import auth_routes
from waymark.features.auth.mfa_http import mfa_routes
from waymark.features.auth.passkeys_http import passkey_routes
from waymark.features.authz.http import authz_routes
from waymark.features.live.http import EVENTS_PATH, live_routes
from waymark.features.live.socketio import PATH as SOCKET_IO_PATH
from waymark.features.live.socketio import LiveSocketIo
from waymark.features.live.ws import LiveSocketRoute
from waymark.features.notes.http import notes_routes
from waymark.features.notifications.http import notification_routes
from waymark.features.ops.http import OPS_PATHS, ops_routes
from waymark.features.portability.http import portability_routes
from waymark.features.progress.http import progress_fast_routes, progress_routes
from waymark.features.roadmaps.http import roadmap_fast_routes, roadmap_routes
from waymark.features.teams.http import team_routes
from waymark.features.webhooks.http import webhook_routes
from waymark.infra.observability.logging import configure_logging
from waymark.settings import Settings, require_safe
from waymark.transport.http.client import parse_networks
from waymark.transport.http.context import RequestContextMiddleware
from waymark.transport.http.cors import CrossOriginAccess
from waymark.transport.http.fast import FastRoute, FastRoutes
from waymark.transport.http.identity import RequestIdentity
from waymark.transport.http.methods import HttpMethodSemantics
from waymark.transport.http.openapi import (
    ClosedStructSchemas,
    describe_errors_as_problems,
    openapi_config,
)
from waymark.transport.http.problems import exception_handlers
from waymark.transport.http.request import WaymarkRequest
from waymark.transport.http.shedding import LoadShedder
from waymark.transport.signals import BeforeStop
from waymark.web.site import web_site

KEY_RELOAD_SECONDS = 10.0


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings()
    require_safe(settings)
    configure_logging(settings.log)
    container = Container(settings)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        # Each process relays the outbox; leases keep two relays off the same message.
        stop = asyncio.Event()
        background = [
            asyncio.create_task(
                container.relay.run_forever(stop, settings.outbox.poll_interval),
                name="outbox-relay",
            ),
            asyncio.create_task(_follow_key_rotation(container, stop), name="key-reload"),
            asyncio.create_task(container.live.keep_presence(stop), name="live-presence"),
        ]
        if settings.scheduler_in_process:  # the embedded profile's; else `waymark scheduler`
            background.append(
                asyncio.create_task(container.scheduler.run_forever(stop), name="scheduler")
            )
        # On SIGTERM, live streams end cleanly before the server stops (transport/signals.py).
        before_stop = BeforeStop(lambda: container.live.stop(settings.live.stop_grace_seconds))
        before_stop.install()
        try:
            yield
        finally:
            before_stop.uninstall()
            stop.set()
            await asyncio.gather(*background)
            await container.aclose()

    identity = RequestIdentity(
        container.auth.authenticator,
        trusted_proxies=parse_networks(settings.http.trusted_proxies),
        step_up=container.mfa.require_step_up,
    )
    site = web_site(
        catalog=container.roadmaps,
        accounts=container.accounts,
        auth=container.auth,
        federation=container.federation,
        mfa=container.mfa,
        passkeys=container.passkeys,
        identity=identity,
        progress=container.progress,
        notes=container.notes,
        portability=container.portability,
        teams=container.teams,
        notifications=container.notifications,
        webhooks=container.webhooks,
        db=container.db,
    )
    app = Litestar(
        route_handlers=[
            roadmap_routes(container.roadmaps, identity, throttle=container.throttle),
            *auth_routes(container.auth, identity, container.keys),
            *federation_routes(container.federation, identity),
            *mfa_routes(container.mfa, identity),
            *passkey_routes(container.passkeys, identity),
            *account_routes(container.accounts, identity),
            progress_routes(container.progress, identity),
            notes_routes(container.notes, identity),
            notification_routes(container.notifications, identity),
            portability_routes(container.portability, identity),
            *team_routes(container.teams, identity, container.auth.renew_session),
            webhook_routes(container.webhooks, identity),
            live_routes(container.live, container.live_tickets, identity),
            authz_routes(),
            ops_routes(container.metrics, container.readiness_probes()),
            *site.routes,
        ],
        lifespan=[lifespan],
        exception_handlers=site.error_pages(exception_handlers()),
        template_config=site.template_config,
        request_class=WaymarkRequest,
        plugins=[ClosedStructSchemas()],
        openapi_config=openapi_config(),
        request_max_body_size=settings.http.max_body_bytes,
        logging_config=None,
        debug=False,
    )
    app.state.container = container
    describe_errors_as_problems(app.routes)
    # Socket.IO checks its own origins (Engine.IO's) and is capped by the live feature.
    socket_io = LiveSocketIo(container.live, identity, origins=settings.browser_origins)
    # Outermost, so it sees the final status of every response, routed or not; HEAD becomes
    # GET before the roadmap fast path, so both answer HEAD alike. CORS is outside the load
    # shedder, so a browser elsewhere can read a 503 too.
    handler = RequestContextMiddleware(
        CrossOriginAccess(
            LoadShedder(
                socket_io.mount(
                    HttpMethodSemantics(
                        _fast_routes(app, container, identity, settings, site.fast_routes),
                        methods_of=lambda template: _route_methods(app, template),
                    )
                ),
                max_in_flight=settings.http.max_in_flight,
                # Live streams stay open: they are capped by the live feature, not here.
                exempt={*OPS_PATHS, EVENTS_PATH, SOCKET_IO_PATH},
            ),
            origins=settings.http.cors_origins,
            max_age=settings.http.cors_max_age,
        ),
        metrics=container.metrics,
        access_log_enabled=settings.log.access,
    )
    # WebSocket connections to the live channels; the layers above see only HTTP.
    app.asgi_handler = LiveSocketRoute(
        handler,
        live=container.live,
        tickets=container.live_tickets,
        settings=settings.live,
        origins=frozenset(settings.browser_origins),
    )
    return app


def _fast_routes(
    app: Litestar,
    container: Container,
    identity: RequestIdentity,
    settings: Settings,
    pages: list[FastRoute],
) -> ASGIApp:
    """The hot GETs answered before routing (`transport/http/fast.py`), unless disabled."""
    if not settings.http.fast_routes:
        return app.asgi_handler
    return FastRoutes(
        app.asgi_handler,
        [
            *roadmap_fast_routes(container.roadmaps),
            me_fast_route(),
            *progress_fast_routes(container.progress),
            *pages,
        ],
        identity=identity,
        handler_of=lambda template, method: route_handler(app, template, method),
        max_body_bytes=settings.http.max_body_bytes,
        hot_reads=container.db.hot_reads,
    )


def route_handler(app: Litestar, template: str, method: str) -> BaseRouteHandler | None:
    """The handler of `method` on the route with this path template, if there is one."""
    for route in app.routes:
        if isinstance(route, HTTPRoute) and route.path_format == template:
            found = route.route_handler_map.get(method)  # type: ignore[call-overload]
            if found is not None:
                handler: BaseRouteHandler = found[0]
                return handler
    return None


def _route_methods(app: Litestar, template: str) -> frozenset[str] | None:
    """The methods of the route with this path template (read when asked: routes can be
    registered after the app is built)."""
    return next(
        (
            frozenset(route.methods)
            for route in app.routes
            if isinstance(route, HTTPRoute) and route.path_format == template
        ),
        None,
    )


async def _follow_key_rotation(container: Container, stop: asyncio.Event) -> None:
    """Pick up signing keys rotated by `waymark keys rotate` (a stat every few seconds)."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), KEY_RELOAD_SECONDS)
        container.keys.reload()
