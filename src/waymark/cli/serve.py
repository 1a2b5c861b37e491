"""`waymark serve`: the HTTP API on Granian."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import sys
from typing import Annotated

import typer

from waymark.cli.common import console, fail, load_settings, refuse_unsafe
from waymark.infra.observability.logging import configure_logging
from waymark.infra.observability.metrics import use_multiprocess_directory
from waymark.infra.sql.urls import redact
from waymark.kernel.errors import Conflict, WaymarkError

# Granian's loggers hand their records to the root logger, which renders them like ours.
_GRANIAN_LOGS_TO_ROOT = {
    "formatters": {},
    "handlers": {},
    "loggers": {
        "_granian": {"handlers": [], "propagate": True},
        "granian.access": {"handlers": [], "propagate": True},
    },
}


def serve(
    host: Annotated[str | None, typer.Option(help="Overrides WAYMARK_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Overrides WAYMARK_PORT.")] = None,
    workers: Annotated[int | None, typer.Option(help="Overrides WAYMARK_WORKERS.")] = None,
) -> None:
    """Serve the HTTP API with Granian."""
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels
    from granian.server import Server

    settings = load_settings()
    refuse_unsafe(settings)
    host, port = host or settings.host, port if port is not None else settings.port
    workers = workers or settings.workers
    if workers > 1:
        # Every worker writes its metrics here; /metrics aggregates them.
        metrics_dir = settings.var_dir / "prometheus"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        use_multiprocess_directory(metrics_dir.resolve())
    try:
        refuse_a_port_in_use(host, port)
    except WaymarkError as error:
        raise fail(error) from None
    configure_logging(settings.log)  # Granian's own lines, in this process, as JSON too
    base = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    console.print(
        f"Waymark serving on {base} (API docs: {base}/schema/docs; Ctrl-C stops it)\n"
        f"  {settings.profile} profile, {redact(settings.resolved_database_url)}, "
        f"{workers} worker(s)",
        highlight=False,
    )
    Server(
        "waymark.app:create_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop if sys.platform != "win32" else Loops.asyncio,
        backpressure=settings.http.backpressure,
        log_enabled=True,
        log_level=LogLevels(settings.log.level),
        log_dictconfig=_GRANIAN_LOGS_TO_ROOT,
        respawn_failed_workers=True,
        # The last resort: a worker still busy this long after SIGTERM is killed.
        workers_kill_timeout=settings.http.workers_kill_timeout,
    ).serve()


def refuse_a_port_in_use(host: str, port: int) -> None:
    """Raise `Conflict` if something already listens on host:port.

    Granian's workers share their port through SO_REUSEPORT, which lets a second server bind
    it too: the kernel then splits connections between the two, and nobody is told. A bind
    without SO_REUSEPORT fails while anything listens there, so one is tried first (with
    SO_REUSEADDR, which on POSIX only forgives connections of a stopped server in TIME_WAIT).
    Other failures (no such address, a privileged port) are left for Granian to report.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror:
        return
    with socket.socket(family, kind, proto) as probe:
        if os.name == "posix":
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise Conflict(
                    f"{host}:{port} is already in use: another server (a Waymark started "
                    "earlier?) listens there. Stop it, or serve on another port with --port "
                    "or WAYMARK_PORT."
                ) from None
