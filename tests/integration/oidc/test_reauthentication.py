"""Re-authentication through a linked provider, for an account with no password (made
through that provider): a fresh sign-in there stands in for the password asked again
before turning MFA on, changing the address or deleting the account. Against the real
OpenID provider (npm `oidc-provider`: `prompt=login`, `max_age=0`, `auth_time`), the
STAND-IN issuer for ID tokens no real provider would make (no or a stale `auth_time`) and
the STAND-IN of GitHub's endpoints (tests/integration/oidc/support.py: neither is a real
provider)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from litestar import Litestar

from tests.integration.oidc.support import StandIn, query_of, sign_out, site_path, through_provider
from tests.integration.oidc.test_github_and_identities import through_github
from tests.integration.oidc.test_id_token_checks import claims
from tests.integration.oidc.test_provider_sign_up import sign_in_as
from tests.mfa_helpers import code, secret_of
from tests.web_helpers import Client, csrf_of, member, post_form
from waymark.web.sign_in_pages import ATTEMPT_COOKIE

pytestmark = pytest.mark.backend("sqlite")


async def reauth_url(browser: Client, provider: str, page: str = "/settings") -> str:
    """Press `Confirm with <provider>`: where Waymark sends the browser."""
    started = await post_form(browser, page, f"/auth/{provider}/reauth", {"next": page})
    assert started.status_code == 303, started.text
    return str(started.headers["location"])


async def delete_me(browser: Client) -> httpx.Response:
    token = csrf_of((await browser.get("/settings")).text)
    return await browser.request("DELETE", "/api/v1/me", json={}, headers={"x-csrf-token": token})


async def test_a_fresh_sign_in_at_the_provider_stands_in_for_the_password(
    app: Litestar, browser: Client, idp_browser: httpx.AsyncClient
) -> None:
    assert (await sign_in_as(browser, idp_browser, "gina")).status_code == 303
    # No password, no re-authentication: turning MFA on and deleting are refused.
    token = csrf_of((await browser.get("/settings")).text)
    started = await browser.post("/api/v1/me/mfa/totp", headers={"x-csrf-token": token})
    secret = secret_of(started.json())
    confirm = {"code": code(browser, secret)}
    refused = await browser.post(
        "/api/v1/me/mfa/totp/confirm", json=confirm, headers={"x-csrf-token": token}
    )
    assert (refused.status_code, refused.json()["code"]) == (403, "reauthentication-required")
    refused = await delete_me(browser)
    assert (refused.status_code, refused.json()["code"]) == (403, "reauthentication-required")
    # The settings pages offer the linked provider instead of a password field.
    html = (await browser.get("/settings")).text
    assert 'action="/auth/idp/reauth"' in html
    assert 'id="delete-password"' not in html
    html = (await browser.get("/settings/mfa")).text
    assert 'action="/auth/idp/reauth"' in html
    assert 'id="enrol-password"' not in html
    # The provider is asked for a new sign-in, now: the real provider shows its login form
    # again though its own session is alive.
    url = await reauth_url(browser, "idp")
    assert (query_of(url)["prompt"], query_of(url)["max_age"]) == ("login", "0")
    login_form = await idp_browser.get(url, follow_redirects=True)
    assert 'name="login"' in login_form.text
    back = await through_provider(idp_browser, url, "gina")
    answer = await browser.get(site_path(back), follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/settings")
    done = await browser.post(
        "/api/v1/me/mfa/totp/confirm", json=confirm, headers={"x-csrf-token": token}
    )
    assert done.status_code == 200, done.text
    # Turning MFA on renewed the session: its re-authentication stays with the old id, the
    # step-up it recorded with the new one. Confirmed again, the account goes.
    assert (await delete_me(browser)).json()["code"] == "reauthentication-required"
    back = await through_provider(idp_browser, await reauth_url(browser, "idp"), "gina")
    assert (await browser.get(site_path(back), follow_redirects=False)).status_code == 303
    gone = await delete_me(browser)
    assert gone.status_code == 204, gone.text
    assert await app.state.container.accounts.profiles.id_of("gina@example.org") is None


async def test_an_identity_of_another_account_is_refused(
    app: Litestar, browser: Client, idp_browser: httpx.AsyncClient
) -> None:
    # Ivan and Hana both have accounts through the provider (each with a browser there of
    # their own); in Hana's session, it is Ivan who signs in again at the provider.
    assert (await sign_in_as(browser, idp_browser, "ivan")).status_code == 303
    await sign_out(browser)
    async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as hanas:
        assert (await sign_in_as(browser, hanas, "hana")).status_code == 303
    assert (await browser.get("/api/v1/me")).json()["email"] == "hana@example.org"
    back = await through_provider(idp_browser, await reauth_url(browser, "idp"), "ivan")
    refused = await browser.get(site_path(back), follow_redirects=False)
    assert refused.status_code == 403
    assert "That identity is not linked to your account" in refused.text
    assert (await delete_me(browser)).json()["code"] == "reauthentication-required"
    audit = (await browser.get("/api/v1/me/audit")).json()
    assert audit[0]["kind"] == "reauth.failed", audit
    assert audit[0]["detail"]["provider"] == "idp"


async def test_a_state_from_another_browser_is_refused(
    app: Litestar, browser: Client, idp_browser: httpx.AsyncClient
) -> None:
    assert (await sign_in_as(browser, idp_browser, "jane")).status_code == 303
    back = await through_provider(idp_browser, await reauth_url(browser, "idp"), "jane")
    # The answer, brought back by a browser that did not begin it (no pre-login cookie; a
    # session of the same account all the same): refused.
    browser.cookies.delete(ATTEMPT_COOKIE)
    refused = await browser.get(site_path(back), follow_redirects=False)
    assert refused.status_code == 401
    assert (await delete_me(browser)).json()["code"] == "reauthentication-required"


async def standin_reauth(browser: Client, standin: StandIn, kid: str, **changes: object) -> int:
    """Re-authenticate with the stand-in issuer, which answers an ID token for "dana" with
    `changes` to its claims: the callback's status."""
    query = query_of(await reauth_url(browser, "standin"))
    assert (query["prompt"], query["max_age"]) == ("login", "0")
    standin.id_token = standin.sign(claims(standin, query["nonce"], **changes), kid=kid)
    back = await browser.get(
        "/auth/standin/callback",
        params={"state": query["state"], "code": "any"},
        follow_redirects=False,
    )
    return back.status_code


async def test_an_absent_or_stale_auth_time_is_refused(
    browser: Client, standin: StandIn, mail_dir: Path
) -> None:
    standin.keys.clear()
    kid = standin.new_key()
    await member(browser, mail_dir, "dana@example.org")
    started = await post_form(browser, "/settings", "/auth/standin/link", {})
    query = query_of(str(started.headers["location"]))
    assert "max_age" not in query  # linking asks for no new sign-in
    standin.id_token = standin.sign(claims(standin, query["nonce"]), kid=kid)
    linked = await browser.get(
        "/auth/standin/callback",
        params={"state": query["state"], "code": "any"},
        follow_redirects=False,
    )
    assert linked.status_code == 303, linked.text
    assert await standin_reauth(browser, standin, kid) == 401  # max_age sent: auth_time owed
    stale = int(time.time()) - 3600
    assert await standin_reauth(browser, standin, kid, auth_time=stale) == 401
    assert (await delete_me(browser)).json()["code"] == "reauthentication-required"
    assert await standin_reauth(browser, standin, kid, auth_time=int(time.time())) == 303
    assert (await delete_me(browser)).status_code == 204


async def test_github_re_authenticates_by_a_new_round_trip(
    app: Litestar, browser: Client, standin: StandIn, mail_dir: Path
) -> None:
    standin.github_user = {"id": 4242, "login": "kim", "name": "Kim"}
    standin.github_emails = [{"email": "kim@example.org", "primary": True, "verified": True}]
    await member(browser, mail_dir, "kim@example.org")
    back = await through_github(browser, standin, "/auth/github/link", "/settings")
    assert (await browser.get(site_path(back), follow_redirects=False)).status_code == 303
    assert (await delete_me(browser)).json()["code"] == "reauthentication-required"
    # GitHub cannot be made to ask for a new sign-in: a new round-trip is what it proves.
    back = await through_github(browser, standin, "/auth/github/reauth", "/settings")
    assert "max_age" not in back
    answer = await browser.get(site_path(back), follow_redirects=False)
    assert answer.status_code == 303, answer.text
    assert (await delete_me(browser)).status_code == 204
