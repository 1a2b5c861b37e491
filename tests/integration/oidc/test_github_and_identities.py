"""The GitHub preset, against the local STAND-IN of GitHub's documented OAuth endpoints
(`/login/oauth/authorize`, `/login/oauth/access_token`, `/user`, `/user/emails`; it is not
GitHub: tests/integration/oidc/support.py), and the linked identities an account lists
and removes (never its last way in)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from litestar import Litestar

from tests.integration.oidc.support import StandIn, query_of, sign_out, site_path
from tests.web_helpers import Client, csrf_of, member, post_form
from waymark.transport.http.identity import SESSION_COOKIE

pytestmark = pytest.mark.backend("sqlite")


@pytest.fixture
def octocat(standin: StandIn) -> StandIn:
    standin.github_user = {"id": 583231, "login": "octocat", "name": "The Octocat"}
    standin.github_emails = [
        {"email": "octo@example.org", "primary": True, "verified": True, "visibility": "public"}
    ]
    return standin


async def through_github(browser: Client, standin: StandIn, action: str, page: str) -> str:
    """Press the GitHub button; the stand-in's authorize endpoint answers at once (as
    GitHub does for an app the user already authorized): the URL back to Waymark."""
    started = await post_form(browser, page, action, {"next": "/"})
    authorize = str(started.headers["location"])
    assert authorize.startswith(f"{standin.base}/login/oauth/authorize?")
    async with httpx.AsyncClient(trust_env=False) as github:
        answer = await github.get(authorize)
    return str(answer.headers["location"])


async def link_github(browser: Client, standin: StandIn, mail_dir: Path) -> None:
    await member(browser, mail_dir, "octo@example.org")
    back = await through_github(browser, standin, "/auth/github/link", "/settings")
    linked = await browser.get(site_path(back), follow_redirects=False)
    assert linked.headers["location"] == "/settings?notice=identity-linked", linked.text


async def test_github_identity_is_the_user_apis_id(
    browser: Client, octocat: StandIn, mail_dir: Path
) -> None:
    await link_github(browser, octocat, mail_dir)
    [identity] = (await browser.get("/api/v1/me/identities")).json()
    assert (identity["issuer"], identity["subject"]) == (f"{octocat.base}/github", "583231")
    assert identity["email"] == "octo@example.org"


async def test_signed_in_with_github_once_linked(
    browser: Client, octocat: StandIn, mail_dir: Path
) -> None:
    await link_github(browser, octocat, mail_dir)
    await sign_out(browser)
    back = await through_github(browser, octocat, "/auth/github/start", "/login")
    answer = await browser.get(site_path(back), follow_redirects=False)
    assert SESSION_COOKIE in answer.cookies
    me = await browser.get("/api/v1/me")
    assert me.json()["email"] == "octo@example.org"


async def test_a_github_code_redeemed_without_its_pkce_verifier_fails(
    browser: Client, octocat: StandIn
) -> None:
    back = await through_github(browser, octocat, "/auth/github/start", "/login")
    code = query_of(back)["code"]
    # The stand-in checks the verifier as GitHub does; a new attempt has another verifier.
    state = query_of(
        str((await post_form(browser, "/login", "/auth/github/start", {})).headers["location"])
    )["state"]
    answer = await browser.get("/auth/github/callback", params={"state": state, "code": code})
    assert answer.status_code == 401


async def test_another_accounts_identity_cannot_be_removed(
    browser: Client, octocat: StandIn, mail_dir: Path
) -> None:
    await link_github(browser, octocat, mail_dir)
    [identity] = (await browser.get("/api/v1/me/identities")).json()
    await sign_out(browser)
    await member(browser, mail_dir, "someone-else@example.org")
    html = (await browser.get("/settings")).text
    answer = await browser.delete(
        f"/api/v1/me/identities/{identity['id']}", headers={"x-csrf-token": csrf_of(html)}
    )
    assert answer.status_code == 404


async def test_an_identity_is_unlinked_from_settings_and_signs_in_no_more(
    browser: Client, octocat: StandIn, mail_dir: Path
) -> None:
    await link_github(browser, octocat, mail_dir)
    [identity] = (await browser.get("/api/v1/me/identities")).json()
    unlinked = await post_form(
        browser, "/settings", "/settings/identities/unlink", {"identity": identity["id"]}
    )
    assert unlinked.headers["location"] == "/settings?notice=identity-unlinked#identities"
    await sign_out(browser)
    back = await through_github(browser, octocat, "/auth/github/start", "/login")
    answer = await browser.get(site_path(back), follow_redirects=False)
    assert answer.status_code == 403


async def test_the_last_way_in_is_not_unlinked(
    app: Litestar, browser: Client, octocat: StandIn, mail_dir: Path
) -> None:
    await link_github(browser, octocat, mail_dir)
    # The deployment then turns passwords off (SSO only): GitHub is this account's one way in.
    app.state.container.auth.password_on = False
    [identity] = (await browser.get("/api/v1/me/identities")).json()
    html = (await browser.get("/settings")).text
    answer = await browser.delete(
        f"/api/v1/me/identities/{identity['id']}", headers={"x-csrf-token": csrf_of(html)}
    )
    assert answer.status_code == 409
    assert answer.json()["code"] == "last-way-in"


async def test_with_passwords_turned_off_a_password_sign_in_is_refused(
    app: Litestar, browser: Client, mail_dir: Path
) -> None:
    await member(browser, mail_dir, "pat@example.org")
    app.state.container.auth.password_on = False
    answer = await browser.post(
        "/api/v1/auth/login", json={"email": "pat@example.org", "password": "x" * 12}
    )
    assert answer.json()["code"] == "strategy-disabled"


async def test_the_providers_on_here_are_listed(browser: Client) -> None:
    answer = await browser.get("/api/v1/auth/providers")
    assert {p["name"]: p["label"] for p in answer.json()} == {
        "idp": "Test IdP",
        "standin": "standin",
        "github": "GitHub",
    }


async def test_attempts_begun_are_throttled_per_ip(browser: Client) -> None:
    statuses = [
        (await post_form(browser, "/login", "/auth/github/start", {})).status_code
        for _ in range(31)
    ]
    assert statuses.count(303) == 30
    assert statuses[-1] == 429
