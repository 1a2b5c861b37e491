"""CORS: the origins in `WAYMARK_HTTP__CORS_ORIGINS` may call the API from a browser with
credentials; nobody else gets a CORS header, and without a list nobody at all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from pydantic import ValidationError

from tests.auth_helpers import PASSWORD, register_verified
from tests.config import app_settings
from waymark.app import create_app
from waymark.settings import HttpSettings, Settings

FRONT_END = "https://app.example.org"
ELSEWHERE = "https://evil.example.net"
Client = AsyncTestClient[Litestar]


@pytest.fixture
async def cors_client(database_url: str, tmp_path: Path) -> AsyncIterator[Client]:
    settings = app_settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        http=HttpSettings(cors_origins=[FRONT_END, "http://localhost:5173"], cors_max_age=3600),
    )
    # https, so the client's jar sends the Secure session cookie back.
    async with AsyncTestClient(
        app=create_app(settings), base_url="https://testserver.local"
    ) as client:
        yield client


def cors_headers(response: object) -> dict[str, str]:
    headers = response.headers  # type: ignore[attr-defined]
    return {k: v for k, v in headers.items() if k.lower().startswith("access-control-")}


@pytest.mark.usefixtures("backend_roadmap")
async def test_an_allowed_origin_may_read_with_credentials(cors_client: Client) -> None:
    response = await cors_client.get("/api/v1/roadmaps/backend", headers={"origin": FRONT_END})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == FRONT_END
    assert response.headers["access-control-allow-credentials"] == "true"
    exposed = response.headers["access-control-expose-headers"]
    assert {"etag", "retry-after", "x-request-id", "x-csrf-token"} <= set(exposed.split(", "))
    assert "origin" in response.headers["vary"].lower()


async def test_errors_carry_cors_headers_too(cors_client: Client) -> None:
    """A front-end must be able to read a problem+json, or it cannot tell the user why."""
    response = await cors_client.get("/api/v1/roadmaps/nope", headers={"origin": FRONT_END})
    assert response.status_code == 404
    assert response.headers["access-control-allow-origin"] == FRONT_END


async def test_a_preflight_is_answered_and_cached_for_a_while(cors_client: Client) -> None:
    response = await cors_client.options(
        "/api/v1/me",
        headers={
            "origin": FRONT_END,
            "access-control-request-method": "PATCH",
            "access-control-request-headers": "content-type, x-csrf-token",
        },
    )
    assert response.status_code == 204
    headers = cors_headers(response)
    assert headers["access-control-allow-origin"] == FRONT_END
    assert headers["access-control-allow-credentials"] == "true"
    assert "PATCH" in headers["access-control-allow-methods"]
    assert {"content-type", "x-csrf-token", "authorization"} <= set(
        headers["access-control-allow-headers"].split(", ")
    )
    assert 600 <= int(headers["access-control-max-age"]) <= 7200
    assert int(headers["access-control-max-age"]) == 3600
    assert "origin" in response.headers["vary"].lower()


@pytest.mark.usefixtures("backend_roadmap")
async def test_other_origins_get_no_cors_header(cors_client: Client) -> None:
    for origin in (ELSEWHERE, "https://app.example.org.evil.net", "null", "http://app.example.org"):
        read = await cors_client.get("/api/v1/roadmaps/backend", headers={"origin": origin})
        preflight = await cors_client.options(
            "/api/v1/me", headers={"origin": origin, "access-control-request-method": "DELETE"}
        )
        assert cors_headers(read) == {}, origin
        assert cors_headers(preflight) == {}, origin
        assert preflight.status_code != 204 or "allow" in preflight.headers
        # Still `Vary: Origin`: a shared cache must not give this answer to the front-end.
        assert "origin" in read.headers["vary"].lower()


async def test_pages_and_requests_without_origin_get_no_cors_header(cors_client: Client) -> None:
    assert cors_headers(await cors_client.get("/healthz")) == {}
    assert cors_headers(await cors_client.get("/api/v1/roadmaps")) == {}
    page = await cors_client.get("/healthz", headers={"origin": FRONT_END})
    assert cors_headers(page) == {}


@pytest.mark.usefixtures("backend_roadmap")
async def test_without_a_list_nobody_gets_cors_headers(client: Client) -> None:
    response = await client.get("/api/v1/roadmaps/backend", headers={"origin": FRONT_END})
    preflight = await client.options(
        "/api/v1/roadmaps", headers={"origin": FRONT_END, "access-control-request-method": "GET"}
    )
    assert cors_headers(response) == cors_headers(preflight) == {}
    assert "origin" not in response.headers.get("vary", "").lower()


async def test_a_browser_session_from_the_front_end_works(
    cors_client: Client, mail_dir: Path, tmp_path: Path
) -> None:
    """Credentials: a session signed in from the allowed origin changes state with its CSRF
    token, and the front-end can read the renewed one after a password change."""
    email = "front@example.org"
    await register_verified(cors_client, tmp_path / "var" / "mail", email)
    origin = {"origin": FRONT_END}
    login = await cors_client.post(
        "/api/v1/auth/login",
        json={"email": email, "password": PASSWORD, "mode": "session"},
        headers=origin,
    )
    assert login.status_code == 200
    assert login.headers["access-control-allow-credentials"] == "true"
    csrf = login.json()["csrf_token"]
    renamed = await cors_client.patch(
        "/api/v1/me", json={"display_name": "Front"}, headers=origin | {"x-csrf-token": csrf}
    )
    assert renamed.status_code == 200
    assert renamed.headers["access-control-allow-origin"] == FRONT_END


@pytest.mark.parametrize(
    "origin",
    [
        "*",
        "https://app.example.org/path",
        "app.example.org",
        "https://*.example.org",
        "ftp://x.org",
    ],
)
def test_settings_refuse_what_is_not_one_origin(origin: str) -> None:
    with pytest.raises(ValidationError):
        Settings(http=HttpSettings(cors_origins=[origin]))  # type: ignore[call-arg]


def test_settings_keep_origins_as_browsers_send_them() -> None:
    http = HttpSettings(cors_origins=["HTTPS://App.Example.org:443/", "http://localhost:5173"])
    assert http.cors_origins == ["https://app.example.org", "http://localhost:5173"]


@pytest.mark.parametrize("max_age", [599, 7201])
def test_preflight_cache_stays_between_ten_minutes_and_two_hours(max_age: int) -> None:
    with pytest.raises(ValidationError):
        HttpSettings(cors_max_age=max_age)
