"""HEAD on every GET route, and `Allow` naming every method of a path."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Litestar]
EXAMPLES = {
    "slug": "backend",
    "topic_id": "databases.redis",
    "session_ref": "s:unknown",
    "resource_id": "no-such-resource-id",
    "team_id": "3f2b8c1e-5a4d-4e6f-9b7a-0c1d2e3f4a5b",
    "user_id": "3f2b8c1e-5a4d-4e6f-9b7a-0c1d2e3f4a5b",
    "invite_id": "3f2b8c1e-5a4d-4e6f-9b7a-0c1d2e3f4a5b",
    "notification_id": "3f2b8c1e-5a4d-4e6f-9b7a-0c1d2e3f4a5b",
    "identity_id": "3f2b8c1e-5a4d-4e6f-9b7a-0c1d2e3f4a5b",
    "passkey_id": "3f2b8c1e-5a4d-4e6f-9b7a-0c1d2e3f4a5b",
    "webhook_id": "3f2b8c1e-5a4d-4e6f-9b7a-0c1d2e3f4a5b",
    "delivery_id": "3f2b8c1e-5a4d-4e6f-9b7a-0c1d2e3f4a5b",
    "token": "no-such-invite-token-0123456789",
}
VARYING = {"date", "x-request-id"}


def operations(app: Litestar) -> list[tuple[str, str]]:
    """(METHOD, URL) of every documented operation, path parameters filled in."""
    found = []
    for path, item in app.openapi_schema.to_schema()["paths"].items():
        url = path.format_map(EXAMPLES)
        found.extend((method.upper(), url) for method in item)
    return found


def comparable(response: Any) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k not in VARYING}


@pytest.mark.usefixtures("backend_roadmap")
async def test_head_answers_every_get_route_like_get_without_the_body(
    app: Litestar, client: Client, signed_in: dict[str, str]
) -> None:
    gets = [url for method, url in operations(app) if method == "GET"]
    assert len(gets) >= 8
    for url in gets:
        get = await client.get(url, headers=signed_in)
        head = await client.head(url, headers=signed_in)
        again = await client.get(url, headers=signed_in)
        assert head.status_code == get.status_code, url
        assert head.content == b"", url
        if get.content == again.content:  # not a body that changes between requests
            assert comparable(head) == comparable(get), url


@pytest.mark.usefixtures("backend_roadmap")
async def test_head_on_a_roadmap_is_the_same_from_a_cold_and_a_warm_cache(
    app: Litestar, client: Client
) -> None:
    catalog = app.state.container.roadmaps
    assert catalog.fresh("backend") is None
    cold = await client.head("/api/v1/roadmaps/backend")  # routed: Litestar's handler
    assert catalog.fresh("backend") is not None
    warm = await client.head("/api/v1/roadmaps/backend")  # answered by the fast path
    get = await client.get("/api/v1/roadmaps/backend")
    assert cold.status_code == warm.status_code == 200
    assert cold.content == warm.content == b""
    assert comparable(cold) == comparable(warm) == comparable(get)
    assert cold.headers["content-length"] == str(len(get.content))
    metrics = (await client.get("/metrics")).text
    assert 'method="HEAD",route="/api/v1/roadmaps/{slug}",status="200"} 2.0' in metrics


async def test_options_lists_every_method_of_every_path(app: Litestar, client: Client) -> None:
    expected: dict[str, set[str]] = {}
    for method, url in operations(app):
        expected.setdefault(url, {"OPTIONS"}).add(method)
        if method == "GET":
            expected[url].add("HEAD")
    for url, methods in expected.items():
        response = await client.options(url)
        assert response.status_code == 204, url
        assert set(response.headers["allow"].split(", ")) == methods, url
    me = await client.options("/api/v1/me")
    assert me.headers["allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH"


async def test_method_not_allowed_lists_head_with_get(client: Client) -> None:
    response = await client.put("/api/v1/me")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH"
    head_of_a_post_route = await client.head("/api/v1/auth/login")
    assert head_of_a_post_route.status_code == 405
    assert head_of_a_post_route.headers["allow"] == "OPTIONS, POST"
    assert head_of_a_post_route.content == b""
