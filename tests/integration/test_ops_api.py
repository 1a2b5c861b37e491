"""Health, readiness, metrics, request ids, security headers and the API docs."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import event

from tests.config import app_settings
from waymark.app import create_app
from waymark.infra.sql import migrations
from waymark.infra.sql.database import Database
from waymark.kernel.errors import ServiceUnavailable
from waymark.settings import DatabaseSettings, LogSettings, Settings

Client = AsyncTestClient[Litestar]


async def test_healthz(client: Client) -> None:
    response = await client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_when_the_database_answers(client: Client) -> None:
    response = await client.get("/readyz")
    assert response.json() == {"status": "ok", "checks": {"database": "ok"}}


async def test_readyz_names_the_failing_dependency(tmp_path: Path) -> None:
    settings = app_settings(
        database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none",
        var_dir=tmp_path,
        log=LogSettings(level="error", access=False),
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        response = await client.get("/readyz")
        live = await client.get("/healthz")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    problem = response.json()
    assert problem["code"] == "service-unavailable"
    assert problem["extra"]["checks"]["database"].startswith("unreachable")
    assert live.status_code == 200


def _settings_for(url: str, tmp_path: Path, *, verbose: bool = False) -> Settings:
    log = LogSettings(level="info" if verbose else "error", access=False)
    return app_settings(database_url=url, var_dir=tmp_path / "var", log=log)


async def test_readyz_refuses_a_schema_behind_the_migrations(
    fresh_url: str, tmp_path: Path
) -> None:
    """It said ok on a database nobody had migrated, where every request then failed."""
    head = migrations.head_revision()
    assert head is not None
    previous = migrations.scripts().get_revision(head).down_revision
    assert isinstance(previous, str)
    async with AsyncTestClient(app=create_app(_settings_for(fresh_url, tmp_path))) as client:
        never_migrated = await client.get("/readyz")
        await asyncio.to_thread(migrations.upgrade, fresh_url, previous)
        one_behind = await client.get("/readyz")
        await asyncio.to_thread(migrations.upgrade, fresh_url)
        migrated = await client.get("/readyz")
    for response, at in ((never_migrated, "base (empty)"), (one_behind, previous)):
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        problem = response.json()
        assert problem["code"] == "service-unavailable"
        assert problem["extra"]["checks"]["database"] == (
            f"schema behind: at {at}, head is {head}; run `waymark db upgrade`"
        )
    assert (migrated.status_code, migrated.json()) == (
        200,
        {"status": "ok", "checks": {"database": "ok"}},
    )


async def test_readyz_accepts_a_schema_a_newer_release_migrated(
    fresh_url: str, tmp_path: Path
) -> None:
    """In a rolling deploy the new release migrates first; the old one keeps serving."""
    await asyncio.to_thread(migrations.upgrade, fresh_url)
    db = Database(fresh_url)
    try:
        async with db.transaction() as conn:
            await conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'f00dfeedbeef'")
    finally:
        await db.dispose()
    async with AsyncTestClient(app=create_app(_settings_for(fresh_url, tmp_path))) as client:
        response = await client.get("/readyz")
    assert response.json() == {"status": "ok", "checks": {"database": "ok"}}


async def test_readyz_reads_the_schema_until_it_is_good_then_only_pings(client: Client) -> None:
    """Readiness is polled: once the schema is good, a check is one `SELECT 1`."""
    statements: list[str] = []

    def on_execute(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    engine = client.app.state.container.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        first = await client.get("/readyz")
        read_revision = any("alembic_version" in s for s in statements)
        statements.clear()
        later = [await client.get("/readyz") for _ in range(3)]
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
    assert first.status_code == 200
    assert read_revision
    assert [r.status_code for r in later] == [200] * 3
    # The outbox relay shares the engine, so count only what readiness runs.
    assert not any("alembic_version" in s for s in statements)
    assert statements.count("SELECT 1") == 3


async def test_readiness_adds_no_alembic_lines_to_the_log(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(_settings_for(database_url, tmp_path, verbose=True))
    async with AsyncTestClient(app=app) as client:
        assert (await client.get("/readyz")).status_code == 200
    assert "alembic" not in capsys.readouterr().out


async def test_request_id_is_echoed_or_generated(client: Client) -> None:
    echoed = await client.get("/healthz", headers={"x-request-id": "abc-123.def"})
    assert echoed.headers["x-request-id"] == "abc-123.def"
    generated = await client.get("/healthz")
    assert len(generated.headers["x-request-id"]) == 32
    for hostile in ("a" * 200, "<script>", "id with spaces", "new\\nline"):
        response = await client.get("/healthz", headers={"x-request-id": hostile})
        assert response.headers["x-request-id"] != hostile


@pytest.mark.parametrize("path", ["/healthz", "/api/v1/roadmaps/nope", "/no/such/route"])
async def test_security_headers_on_every_response(client: Client, path: str) -> None:
    headers = (await client.get(path)).headers
    csp = headers["content-security-policy"]
    for directive in ("object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"):
        assert directive in csp
    hsts_max_age = int(headers["strict-transport-security"].split("max-age=")[1].split(";")[0])
    assert hsts_max_age >= 31536000
    assert "includeSubDomains" in headers["strict-transport-security"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"]
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert headers["cross-origin-resource-policy"] == "same-origin"


@pytest.mark.usefixtures("backend_roadmap")
async def test_metrics_count_by_route_template_not_raw_path(client: Client) -> None:
    await client.get("/api/v1/roadmaps/backend/topics/databases.redis")
    await client.get("/api/v1/roadmaps/backend/topics/databases.postgresql")
    await client.get("/definitely/not/a/route/raw-path-marker")
    text = (await client.get("/metrics")).text
    template = 'route="/api/v1/roadmaps/{slug}/topics/{topic_id}",status="200"} 2.0'
    assert template in text
    assert "databases.redis" not in text
    assert "raw-path-marker" not in text  # letters: a number could match a timestamp
    assert 'route="<unmatched>",status="404"' in text
    assert "waymark_http_request_duration_seconds_bucket" in text


async def test_openapi_schema_and_docs_ui_are_served_without_a_cdn(client: Client) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    assert {"/api/v1/roadmaps", "/api/v1/roadmaps/{slug}", "/readyz"} <= set(schema["paths"])
    page = await client.get("/schema/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower()
    assert "/schema/assets/swagger-ui-bundle.js" in page.text
    asset = await client.get("/schema/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200
    assert len(asset.content) > 100_000
    assert "script-src 'self'" in page.headers["content-security-policy"]


async def test_saturated_pool_fails_fast_with_retry_after(database_url: str) -> None:
    db = Database(database_url, DatabaseSettings(pool_size=1, pool_timeout=0.2))
    try:
        async with db.read():  # hold the only connection
            with pytest.raises(ServiceUnavailable) as caught:
                async with db.read():
                    pass
        assert caught.value.headers == {"retry-after": "1"}
        async with db.read() as conn:  # released: usable again
            assert (await conn.exec_driver_sql("SELECT 1")).scalar() == 1
    finally:
        await db.dispose()


async def test_connections_go_to_requests_in_the_order_they_asked(database_url: str) -> None:
    """A task that gives its connection back and asks again at once must queue behind the
    one already waiting (the pool's own queue let it barge in, and under load some requests
    starved past the pool timeout while others went straight through)."""
    db = Database(database_url, DatabaseSettings(pool_size=1, pool_timeout=5))
    order: list[str] = []
    first_in = asyncio.Event()

    async def greedy() -> None:
        for _ in range(4):
            async with db.read() as conn:
                order.append("greedy")
                first_in.set()
                await conn.exec_driver_sql("SELECT 1")
                await asyncio.sleep(0.02)

    async def patient() -> None:
        await first_in.wait()
        async with db.read():
            order.append("patient")

    try:
        await asyncio.gather(greedy(), patient())
    finally:
        await db.dispose()
    assert order == ["greedy", "patient", "greedy", "greedy", "greedy"]


async def test_a_busy_pool_keeps_its_connections(database_url: str) -> None:
    """Under load every connection is reused: none is closed on return and opened again
    (with overflow connections the pool did that, hundreds of PostgreSQL sessions a second)."""
    db = Database(database_url, DatabaseSettings(pool_size=3, pool_timeout=5))
    opened: list[object] = []
    event.listen(db.engine.sync_engine.pool, "connect", lambda *_: opened.append(1))

    async def read() -> None:
        async with db.read() as conn:
            await conn.exec_driver_sql("SELECT 1")
            await asyncio.sleep(0.005)

    try:
        for _ in range(10):
            await asyncio.gather(*(read() for _ in range(12)))
        assert len(opened) == 3
    finally:
        await db.dispose()


async def test_the_docs_page_gets_its_assets_and_nothing_else_is_served(client: Client) -> None:
    page = (await client.get("/schema/docs")).text
    loaded = set(re.findall(r"/schema/assets/([\w.-]+)", page))
    assert loaded == {
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "swagger-ui.css",
        "favicon-32x32.png",
    }
    for name in loaded:
        assert (await client.get(f"/schema/assets/{name}")).status_code == 200, name
    for name in (
        "index.html",
        "swagger-initializer.js",
        "swagger-ui.js.map",
        "oauth2-redirect.html",
    ):
        response = await client.get(f"/schema/assets/{name}")
        assert response.status_code == 404, name
        assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("path", ["/schema/nope", "/schema/nope.html", "/schema/a/b"])
async def test_unknown_docs_paths_are_404_problems(client: Client, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not-found"


async def test_metrics_name_their_charset_once(client: Client) -> None:
    response = await client.get("/metrics")
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
