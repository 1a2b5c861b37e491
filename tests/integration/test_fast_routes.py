"""The routes answered before routing (`transport/http/fast.py`) answer exactly as their
Litestar routes: every request, good or bad, sent to an app with them and to one without
(`http.fast_routes=false`) on the same database gets the same status, headers and body."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.auth_helpers import Client, bearer, login_tokens, register_verified
from tests.web_helpers import browsing, member
from waymark.app import create_app
from waymark.settings import Settings
from waymark.transport.http.fast import FastRoutes
from waymark.transport.http.identity import SESSION_COOKIE

pytestmark = pytest.mark.usefixtures("backend_roadmap")

PROGRESS = "/api/v1/me/progress/backend"


def fast_routes_of(app: Litestar) -> FastRoutes:
    layer: Any = app.asgi_handler
    while not isinstance(layer, FastRoutes):
        layer = layer.app
    return layer


@pytest.fixture
async def framework_only(settings: Settings) -> AsyncIterator[Client]:
    """The same app on the same database, with every request routed by Litestar."""
    plain = settings.model_copy(
        update={"http": settings.http.model_copy(update={"fast_routes": False})}
    )
    app = create_app(plain)
    with pytest.raises(AttributeError):
        fast_routes_of(app)
    async with AsyncTestClient(app=app, base_url="https://testserver.local") as client:
        yield client


def comparable(response: Any) -> tuple[int, dict[str, str], Any]:
    headers = {k: v for k, v in response.headers.items() if k not in {"x-request-id", "date"}}
    body: Any = response.content
    if headers.get("content-type", "").startswith("application/problem+json"):
        body = json.loads(body)
        assert body.pop("request_id") == response.headers["x-request-id"]
    return response.status_code, headers, body


async def test_fast_routes_answer_as_their_routes(
    app: Litestar, framework_only: Client, mail_dir: Path
) -> None:
    async with browsing(app) as client:
        await member(client, mail_dir, "cookie@example.org")
        session = client.cookies[SESSION_COOKIE]
        client.cookies.clear()  # both clients send only the headers of each case
        await register_verified(client, mail_dir, "fast@example.org")
        token = bearer(await login_tokens(client, "fast@example.org"))
        changed = await client.put(
            f"{PROGRESS}/topics/databases.redis", json={"status": "learning"}, headers=token
        )
        assert changed.status_code == 200, changed.text
        etag = changed.headers["etag"]
        await client.get("/api/v1/roadmaps/backend")  # cached: the fast route serves it
        cookie = {"cookie": f"other=1; {SESSION_COOKIE}={session}"}
        cases: list[tuple[str, str, dict[str, str], int]] = [
            ("GET", "/api/v1/me", token, 200),
            ("HEAD", "/api/v1/me", token, 200),
            ("GET", "/api/v1/me", cookie, 200),
            ("GET", "/api/v1/me", {}, 401),
            ("GET", "/api/v1/me", {"authorization": "Bearer not.a.token"}, 401),
            ("GET", "/api/v1/me", {"cookie": f"{SESSION_COOKIE}=forged"}, 401),
            ("GET", "/api/v1/roadmaps/backend", {}, 200),
            ("GET", "/api/v1/roadmaps/backend/topics/databases.redis", {}, 200),
            ("HEAD", "/api/v1/roadmaps/backend/topics/databases.redis", {}, 200),
            ("GET", "/api/v1/roadmaps/backend/topics/no.such-topic", {}, 404),
            ("GET", "/api/v1/roadmaps/nope/topics/databases.redis", {}, 404),
            ("GET", PROGRESS, token, 200),
            ("GET", PROGRESS, cookie, 200),
            ("GET", PROGRESS, {**token, "if-none-match": etag}, 304),
            ("GET", PROGRESS, {**token, "if-none-match": f'"other", {etag}'}, 304),
            ("GET", PROGRESS, {**token, "if-none-match": '"other"'}, 200),
            ("GET", PROGRESS, {}, 401),
            ("GET", "/api/v1/me/progress/nope", token, 404),
        ]
        # Left to Litestar by the fast routes: what their parameters refuse.
        routed: list[tuple[str, str, dict[str, str], int]] = [
            ("GET", "/api/v1/me/progress/" + "a" * 65, token, 422),
            ("GET", PROGRESS, {**token, "if-none-match": '"' + "x" * 1030 + '"'}, 422),
            ("GET", "/api/v1/me/", token, 200),
        ]
        fast = fast_routes_of(app)
        for expected_fast, batch in ((True, cases), (False, routed)):
            for method, path, headers, status in batch:
                before = fast.answered
                answer = comparable(await client.request(method, path, headers=headers))
                plain = comparable(await framework_only.request(method, path, headers=headers))
                assert answer == plain, (method, path, headers)
                assert answer[0] == status, (method, path, answer)
                assert fast.answered == before + expected_fast, (method, path)
        metrics = (await client.get("/metrics")).text
        assert 'route="/api/v1/me",status="200"}' in metrics
        assert 'route="/api/v1/me/progress/{slug}",status="304"}' in metrics
