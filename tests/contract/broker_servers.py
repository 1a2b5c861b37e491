"""The brokers the broker tests run on: the local RabbitMQ (WAYMARK_TEST_AMQP_URL), the local
Redis, and SQS as emulated by moto's server (an emulator: no real SQS is reachable here),
started on a free port for the session and stopped by its pid.

RabbitMQ's management API is not enabled here, so tests get no vhost of their own: each
uses queue names of its own (`waymark-test.<random>`) and deletes them afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.needs import unavailable
from tests.servers import free_port

DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672/"
MOTO_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def amqp_test_url() -> str:
    return os.environ.get("WAYMARK_TEST_AMQP_URL", DEFAULT_AMQP)


def unique_queue() -> str:
    return f"waymark-test.{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def amqp_url() -> str:
    url = amqp_test_url()
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=2):
            pass
    except OSError as exc:
        unavailable("RabbitMQ", f"{url} is not reachable: {exc!r}")
    return url


def _moto_server() -> str:
    found = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    if found is None:
        unavailable("moto", "moto_server is not installed (make install-dev)")
    return found


@pytest.fixture(scope="session")
def sqs_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`sqs://` on moto's server (an SQS emulator), with its dummy credentials in the URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [_moto_server(), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail(f"moto_server did not start: {log.read_text()}")
                time.sleep(0.1)
        keys = MOTO_KEYS
        yield (
            f"sqs://{keys['AWS_ACCESS_KEY_ID']}:{keys['AWS_SECRET_ACCESS_KEY']}@us-east-1"
            f"?endpoint=http://127.0.0.1:{port}"
        )
    finally:
        process.terminate()
        process.wait(timeout=10)


class CuttableProxy:
    """A TCP proxy on a free port of 127.0.0.1 to `upstream`: `cut()` drops every connection
    through it at once, as a network failure or a broker's restart drops a client's (both
    ends see the socket close); it goes on accepting new ones."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> CuttableProxy:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self.cut()
        await self._server.wait_closed()

    def cut(self) -> None:
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(*self.upstream)
        self._open |= {client_w, server_w}

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.transport.abort()

        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))
        self._open -= {client_w, server_w}
