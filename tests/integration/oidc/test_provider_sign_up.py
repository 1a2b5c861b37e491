"""Sign-up through a provider, against the real OpenID provider (npm `oidc-provider`): an
identity nobody linked, whose address the provider verified and no account here has, makes
a new account (confirmed, no password, the identity linked); sign-up can be turned off; an
address an account has is never linked by it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar

from tests.integration.oidc.support import sign_out, site_path, through_provider
from tests.integration.oidc.test_oidc_provider import start
from tests.web_helpers import Client, csrf_of
from waymark.kernel.identity import Account
from waymark.transport.http.identity import SESSION_COOKIE

pytestmark = pytest.mark.backend("sqlite")


async def sign_in_as(browser: Client, idp: httpx.AsyncClient, login: str) -> httpx.Response:
    back = await through_provider(idp, await start(browser, "/auth/idp/start"), login)
    return await browser.get(site_path(back), follow_redirects=False)


async def test_a_new_identity_signs_up_without_a_password(
    app: Litestar, browser: Client, idp_browser: httpx.AsyncClient
) -> None:
    answer = await sign_in_as(browser, idp_browser, "carol")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/roadmaps"
    assert SESSION_COOKIE in answer.cookies
    me = (await browser.get("/api/v1/me")).json()
    assert (me["email"], me["display_name"], me["email_verified"]) == (
        "carol@example.org",
        "Carol Example",
        True,
    )
    [identity] = (await browser.get("/api/v1/me/identities")).json()
    assert identity["subject"] == "carol"
    # No password: none signs in, so the identity is the last way in (passwords on or not).
    refused = await browser.post(
        "/api/v1/auth/login", json={"email": "carol@example.org", "password": "!"}
    )
    assert refused.status_code == 401
    html = (await browser.get("/settings")).text
    kept = await browser.delete(
        f"/api/v1/me/identities/{identity['id']}", headers={"x-csrf-token": csrf_of(html)}
    )
    assert (kept.status_code, kept.json()["code"]) == (409, "last-way-in")
    # The next time, the same identity signs in to the same account (no second one).
    await sign_out(browser)
    again = await sign_in_as(browser, idp_browser, "carol")
    assert again.status_code == 303
    assert (await browser.get("/api/v1/me")).json()["id"] == me["id"]


async def test_sign_up_through_a_provider_can_be_turned_off(
    app: Litestar, browser: Client, idp_browser: httpx.AsyncClient
) -> None:
    app.state.container.federation.sign_up = False
    answer = await sign_in_as(browser, idp_browser, "dave")
    assert answer.status_code == 403
    assert SESSION_COOKIE not in answer.cookies
    assert await app.state.container.accounts.profiles.id_of("dave@example.org") is None


async def test_an_existing_accounts_address_makes_no_account_and_links_nothing(
    app: Litestar, browser: Client, idp_browser: httpx.AsyncClient, mail_dir: Path
) -> None:
    made = await app.state.container.accounts.registration.create(
        email="erin@example.org", password="correct horse battery staple"
    )
    answer = await sign_in_as(browser, idp_browser, "erin")
    assert answer.status_code == 403
    assert SESSION_COOKIE not in answer.cookies
    assert await app.state.container.accounts.profiles.id_of("erin@example.org") == made


class DenyFrank:
    """A deployment's `sign_in` hook (docs/sign-in.md, Callbacks)."""

    @staticmethod
    def sign_in(account: Account, identity: Any) -> bool:
        return not account.email.startswith("frank@")


async def test_the_sign_in_callback_can_refuse_a_sign_up(
    app: Litestar, browser: Client, idp_browser: httpx.AsyncClient
) -> None:
    """It sees the account about to be made (and the identity): refused, nothing is made."""
    app.state.container.auth.callbacks.hooks = DenyFrank
    answer = await sign_in_as(browser, idp_browser, "frank")
    assert answer.status_code == 403
    assert "Signing in was refused" in answer.text
    assert await app.state.container.accounts.profiles.id_of("frank@example.org") is None
