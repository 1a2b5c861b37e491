"""Signing in with a real OpenID Connect provider (npm `oidc-provider`, certified), driven
end to end as a browser would: Waymark's button, the provider's login and consent forms,
back with a code, the code redeemed with the PKCE verifier, the ID token validated."""

from __future__ import annotations

from http.cookiejar import CookieJar
from pathlib import Path

import httpx
import pytest

from tests.integration.oidc.support import query_of, sign_out, site_path, through_provider
from tests.web_helpers import Client, in_another_browser, member, post_form
from waymark.transport.http.identity import SESSION_COOKIE

SQLITE_ONLY = pytest.mark.backend("sqlite")
"""The whole journey runs on both databases; the checks on one are enough."""


async def start(browser: Client, action: str, page: str = "/login") -> str:
    """Press a provider's button on `page`: where Waymark sends the browser."""
    answer = await post_form(browser, page, action, {"next": "/roadmaps"})
    assert answer.status_code == 303, answer.text
    return str(answer.headers["location"])


async def link_alice(browser: Client, idp: httpx.AsyncClient, mail_dir: Path) -> None:
    await member(browser, mail_dir, "owner@example.org")
    back = await through_provider(idp, await start(browser, "/auth/idp/link", "/settings"), "alice")
    linked = await browser.get(site_path(back), follow_redirects=False)
    assert linked.headers["location"] == "/settings?notice=identity-linked", linked.text


@SQLITE_ONLY
async def test_the_authorization_request_carries_pkce_s256_state_and_nonce(
    browser: Client, issuer: str
) -> None:
    url = await start(browser, "/auth/idp/start")
    query = query_of(url)
    assert url.startswith(f"{issuer}/auth?")
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 43
    assert len(query["nonce"]) >= 43
    assert query["redirect_uri"] == "https://testserver.local/auth/idp/callback"


@SQLITE_ONLY
async def test_the_pre_login_cookie_is_host_only_httponly_lax_and_short_lived(
    browser: Client,
) -> None:
    answer = await post_form(browser, "/login", "/auth/idp/start", {"next": "/"})
    cookie = next(c for c in answer.headers.get_list("set-cookie") if "waymark_signin" in c)
    assert cookie.startswith("__Host-waymark_signin=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" in cookie
    assert "Max-Age=600" in cookie


async def test_linked_from_settings_then_signed_in_with_the_provider(
    browser: Client, idp_browser: httpx.AsyncClient, mail_dir: Path, issuer: str
) -> None:
    await link_alice(browser, idp_browser, mail_dir)
    listed = (await browser.get("/api/v1/me/identities")).json()
    assert [(i["issuer"], i["subject"]) for i in listed] == [(issuer, "alice")]
    await sign_out(browser)

    back = await through_provider(idp_browser, await start(browser, "/auth/idp/start"), "alice")
    signed_in = await browser.get(site_path(back), follow_redirects=False)
    assert signed_in.headers["location"] == "/roadmaps"
    assert SESSION_COOKIE in signed_in.cookies
    me = await browser.get("/api/v1/me")
    assert me.json()["email"] == "owner@example.org"
    settings = await browser.get("/settings")
    assert "Linked identities" in settings.text


@SQLITE_ONLY
async def test_linking_and_signing_in_with_a_provider_are_audited(
    browser: Client, idp_browser: httpx.AsyncClient, mail_dir: Path
) -> None:
    await link_alice(browser, idp_browser, mail_dir)
    await sign_out(browser)
    back = await through_provider(idp_browser, await start(browser, "/auth/idp/start"), "alice")
    await browser.get(site_path(back), follow_redirects=False)
    events = (await browser.get("/api/v1/me/audit")).json()
    kinds = [(e["kind"], e["detail"].get("via") or e["detail"].get("provider")) for e in events]
    assert kinds[:3] == [("login.succeeded", "idp"), ("logout", None), ("identity.linked", "idp")]


async def test_the_same_answer_twice_finishes_nothing_the_second_time(
    browser: Client, idp_browser: httpx.AsyncClient, mail_dir: Path
) -> None:
    await link_alice(browser, idp_browser, mail_dir)
    await sign_out(browser)
    back = await through_provider(idp_browser, await start(browser, "/auth/idp/start"), "alice")
    first = await browser.get(site_path(back), follow_redirects=False)
    assert first.status_code == 303
    await sign_out(browser)
    again = await browser.get(site_path(back), follow_redirects=False)
    assert again.status_code == 401
    assert "Signing in with the other site failed" in again.text


@SQLITE_ONLY
async def test_a_code_replayed_into_a_new_attempt_is_refused_by_the_provider(
    browser: Client, idp_browser: httpx.AsyncClient, mail_dir: Path
) -> None:
    await link_alice(browser, idp_browser, mail_dir)
    await sign_out(browser)
    first = await through_provider(idp_browser, await start(browser, "/auth/idp/start"), "alice")
    await browser.get(site_path(first), follow_redirects=False)
    await sign_out(browser)
    # A new attempt of this browser (its own state), fed the code already redeemed.
    state = query_of(await start(browser, "/auth/idp/start"))["state"]
    replayed = await browser.get(
        "/auth/idp/callback", params={"state": state, "code": query_of(first)["code"]}
    )
    assert replayed.status_code == 401
    assert SESSION_COOKIE not in replayed.cookies


@SQLITE_ONLY
async def test_a_state_from_another_browser_is_refused(
    browser: Client, idp_browser: httpx.AsyncClient, mail_dir: Path
) -> None:
    await link_alice(browser, idp_browser, mail_dir)
    await sign_out(browser)
    back = await through_provider(idp_browser, await start(browser, "/auth/idp/start"), "alice")
    other = CookieJar()
    with in_another_browser(browser, other):
        await start(browser, "/auth/idp/start")  # the other browser's own attempt
        stolen = await browser.get(site_path(back), follow_redirects=False)
    assert stolen.status_code == 401
    assert SESSION_COOKIE not in stolen.cookies


@SQLITE_ONLY
async def test_a_state_that_is_not_the_attempts_is_refused(
    browser: Client, idp_browser: httpx.AsyncClient, mail_dir: Path
) -> None:
    await link_alice(browser, idp_browser, mail_dir)
    await sign_out(browser)
    back = await through_provider(idp_browser, await start(browser, "/auth/idp/start"), "alice")
    code = query_of(back)["code"]
    answer = await browser.get("/auth/idp/callback", params={"state": "forged", "code": code})
    assert answer.status_code == 401
    assert SESSION_COOKIE not in answer.cookies


@SQLITE_ONLY
async def test_an_answer_without_the_pre_login_cookie_is_refused(
    browser: Client, idp_browser: httpx.AsyncClient
) -> None:
    back = await through_provider(idp_browser, await start(browser, "/auth/idp/start"), "carol")
    with in_another_browser(browser, CookieJar()):
        answer = await browser.get(site_path(back), follow_redirects=False)
    assert answer.status_code == 401


@SQLITE_ONLY
async def test_an_unlinked_identity_with_an_existing_accounts_address_signs_in_nowhere(
    browser: Client, idp_browser: httpx.AsyncClient, mail_dir: Path
) -> None:
    # The provider says bob@example.org, verified; an account has that address. Never
    # linked by email alone: refused, and the refusal says a link went to that address
    # (tests/integration/oidc/test_provider_sign_up.py follows it).
    await member(browser, mail_dir, "bob@example.org")
    await sign_out(browser)
    back = await through_provider(idp_browser, await start(browser, "/auth/idp/start"), "bob")
    answer = await browser.get(site_path(back), follow_redirects=False)
    assert answer.status_code == 403
    assert "Confirm by mail" in answer.text
    assert SESSION_COOKIE not in answer.cookies


@SQLITE_ONLY
async def test_the_post_login_redirect_stays_on_this_site(
    browser: Client, idp_browser: httpx.AsyncClient, mail_dir: Path
) -> None:
    await link_alice(browser, idp_browser, mail_dir)
    await sign_out(browser)
    answer = await post_form(browser, "/login", "/auth/idp/start", {"next": "//evil.example/x"})
    back = await through_provider(idp_browser, str(answer.headers["location"]), "alice")
    signed_in = await browser.get(site_path(back), follow_redirects=False)
    assert signed_in.headers["location"] == "/"


@SQLITE_ONLY
async def test_the_login_page_shows_a_button_per_provider(browser: Client) -> None:
    html = (await browser.get("/login")).text
    assert 'action="/auth/idp/start"' in html
    assert "Sign in with Test IdP" in html
    assert "Sign in with GitHub" in html


@SQLITE_ONLY
async def test_an_unknown_provider_is_404(browser: Client) -> None:
    answer = await post_form(browser, "/login", "/auth/nowhere/start", {})
    assert answer.status_code == 404
