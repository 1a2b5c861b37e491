"""An app with three sign-in providers: `idp`, a real OpenID Connect provider (npm
`oidc-provider`); `standin`, an OIDC issuer played by the local stand-in (tokens the tests
sign themselves); `github`, the GitHub preset pointed at the stand-in's GitHub endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from litestar import Litestar

from tests.config import CHEAP_ARGON2, app_settings
from tests.integration.oidc.support import (
    CLIENT_ID,
    CLIENT_SECRET,
    SITE,
    StandIn,
    oidc_provider,
    stand_in,
)
from tests.web_helpers import Client, browsing
from waymark.app import create_app
from waymark.settings import AuthSettings, Settings, SignInProvider


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    with oidc_provider("idp") as url:
        yield url


@pytest.fixture(scope="module")
def standin() -> Iterator[StandIn]:
    with stand_in() as state:
        yield state


def providers(issuer: str, standin: StandIn) -> dict[str, SignInProvider]:
    secret = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    return {
        "idp": SignInProvider(issuer=issuer, label="Test IdP", **secret),  # type: ignore[arg-type]
        "standin": SignInProvider(issuer=standin.base, **secret),  # type: ignore[arg-type]
        "github": SignInProvider(
            preset="github",
            issuer=f"{standin.base}/github",  # the stand-in is not github.com
            endpoints={
                "authorize": f"{standin.base}/login/oauth/authorize",
                "token": f"{standin.base}/login/oauth/access_token",
                "api": standin.base,
            },
            **secret,  # type: ignore[arg-type]
        ),
    }


@pytest.fixture
def settings(database_url: str, tmp_path: Path, issuer: str, standin: StandIn) -> Settings:
    return app_settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        public_url=SITE,
        auth=AuthSettings(
            **CHEAP_ARGON2,  # type: ignore[arg-type]
            strategies=["password", "idp", "standin", "github"],
            providers=providers(issuer, standin),
        ),
    )


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture
async def browser(app: Litestar) -> AsyncIterator[Client]:
    """Waymark's pages in-process, over https so the `__Host-` cookies are kept."""
    async with browsing(app) as client:
        yield client


@pytest.fixture
async def idp_browser() -> AsyncIterator[httpx.AsyncClient]:
    """The same browser at the provider (its own cookies: the provider's session)."""
    async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
        yield client
