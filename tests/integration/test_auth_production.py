"""The identity journey on the production adapters: PostgreSQL, Redis, and a real SMTP server."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from tests.auth_helpers import PASSWORD, VERIFY, bearer, login_tokens
from tests.config import app_settings
from tests.contract.redis_server import delete_keys, redis_url  # noqa: F401  (fixture)
from tests.integration.test_mail_smtp import Inbox, free_port, start_server
from waymark.app import create_app
from waymark.infra.redis import create_redis
from waymark.settings import LogSettings, MailSettings, RedisSettings

pytestmark = pytest.mark.backend("postgresql")
Client = AsyncTestClient[Litestar]


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = start_server(inbox, port)
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[tuple[Redis, str]]:  # noqa: F811
    client = create_redis(redis_url)
    prefix = f"waymark-test:{id(client):x}:"
    yield client, prefix
    await delete_keys(client, prefix)
    await client.aclose()


@pytest.fixture
async def client(
    database_url: str,
    redis_url: str,  # noqa: F811
    redis_prefix: tuple[Redis, str],
    smtp: tuple[Inbox, int],
    tmp_path: Path,
) -> AsyncIterator[Client]:
    settings = app_settings(
        database_url=database_url,
        redis_url=redis_url,
        redis=RedisSettings(key_prefix=redis_prefix[1]),
        mail=MailSettings(url=f"smtp://127.0.0.1:{smtp[1]}"),
        var_dir=tmp_path / "var",
        log=LogSettings(level="warning", access=False),
    )
    async with AsyncTestClient(app=create_app(settings)) as test_client:
        yield test_client


async def smtp_token(inbox: Inbox, to: str, subject: str = VERIFY) -> str:
    for _ in range(200):
        for message in inbox.messages():
            if message["To"] == to and message["Subject"] == subject:
                return _token(message)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {subject!r} mail to {to} reached the SMTP server")


def _token(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    match = re.search(r"token=([A-Za-z0-9_-]{20,})", body.get_content())
    assert match
    return match.group(1)


async def test_journey_on_postgres_redis_and_smtp(
    client: Client, smtp: tuple[Inbox, int], redis_prefix: tuple[Redis, str]
) -> None:
    inbox, _ = smtp
    redis, prefix = redis_prefix
    email = "lin@example.org"
    assert client.app.state.container.stores.backend == "redis"
    registered = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD}
    )
    assert registered.status_code == 202
    verified = await client.post(
        "/api/v1/auth/verify-email",
        json={"token": await smtp_token(inbox, email), "password": PASSWORD},
    )
    assert verified.status_code == 200

    tokens = await login_tokens(client, email)
    assert [key async for key in redis.scan_iter(match=f"{prefix}rf:*")], "family kept in Redis"
    rotated = (
        await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    ).json()
    assert (await client.get("/api/v1/me", headers=bearer(rotated))).status_code == 200

    clock = client.app.state.container.clock
    clock.offset += 10  # past the 5 s grace window
    replay = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert replay.status_code == 401
    assert (await client.get("/api/v1/me", headers=bearer(rotated))).status_code == 401
    clock.offset -= 10


async def test_concurrent_refreshes_yield_exactly_one_successor(
    client: Client, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    email = "max@example.org"
    await client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    await client.post(
        "/api/v1/auth/verify-email",
        json={"token": await smtp_token(inbox, email), "password": PASSWORD},
    )
    tokens = await login_tokens(client, email)

    responses = await asyncio.gather(
        *(
            client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
            for _ in range(12)
        )
    )
    assert {r.status_code for r in responses} == {200}
    successors = {r.json()["refresh_token"] for r in responses}
    assert len(successors) == 1, (
        "every concurrent refresh within the grace window gets one successor"
    )
    (successor,) = successors
    assert (
        await client.post("/api/v1/auth/refresh", json={"refresh_token": successor})
    ).status_code == 200
