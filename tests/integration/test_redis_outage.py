"""Redis going away in production: whatever needs it answers 503 with Retry-After (it fails
closed, never open and never 500), and readiness names Redis.

The outage is real, not mocked: the app reaches the test Redis through a TCP proxy in this
test, and the proxy is shut down, resetting every connection and refusing new ones.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from tests.auth_helpers import PASSWORD, bearer, login_tokens, register_verified
from tests.config import app_settings
from tests.contract.redis_server import delete_keys, redis_url  # noqa: F401  (fixture)
from waymark.app import create_app
from waymark.infra.redis import create_redis
from waymark.settings import LogSettings, RedisSettings

pytestmark = pytest.mark.backend("postgresql")


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target until `cut()`. Threads, not the test's event
    loop: the test client runs the app on a loop of its own, which the proxy must not
    depend on."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.open = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # the listener was closed: cut
                return
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        """Refuse new connections and reset every open one, as a dead server would."""
        self.open = False
        # shutdown() first: close() alone leaves the socket listening while the accepting
        # thread is blocked in accept().
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    sock.close()


@pytest.fixture
def proxy(redis_url: str) -> Iterator[TcpProxy]:  # noqa: F811
    parts = urlsplit(redis_url)
    tcp = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    yield tcp
    if tcp.open:
        tcp.cut()


@pytest.fixture
async def prefix(redis_url: str) -> AsyncIterator[str]:  # noqa: F811
    client: Redis = create_redis(redis_url)
    key_prefix = f"waymark-test:outage:{id(client):x}:"
    yield key_prefix
    await delete_keys(client, key_prefix)
    await client.aclose()


async def test_requests_that_need_redis_answer_503_while_it_is_gone(
    database_url: str,
    redis_url: str,  # noqa: F811
    proxy: TcpProxy,
    prefix: str,
    tmp_path: Path,
) -> None:
    database = urlsplit(redis_url).path or "/0"
    settings = app_settings(
        database_url=database_url,
        redis_url=f"redis://127.0.0.1:{proxy.port}{database}",
        redis=RedisSettings(
            key_prefix=prefix, pool_timeout=0.5, socket_timeout=0.5, connect_timeout=0.5
        ),
        var_dir=tmp_path / "var",
        log=LogSettings(level="error", access=False),
    )
    email = "rae@example.org"
    async with AsyncTestClient(app=create_app(settings)) as client:
        await register_verified(client, settings.var_dir / "mail", email)
        tokens = await login_tokens(client, email)
        browser = await client.post(
            "/api/v1/auth/login", json={"email": email, "password": PASSWORD, "mode": "session"}
        )
        cookie = {"cookie": browser.headers["set-cookie"].split(";")[0]}
        assert (await client.get("/api/v1/me", headers=bearer(tokens))).status_code == 200
        ready = await client.get("/readyz")
        assert ready.json()["checks"] == {"database": "ok", "redis": "ok"}

        proxy.cut()

        answers = {
            "bearer": await client.get("/api/v1/me", headers=bearer(tokens)),
            "cookie": await client.get("/api/v1/me", headers=cookie),
            "refresh": await client.post(
                "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
            ),
            "login": await client.post(
                "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
            ),
            "sessions": await client.get("/api/v1/me/sessions", headers=bearer(tokens)),
        }
        for name, answer in answers.items():
            assert answer.status_code == 503, (name, answer.text)
            assert answer.headers["retry-after"] == "1", name
            assert answer.json()["code"] == "service-unavailable", name
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        checks = ready.json()["extra"]["checks"]
        assert checks["database"] == "ok"
        assert checks["redis"].startswith("unreachable")
