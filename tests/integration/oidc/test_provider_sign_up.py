"""Sign-up through a provider, against the real OpenID provider (npm `oidc-provider`): an
identity nobody linked, whose address the provider verified and no account here has, makes
a new account (confirmed, no password, the identity linked); sign-up can be turned off; an
address an account has is never linked by it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar

from tests.auth_helpers import PASSWORD, text_of, wait_for_mail
from tests.integration.oidc.support import sign_out, site_path, through_provider
from tests.integration.oidc.test_oidc_provider import start
from tests.mfa_helpers import code, enrol, next_step
from tests.web_helpers import Client, csrf_of, post_form
from waymark.features.auth.federation import LINK_SECONDS
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


async def test_an_existing_accounts_address_makes_no_account(
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


LINK_MAIL = "Confirm linking your Test IdP account"


async def mailed_link(
    app: Litestar, browser: Client, idp: httpx.AsyncClient, mail_dir: Path, login: str
) -> str:
    """An account has `login`@example.org; a sign-in as `login` at the provider: no session,
    "confirm by mail", and the link in the mail (its path)."""
    email = f"{login}@example.org"
    if await app.state.container.accounts.profiles.id_of(email) is None:
        await app.state.container.accounts.registration.create(email=email, password=PASSWORD)
    answer = await sign_in_as(browser, idp, login)
    assert answer.status_code == 403
    assert "Confirm by mail" in answer.text
    assert SESSION_COOKIE not in answer.cookies
    text = text_of(await wait_for_mail(mail_dir, email, LINK_MAIL))
    match = re.search(r"https://\S+(/auth/link/confirm\?token=[\w-]+)", text)
    assert match, text
    return match.group(1)


async def sign_in_with_password(browser: Client, email: str, next_path: str) -> None:
    page = await browser.get(next_path, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login")
    signed = await post_form(
        browser, "/login", "/login", {"email": email, "password": PASSWORD, "next": next_path}
    )
    assert signed.headers["location"] == next_path, signed.text


async def confirm(browser: Client, path: str) -> httpx.Response:
    html = (await browser.get(path)).text
    token = path.split("token=", 1)[1]

    assert "Link it" in html
    return await post_form(browser, path, "/auth/link/confirm", {"token": token})


async def test_a_verified_address_of_an_account_links_only_by_the_mailed_link(
    app: Litestar, browser: Client, idp_browser: httpx.AsyncClient, mail_dir: Path
) -> None:
    path = await mailed_link(app, browser, idp_browser, mail_dir, "heidi")
    # Nothing linked silently: the provider still signs in nowhere.
    assert (await sign_in_as(browser, idp_browser, "heidi")).status_code == 403
    # Following it signed out: the account's own sign-in first, then back to the link.
    await sign_in_with_password(browser, "heidi@example.org", path)
    linked = await confirm(browser, path)
    assert linked.headers["location"] == "/settings?notice=identity-linked", linked.text
    [identity] = (await browser.get("/api/v1/me/identities")).json()
    assert identity["subject"] == "heidi"
    # Once only.
    again = await confirm(browser, path)
    assert (again.status_code, "This link is not valid" in again.text) == (400, True)
    # From now on the provider signs in to that account.
    await sign_out(browser)
    assert (await sign_in_as(browser, idp_browser, "heidi")).status_code == 303


async def test_the_mailed_link_expires(
    app: Litestar, browser: Client, idp_browser: httpx.AsyncClient, mail_dir: Path
) -> None:
    path = await mailed_link(app, browser, idp_browser, mail_dir, "ivan")
    await sign_in_with_password(browser, "ivan@example.org", path)
    app.state.container.clock.offset += LINK_SECONDS + 1
    late = await confirm(browser, path)
    assert late.status_code == 400
    assert (await browser.get("/api/v1/me/identities")).json() == []


async def test_the_mailed_link_links_no_other_account(
    app: Litestar, browser: Client, idp_browser: httpx.AsyncClient, mail_dir: Path
) -> None:
    path = await mailed_link(app, browser, idp_browser, mail_dir, "judy")
    await app.state.container.accounts.registration.create(
        email="mallory@example.org", password=PASSWORD
    )
    await sign_in_with_password(browser, "mallory@example.org", path)
    refused = await confirm(browser, path)
    assert refused.status_code == 400
    assert (await browser.get("/api/v1/me/identities")).json() == []


async def test_the_mailed_link_waits_for_the_accounts_second_factor(
    app: Litestar, browser: Client, idp_browser: httpx.AsyncClient, mail_dir: Path
) -> None:
    await app.state.container.accounts.registration.create(
        email="kim@example.org", password=PASSWORD
    )
    tokens = await browser.post(
        "/api/v1/auth/login", json={"email": "kim@example.org", "password": PASSWORD}
    )
    secret, _ = await enrol(browser, {"authorization": f"Bearer {tokens.json()['access_token']}"})
    next_step(browser)
    path = await mailed_link(app, browser, idp_browser, mail_dir, "kim")
    signed = await post_form(
        browser,
        "/login",
        "/login",
        {"email": "kim@example.org", "password": PASSWORD, "next": path},
    )
    assert signed.headers["location"].startswith("/login/mfa")
    # The password alone is no session: the link still sends to the sign-in page.
    assert (
        (await browser.get(path, follow_redirects=False)).headers["location"].startswith("/login")
    )
    passed = await post_form(
        browser, "/login/mfa", "/login/mfa", {"code": code(browser, secret), "next": path}
    )
    assert passed.headers["location"] == path
    linked = await confirm(browser, path)
    assert linked.headers["location"] == "/settings?notice=identity-linked"
    # Linked, the provider's sign-in still ends in the challenge.
    await sign_out(browser)
    answer = await sign_in_as(browser, idp_browser, "kim")
    assert answer.headers["location"].startswith("/login/mfa")
    assert SESSION_COOKIE not in answer.cookies
