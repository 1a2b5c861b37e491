"""The routes answered before routing (`transport/http/fast.py`) answer exactly as their
Litestar routes: every request, good or bad, sent to an app with them and to one without
(`http.fast_routes=false`) on the same database gets the same status, headers and body."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.auth_helpers import Client, bearer, login_tokens, register_verified
from tests.web_helpers import browsing, csrf_of, member
from waymark.app import create_app, route_handler
from waymark.features.accounts.http import me_fast_route
from waymark.settings import Settings
from waymark.transport.http.fast import FastRoute, FastRoutes
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
        await compare_changes(client, framework_only, fast, token, cookie)
        metrics = (await client.get("/metrics")).text
        assert 'route="/api/v1/me",status="200"}' in metrics
        assert 'route="/api/v1/me/progress/{slug}",status="304"}' in metrics


async def compare_changes(
    client: Client,
    framework_only: Client,
    fast: FastRoutes,
    token: dict[str, str],
    cookie: dict[str, str],
) -> None:
    """A change answered alike: each case sent to one app, then the same to the other, from
    the same statuses (a change is reverted before the other app gets the case). The event
    number grows with every change, so the ETag is compared by its shape, and `If-Match:
    CURRENT` sends the view's ETag of the moment."""
    topic = f"{PROGRESS}/topics/databases.mongodb"
    as_json = {"content-type": "application/json"}
    body = b'{"status": "done"}'
    csrf = csrf_of((await client.get("/", headers=cookie)).text)
    cases: list[tuple[str, dict[str, str], bytes, int, bool]] = [
        (topic, {**token, **as_json}, body, 200, True),
        (topic, {**token, **as_json, "if-match": "CURRENT"}, body, 200, True),
        (topic, {**token, **as_json, "if-match": '"p0.v1.s0"'}, body, 412, True),
        (topic, {**as_json}, body, 401, True),
        (topic, {**cookie, **as_json}, body, 403, True),  # no CSRF token
        (topic, {**cookie, **as_json, "x-csrf-token": csrf}, body, 200, True),
        (f"{PROGRESS}/topics/no.such-topic", {**token, **as_json}, body, 404, True),
        (topic, {**token, "content-type": "text/plain"}, body, 415, True),
        (topic, {**token, **as_json}, b'{"status": "finished"}', 422, False),
        (topic, {**token, **as_json}, b'{"status": "done", "extra": 1}', 422, False),
        (topic, {**token, **as_json}, b"not json", 400, False),
        (topic, {**token, **as_json}, b'{"status": "\xff"}', 400, False),
        (topic, {**token, **as_json}, b"", 422, False),
        (topic, {**token, **as_json, "if-match": '"' + "x" * 130 + '"'}, body, 422, False),
    ]
    for path, headers, content, status, expected_fast in cases:
        answers = []
        for target in (client, framework_only):
            sent = dict(headers)
            if sent.get("if-match") == "CURRENT":
                sent["if-match"] = (await client.get(PROGRESS, headers=token)).headers["etag"]
            before = fast.answered
            response = await target.request("PUT", path, headers=sent, content=content)
            if target is client:
                assert fast.answered == before + expected_fast, (headers, content)
            answer = comparable(response)
            if response.status_code == 200:
                assert re.fullmatch(r'"p\d+\.v1\.s1"', answer[1].pop("etag"))
                same_caller = {k: v for k, v in sent.items() if k != "if-match"}
                back = await client.put(topic, headers=same_caller, json={"status": "pending"})
                assert back.status_code == 200
            answers.append(answer)
        assert answers[0] == answers[1], (headers, content)
        assert answers[0][0] == status, (headers, content, answers[0])


def test_a_fast_route_refuses_a_hook_it_does_not_run(app: Litestar) -> None:
    """`/api/v1/me`'s router checks bodies' media type before each request: a fast route
    that does not run that hook too would skip it, so it is refused."""
    skipping = FastRoute("/api/v1/me", me_fast_route().answer)
    routes = fast_routes_of(app)
    with pytest.raises(RuntimeError, match="hooks"):
        FastRoutes(
            app.asgi_handler,
            [skipping],
            identity=routes.identity,
            handler_of=lambda template, method: route_handler(app, template, method),
            max_body_bytes=1024,
        )


async def test_a_learners_view_waits_for_one_hot_connection_for_caller_and_view(
    app: Litestar, mail_dir: Path
) -> None:
    """The progress view's fast route reads the caller's account and the learner's state on
    one hot-read connection (`FastRoute.reads`): one wait for the pool, not two."""
    db = app.state.container.db
    if not db.has_hot_pool:
        pytest.skip("an in-memory SQLite database has no hot-read pool")
    async with browsing(app) as client:
        await register_verified(client, mail_dir, "one-wait@example.org")
        token = bearer(await login_tokens(client, "one-wait@example.org"))
        taken = 0
        take = db._take_driver_connection

        async def counted() -> Any:
            nonlocal taken
            taken += 1
            return await take()

        db._take_driver_connection = counted
        try:
            view = await client.get(PROGRESS, headers=token)
            assert view.status_code == 200, view.text
            assert taken == 1
            me = await client.get("/api/v1/me", headers=token)  # one read: one connection
            assert me.status_code == 200
            assert taken == 2
        finally:
            del db._take_driver_connection
