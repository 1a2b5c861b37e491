"""Strategies come from entry points, and a deployment's callbacks hook sign-in.

The example strategy of docs/sign-in.md (docs/examples/forge_strategy.py) is installed
here as a package would install it: a distribution's metadata on the path whose
`entry_points.txt` registers it in `waymark.auth_strategies`; the app finds it there,
like the built-in ones, and signs in with it (against the local stand-in's OAuth
endpoints, which are not a real forge)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from tests.auth_helpers import install_as_package, register_verified
from tests.config import CHEAP_ARGON2, app_settings
from tests.integration.oidc.support import CLIENT_ID, CLIENT_SECRET, SITE, StandIn, site_path
from tests.web_helpers import Client, member, post_form
from waymark.features.auth.strategies import load_factories
from waymark.kernel.identity import Account
from waymark.settings import AuthSettings, Settings, SignInProvider

pytestmark = pytest.mark.backend("sqlite")
EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "examples"


class Hooks:
    """A deployment's callbacks (`auth.callbacks`): nobody from `denied.example` gets in;
    the forge's bots (subjects from 9000) are never linked to an account; access tokens say
    which plan the account is on."""

    @staticmethod
    def sign_in(account: Account, identity: Any) -> bool:
        return not account.email.endswith("@denied.example")

    @staticmethod
    def link(account_id: str, identity: Any) -> bool:
        return int(identity.subject) < 9000

    @staticmethod
    def claims(account_id: str, claims: dict[str, Any]) -> dict[str, Any]:
        return {"plan": "team", "sub": "someone-else"}


@pytest.fixture
def forge_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_as_package(
        monkeypatch,
        tmp_path,
        EXAMPLES,
        distribution="waymark-forge-example",
        entry_points="[waymark.auth_strategies]\nforge = forge_strategy:ForgeStrategy\n",
    )


@pytest.fixture
def settings(
    database_url: str, tmp_path: Path, standin: StandIn, forge_installed: None
) -> Settings:
    forge = SignInProvider(
        strategy="forge",
        label="Our forge",
        issuer=f"{standin.base}/forge",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,  # type: ignore[arg-type]
        endpoints={
            "authorize": f"{standin.base}/login/oauth/authorize",
            "token": f"{standin.base}/login/oauth/access_token",
            "api": standin.base,
        },
    )
    return app_settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        public_url=SITE,
        auth=AuthSettings(
            **CHEAP_ARGON2,  # type: ignore[arg-type]
            strategies=["password", "forge"],
            providers={"forge": forge},
            callbacks=f"{__name__}:Hooks",
        ),
    )


def test_the_built_in_strategies_are_entry_points() -> None:
    assert {"password", "oidc", "github", "webauthn"} <= load_factories().keys()


@pytest.mark.usefixtures("forge_installed")
def test_an_installed_packages_strategy_is_found() -> None:
    assert load_factories()["forge"].__name__ == "ForgeStrategy"


async def test_the_example_strategy_links_an_identity(
    browser: Client, standin: StandIn, mail_dir: Path
) -> None:
    standin.github_user = {"id": 42, "login": "forgeling"}
    await member(browser, mail_dir, "forgeling@example.org")
    html = (await browser.get("/settings")).text
    assert "Link Our forge" in html
    started = await post_form(browser, "/settings", "/auth/forge/link", {})
    async with httpx.AsyncClient(trust_env=False) as forge:
        back = (await forge.get(str(started.headers["location"]))).headers["location"]
    await browser.get(site_path(back), follow_redirects=False)
    [identity] = (await browser.get("/api/v1/me/identities")).json()
    assert (identity["issuer"], identity["subject"]) == (f"{standin.base}/forge", "42")


async def test_the_link_callback_refuses_to_link(
    browser: Client, standin: StandIn, mail_dir: Path
) -> None:
    standin.github_user = {"id": 9001, "login": "forge-bot"}
    await member(browser, mail_dir, "forgebot@example.org")
    started = await post_form(browser, "/settings", "/auth/forge/link", {})
    async with httpx.AsyncClient(trust_env=False) as forge:
        back = (await forge.get(str(started.headers["location"]))).headers["location"]
    refused = await browser.get(site_path(back), follow_redirects=False)
    assert refused.status_code == 403
    assert "Linking this identity was refused" in refused.text
    assert (await browser.get("/api/v1/me/identities")).json() == []


async def test_the_sign_in_callback_refuses(browser: Client, mail_dir: Path) -> None:
    await register_verified(browser, mail_dir, "eve@denied.example")
    answer = await browser.post(
        "/api/v1/auth/login",
        json={"email": "eve@denied.example", "password": "correct horse battery staple"},
    )
    assert answer.json()["code"] == "sign-in-denied"


async def test_the_claims_callback_adds_claims_but_never_registered_ones(
    browser: Client, mail_dir: Path
) -> None:
    await register_verified(browser, mail_dir, "ann@example.org")
    tokens = (
        await browser.post(
            "/api/v1/auth/login",
            json={"email": "ann@example.org", "password": "correct horse battery staple"},
        )
    ).json()
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["plan"] == "team"
    assert claims["sub"] != "someone-else"
