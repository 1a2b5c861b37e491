"""`waymark worker`: run the jobs the outbox relay publishes to the broker."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from waymark.cli.common import console, fail, load_settings, make_container, refuse_unsafe
from waymark.infra.broker.metrics import BrokerBacklog, JobMetrics, serve_metrics
from waymark.infra.broker.worker import Worker
from waymark.infra.observability.logging import configure_logging
from waymark.infra.observability.metrics import HttpMetrics
from waymark.kernel.broker import Broker
from waymark.kernel.errors import Conflict
from waymark.settings import Settings


def require_broker(settings: Settings) -> None:
    if not settings.broker_url:
        raise fail(
            Conflict(
                "WAYMARK_BROKER_URL is not set: jobs run in each server's outbox relay, and "
                "there is no broker to work for"
            )
        )


def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="Jobs run at once. Default: WAYMARK_BROKER__PREFETCH."),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="Serve Prometheus metrics on this port (off: unset)."),
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="Where the metrics listen.")] = "127.0.0.1",
) -> None:
    """Run the registered job handlers on the jobs the broker (WAYMARK_BROKER_URL) delivers,
    until SIGTERM or Ctrl-C: running jobs then get WAYMARK_BROKER__SHUTDOWN_GRACE seconds to
    finish, and the rest go back to the broker."""
    settings = load_settings()
    refuse_unsafe(settings)
    require_broker(settings)
    configure_logging(settings.log)
    asyncio.run(
        _work(settings, concurrency or settings.broker.prefetch, metrics_host, metrics_port)
    )


async def _work(settings: Settings, concurrency: int, host: str, port: int | None) -> None:
    container = make_container(settings)
    broker: Broker | None = container.broker
    assert broker is not None
    metrics = HttpMetrics()
    metrics.add_scrape_source("broker", BrokerBacklog(broker))
    worker = Worker(
        broker,
        container.handlers,
        container.db,
        policy=container.relay.policy,
        time_limit=settings.outbox.handler_timeout,
        concurrency=concurrency,
        batch_size=settings.broker.batch_size,
        batch_wait=settings.broker.batch_wait,
        shutdown_grace=settings.broker.shutdown_grace,
        metrics=JobMetrics(metrics.registry),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = None
    try:
        await broker.setup()
        if port is not None:
            server = await serve_metrics(metrics, host, port)
        console.print(
            f"Waymark worker: {len(container.handlers.kinds)} job kinds, "
            f"{concurrency} at a time (SIGTERM stops it)",
            highlight=False,
        )
        await worker.run(stop)
    finally:
        if server is not None:
            server.close()
        await container.aclose()
    console.print("Waymark worker stopped", highlight=False)
