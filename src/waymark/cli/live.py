"""`waymark live`: the live gateway, `/api/v1/live` alone on the `websockets` server, for
deployments holding many sockets (docs/live.md, "The gateway"). `waymark serve` serves the
same endpoint itself; a deployment routes `/api/v1/live` here instead."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Annotated

import typer

from waymark.cli.common import console, fail, load_settings, make_container, refuse_unsafe
from waymark.cli.serve import refuse_a_port_in_use
from waymark.infra.observability.logging import configure_logging
from waymark.kernel.errors import WaymarkError
from waymark.settings import Settings


def live(
    host: Annotated[str | None, typer.Option(help="Overrides WAYMARK_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Overrides WAYMARK_LIVE__GATEWAY_PORT.")] = None,
) -> None:
    """Serve the live WebSocket (/api/v1/live) alone, for many sockets per process."""
    settings = load_settings()
    refuse_unsafe(settings)
    host, port = host or settings.host, port if port is not None else settings.live.gateway_port
    try:
        refuse_a_port_in_use(host, port)
    except WaymarkError as error:
        raise fail(error) from None
    configure_logging(settings.log)
    # Its own lines are two per socket (open, closed) at info: warnings and errors only.
    logging.getLogger("websockets").setLevel(logging.WARNING)
    base = f"ws://[{host}]:{port}" if ":" in host else f"ws://{host}:{port}"
    console.print(
        f"Waymark live gateway on {base}/api/v1/live (SIGTERM or Ctrl-C stops it)",
        highlight=False,
    )
    if sys.platform != "win32":
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    else:
        runner = asyncio.Runner()
    with runner:
        runner.run(run_gateway(settings, host, port))


async def run_gateway(settings: Settings, host: str, port: int) -> None:
    """What a live process runs: the gateway, and this process's presence kept fresh, until
    SIGTERM or SIGINT; then every socket is closed (1001) and the container released."""
    # Imported here, as the container is (`make_container`): other commands never need them.
    from waymark.features.live.gateway import LiveGateway
    from waymark.features.live.ws import LiveSockets
    from waymark.features.ops.service import readiness

    container = make_container(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    probes = container.readiness_probes()
    gateway = LiveGateway(
        LiveSockets(
            live=container.live,
            tickets=container.live_tickets,
            settings=settings.live,
            origins=frozenset(settings.browser_origins),
        ),
        readiness=lambda: readiness(probes),
    )
    presence = asyncio.create_task(container.live.keep_presence(stop), name="live-presence")
    try:
        await gateway.run(host, port, stop)
    finally:
        stop.set()
        await presence
        await container.aclose()
