"""REST for roadmaps, in-process through the ASGI app, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient

from tests.conftest import BACKEND_ROADMAP
from waymark.features.roadmaps import document
from waymark.features.roadmaps import http as roadmaps_http
from waymark.features.roadmaps.http import roadmap_fast_routes
from waymark.features.roadmaps.limits import VALIDATE_IP
from waymark.features.roadmaps.schemas import RoadmapSpec
from waymark.features.roadmaps.service import import_roadmap
from waymark.infra.sql.database import Database
from waymark.kernel.clock import utcnow
from waymark.transport.http.fast import FastRoutes

Client = AsyncTestClient[Litestar]
pytestmark = pytest.mark.usefixtures("backend_roadmap")


async def test_backend_roadmap_has_8_sections_and_45_topics_in_seed_order(client: Client) -> None:
    response = await client.get("/api/v1/roadmaps/backend")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    spec = document.load(BACKEND_ROADMAP)
    assert [s["id"] for s in body["sections"]] == [s.id for s in spec.sections]
    assert [[t["id"] for t in s["topics"]] for s in body["sections"]] == [
        [t.id for t in s.topics] for s in spec.sections
    ]
    assert sum(len(s["topics"]) for s in body["sections"]) == 45
    first = body["sections"][0]
    assert (first["title"], first["position"], len(first["topics"])) == ("Language", 1, 6)
    assert [t["position"] for t in first["topics"]] == [1, 2, 3, 4, 5, 6]
    assert body["version"] == 1
    assert body["updated_at"].endswith("Z") or body["updated_at"].endswith("+00:00")


async def test_etag_and_conditional_get(client: Client) -> None:
    first = await client.get("/api/v1/roadmaps/backend")
    etag = first.headers["etag"]
    assert etag[0] == etag[-1] == '"', "a strong validator"
    assert "max-age" in first.headers["cache-control"]

    for header in (etag, f"W/{etag}", f'"nope", {etag}', "*"):
        again = await client.get("/api/v1/roadmaps/backend", headers={"if-none-match": header})
        assert again.status_code == 304, header
        assert again.content == b""
        assert again.headers["etag"] == etag

    stale = await client.get("/api/v1/roadmaps/backend", headers={"if-none-match": '"other"'})
    assert stale.status_code == 200
    assert stale.content == first.content


async def test_etag_changes_when_content_changes(
    app: Litestar, client: Client, db: Database
) -> None:
    before = (await client.get("/api/v1/roadmaps/backend")).headers["etag"]
    spec = document.load(BACKEND_ROADMAP)
    edited = RoadmapSpec(
        slug=spec.slug, title=spec.title, description="Edited.", sections=spec.sections
    )
    async with db.transaction() as conn:
        await import_roadmap(conn, edited, now=utcnow())
    app.state.container.roadmaps.invalidate("backend")
    after = await client.get("/api/v1/roadmaps/backend", headers={"if-none-match": before})
    assert after.status_code == 200
    assert after.headers["etag"] != before
    assert after.json()["version"] == 2


async def test_topic_with_its_section(client: Client) -> None:
    response = await client.get("/api/v1/roadmaps/backend/topics/databases.postgresql")
    assert response.status_code == 200
    assert response.json() == {
        "id": "databases.postgresql",
        "title": "PostgreSQL",
        "description": "ACID transactions, JSON support, full-text search, extensions.",
        "kind": "core",
        "position": 2,
        "section": {"id": "databases", "title": "Databases", "position": 3},
        "roadmap": {"slug": "backend", "title": "Backend developer"},
    }


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/roadmaps/frontend",
        "/api/v1/roadmaps/backend/topics/databases.cobol",
        "/api/v1/roadmaps/backend/topics/not-an-id",
        "/api/v1/roadmaps/BACKEND",
        "/api/v1/roadmaps/back%00end",
        "/api/v1/roadmaps/backend/topics/databases.post%00gresql",
    ],
)
async def test_unknown_slugs_and_topics_are_404_problems(client: Client, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not-found"


async def _another_roadmap(db: Database, slug: str) -> None:
    spec = document.parse(
        f'slug = "{slug}"\ntitle = "{slug}"\n[[sections]]\nid = "s"\ntitle = "S"\n'
        f'[[sections.topics]]\nid = "s.t"\ntitle = "T"\n'.encode(),
        "toml",
    )
    async with db.transaction() as conn:
        await import_roadmap(conn, spec, now=utcnow())


async def test_list_is_paginated_by_cursor(client: Client, db: Database) -> None:
    for slug in ("alpha", "devops", "zeta"):
        await _another_roadmap(db, slug)
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        response = await client.get("/api/v1/roadmaps", params=params)
        assert response.status_code == 200
        page = response.json()
        assert len(page["items"]) <= 2
        seen += [item["slug"] for item in page["items"]]
        pages += 1
        if not (cursor := page["next_cursor"]):
            break
    assert seen == ["alpha", "backend", "devops", "zeta"]
    assert pages == 2
    backend = (await client.get("/api/v1/roadmaps", params={"limit": 100})).json()["items"][1]
    assert (backend["topic_count"], backend["section_count"]) == (45, 8)


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5"])
async def test_bad_page_sizes_are_validation_problems(client: Client, limit: str) -> None:
    response = await client.get("/api/v1/roadmaps", params={"limit": limit})
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "validation-failed"
    assert problem["errors"][0]["field"] == "query.limit"


async def test_overlong_cursors_are_refused_before_decoding(client: Client) -> None:
    for cursor, message in (
        ("A" * 513, "Expected `str` of length <= 512"),
        ("A" * 512, "not a cursor from this API"),
    ):
        response = await client.get("/api/v1/roadmaps", params={"cursor": cursor})
        assert response.status_code == 422
        assert response.json()["errors"] == [{"field": "query.cursor", "message": message}]


async def test_validate_accepts_the_shipped_roadmap_in_both_formats(client: Client) -> None:
    toml_bytes = BACKEND_ROADMAP.read_bytes()
    for content_type, body in (
        ("application/toml", toml_bytes),
        ("application/json; charset=utf-8", _as_json(toml_bytes)),
    ):
        response = await client.post(
            "/api/v1/roadmaps/validate", content=body, headers={"content-type": content_type}
        )
        assert response.status_code == 200, response.text
        assert response.json()["topics"] == 45


def _as_json(toml_bytes: bytes) -> bytes:
    import msgspec

    return msgspec.json.encode(document.parse(toml_bytes, "toml"))


def _comparable(response: Any) -> tuple[int, bytes, dict[str, str]]:
    headers = {k: v for k, v in response.headers.items() if k not in {"x-request-id", "date"}}
    return response.status_code, response.content, headers


async def _answers(
    client: Client, etag: str, before_each: Callable[[], None] = lambda: None
) -> list[tuple[int, bytes, dict[str, str]]]:
    """What every kind of request for one roadmap gets, in a fixed order; `before_each`
    puts the cache in the state to test before each request."""
    url = "/api/v1/roadmaps/backend"
    requests: list[tuple[str, dict[str, str]]] = [
        ("GET", {}),
        ("HEAD", {}),
        ("GET", {"if-none-match": etag}),
        ("HEAD", {"if-none-match": etag}),
        ("GET", {"if-none-match": '"other"'}),
    ]
    answers = []
    for method, headers in requests:
        before_each()
        answers.append(_comparable(await client.request(method, url, headers=headers)))
    return answers


async def test_fast_path_answers_exactly_like_the_route(app: Litestar, client: Client) -> None:
    """On a cold cache the route answers (and fills it); on a warm one the fast path does;
    on a stale one the route answers from the old bytes while one refresh runs. Every kind
    of request gets the same answer in each state."""
    catalog = app.state.container.roadmaps
    clock = app.state.container.clock
    assert catalog.fresh("backend") is None
    etag = (await client.get("/api/v1/roadmaps/backend")).headers["etag"]  # warms it
    warm = await _answers(client, etag)
    cold = await _answers(client, etag, lambda: catalog.invalidate("backend"))

    def go_stale() -> None:
        clock.offset += 3600
        assert catalog.fresh("backend") is None

    stale = await _answers(client, etag, go_stale)
    assert cold == warm == stale
    assert [status for status, _, _ in warm] == [200, 200, 304, 304, 200]
    assert warm[1][1] == b""
    assert warm[1][2]["content-length"] == str(len(warm[0][1]))
    metrics = (await client.get("/metrics")).text
    assert 'route="/api/v1/roadmaps/{slug}",status="200"}' in metrics


def test_the_fast_path_refuses_to_stand_before_a_guarded_route(app: Litestar) -> None:
    """A guard on the roadmap route (private or team roadmaps) would be skipped for cached
    slugs: the fast path refuses to be built in front of one."""

    def members_only(_connection: Any, _handler: Any) -> None:
        return None

    @get("/api/v1/roadmaps/{slug:str}", guards=[members_only])
    async def guarded(slug: str) -> None:
        return None

    with pytest.raises(RuntimeError, match="has guards"):
        FastRoutes(
            app.asgi_handler,
            roadmap_fast_routes(app.state.container.roadmaps),
            identity=None,  # type: ignore[arg-type]  (refused before any request)
            handler_of=lambda _template, _method: guarded,
            max_body_bytes=1024,
        )


TOML = {"content-type": "application/toml"}
PATHOLOGICAL_TOML = {
    "nested 1,000 deep": b"slug = " + b"[" * 1000 + b"]" * 1000,
    "a 5,000-digit integer": b"format = " + b"9" * 5000,
    "a key of 10,000 parts": b"a" + b".a" * 10_000 + b" = 1",
    "invalid UTF-8": b'slug = "\xff"',
}


@pytest.mark.parametrize("body", PATHOLOGICAL_TOML.values(), ids=PATHOLOGICAL_TOML.keys())
async def test_validate_refuses_pathological_toml(client: Client, body: bytes) -> None:
    response = await client.post("/api/v1/roadmaps/validate", content=body, headers=TOML)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "malformed-body"


async def test_validate_caps_documents(client: Client) -> None:
    over = b"# " + b"x" * document.MAX_DOCUMENT_BYTES + b"\n"
    response = await client.post("/api/v1/roadmaps/validate", content=over, headers=TOML)
    assert response.status_code == 413, response.text
    assert response.json()["code"] == "payload-too-large"


@asynccontextmanager
async def concurrent_client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """Requests that run in this event loop, side by side. (The test client runs the app in
    a thread of its own and answers one request at a time.) No lifespan runs, so the app's
    connections are closed here."""
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client
    finally:
        await app.state.container.aclose()


@pytest.mark.usefixtures("unthrottled")
async def test_validate_parses_in_a_worker_thread_one_document_at_a_time(
    app: Litestar, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_a_loop: list[bool] = []
    running = 0
    most = 0
    parse = document.parse

    def recording_parse(data: bytes, fmt: document.DocumentFormat) -> Any:
        nonlocal running, most
        try:
            asyncio.get_running_loop()
            on_a_loop.append(True)
        except RuntimeError:  # no event loop runs in this thread
            on_a_loop.append(False)
        running += 1
        most = max(most, running)
        time.sleep(0.05)  # long enough for the others to try to start
        running -= 1
        return parse(data, fmt)

    monkeypatch.setattr(document, "parse", recording_parse)
    body = BACKEND_ROADMAP.read_bytes()
    async with concurrent_client(app) as client:
        responses = await asyncio.gather(
            *(
                client.post("/api/v1/roadmaps/validate", content=body, headers=TOML)
                for _ in range(4)
            )
        )
    assert [r.status_code for r in responses] == [200] * 4
    assert on_a_loop == [False] * 4
    assert most == 1


@pytest.fixture
def short_parser_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """A parser wait of 0.2 s, for the app built after this fixture (the routes read it)."""
    monkeypatch.setattr(roadmaps_http, "PARSE_WAIT_SECONDS", 0.2)


@pytest.mark.usefixtures("short_parser_wait", "unthrottled")  # in this order: the app after
async def test_a_document_waits_a_bounded_time_for_the_parser_then_gets_503(
    app: Litestar, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()
    parse = document.parse

    def slow_parse(data: bytes, fmt: document.DocumentFormat) -> Any:
        entered.set()
        release.wait(timeout=10)
        return parse(data, fmt)

    monkeypatch.setattr(document, "parse", slow_parse)
    body = BACKEND_ROADMAP.read_bytes()
    async with concurrent_client(app) as client:
        first = asyncio.create_task(
            client.post("/api/v1/roadmaps/validate", content=body, headers=TOML)
        )
        assert await asyncio.to_thread(entered.wait, 10)  # the first one holds the parser
        second = await client.post("/api/v1/roadmaps/validate", content=body, headers=TOML)
        release.set()
        assert (await first).status_code == 200
    assert second.status_code == 503, second.text
    assert second.json()["code"] == "service-unavailable"
    assert second.headers["retry-after"] == "1"


async def test_validate_is_rate_limited_per_client(app: Litestar, client: Client) -> None:
    # The burst at one instant: the rule gives a request back every 3 s, which 21 requests
    # on a loaded machine can take, and the last one then passed.
    instant = time.time()
    app.state.container.throttle.clock = lambda: instant
    for _ in range(VALIDATE_IP.limit):
        ok = await client.post("/api/v1/roadmaps/validate", content=b"x", headers=TOML)
        assert ok.status_code == 400
    refused = await client.post("/api/v1/roadmaps/validate", content=b"x", headers=TOML)
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate-limited"
    assert refused.headers["ratelimit-policy"] == f'"validate-ip";q={VALIDATE_IP.limit};w=60'
    assert int(refused.headers["retry-after"]) >= 1
