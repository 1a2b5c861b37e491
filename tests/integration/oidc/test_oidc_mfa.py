"""Signing in with a real OpenID Connect provider does not skip two-step verification: the
callback ends in the challenge, not a session."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.integration.oidc.support import sign_out, site_path, through_provider
from tests.integration.oidc.test_oidc_provider import link_alice, start
from tests.mfa_helpers import code, enrol_on_page, next_step
from tests.web_helpers import Client, post_form


@pytest.mark.backend("sqlite")
async def test_an_oidc_sign_in_of_an_account_with_mfa_ends_in_the_challenge(
    browser: Client, idp_browser: httpx.AsyncClient, mail_dir: Path
) -> None:
    await link_alice(browser, idp_browser, mail_dir)
    secret, confirmed = await enrol_on_page(browser)
    assert confirmed.status_code == 200, confirmed.text
    await sign_out(browser)

    back = await through_provider(idp_browser, await start(browser, "/auth/idp/start"), "alice")
    answered = await browser.get(site_path(back), follow_redirects=False)
    assert answered.status_code == 303
    assert answered.headers["location"] == "/login/mfa?next=/roadmaps"
    assert "waymark_session" not in answered.headers.get("set-cookie", "")
    assert (await browser.get("/api/v1/me")).status_code == 401
    next_step(browser)
    passed = await post_form(
        browser, "/login/mfa", "/login/mfa", {"code": code(browser, secret), "next": "/roadmaps"}
    )
    assert passed.headers["location"] == "/roadmaps", passed.text
    events = (await browser.get("/api/v1/me/audit")).json()
    assert events[0]["kind"] == "login.succeeded"
    assert events[0]["detail"] == {"mode": "session", "via": "idp", "mfa": "totp"}
