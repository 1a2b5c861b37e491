"""Passkeys on the pages, in-process: the sign-in page's button (hidden until passkeys.js
finds WebAuthn, with words for a browser without it), and settings' list of passkeys,
renamed and removed by plain forms (never the last way in). The passkey is made by the
SOFTWARE AUTHENTICATOR WRITTEN FOR THE TESTS (tests/passkey_authenticator.py); a real
browser's is in tests/browser/test_passkeys.py."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar import Litestar

from tests.integration.test_passkeys import authenticator_for
from tests.web_helpers import Client, browsing, csrf_of, member, post_form

pytestmark = pytest.mark.backend("sqlite")


@pytest.fixture
async def browser(app: Litestar, mail_dir: Path) -> AsyncIterator[Client]:
    """A member signed in through the pages, with one passkey added (as passkeys.js adds
    it: the API, the session cookie and the page's CSRF token)."""
    async with browsing(app) as client:
        await member(client, mail_dir, "pages@example.org")
        headers = {"x-csrf-token": csrf_of((await client.get("/settings")).text)}
        began = (await client.post("/api/v1/me/passkeys/options", headers=headers)).json()
        made = authenticator_for(app).create(began["publicKey"])
        added = await client.post(
            "/api/v1/me/passkeys",
            headers=headers,
            json={"ceremony": began["ceremony"], "credential": made, "name": "Old laptop"},
        )
        assert added.status_code == 201, added.text
        yield client


async def test_the_sign_in_page_offers_passkeys_only_where_they_work(app: Litestar) -> None:
    async with browsing(app) as client:
        html = (await client.get("/login")).text
        assert re.search(r"<button[^>]*data-passkey-action hidden>Sign in with a passkey", html)
        assert "needs JavaScript and a browser that supports passkeys" in html
        assert re.search(r'<script src="/static/passkeys\.[0-9a-f]{16}\.js" defer>', html)
        app.state.container.passkeys.on = False
        assert "passkey" not in (await client.get("/login")).text


async def test_settings_rename_and_remove_a_passkey_without_javascript(
    app: Litestar, browser: Client
) -> None:
    [passkey] = (await browser.get("/api/v1/me/passkeys")).json()
    renamed = await post_form(
        browser,
        "/settings",
        "/settings/passkeys/rename",
        {"passkey": passkey["id"], "name": "Work laptop"},
    )
    assert renamed.headers["location"] == "/settings?notice=passkey-renamed#passkeys"
    html = (await browser.get("/settings")).text
    assert 'value="Work laptop"' in html
    assert "Old laptop" not in html

    app.state.container.auth.password_on = False  # the passkey is now the one way in
    refused = await post_form(
        browser, "/settings", "/settings/passkeys/remove", {"passkey": passkey["id"]}
    )
    assert refused.status_code == 409
    assert "This is your last way to sign in" in refused.text
    app.state.container.auth.password_on = True
    removed = await post_form(
        browser, "/settings", "/settings/passkeys/remove", {"passkey": passkey["id"]}
    )
    assert removed.headers["location"] == "/settings?notice=passkey-removed#passkeys"
    assert (await browser.get("/api/v1/me/passkeys")).json() == []
    missing = await post_form(
        browser, "/settings", "/settings/passkeys/remove", {"passkey": "not-an-id"}
    )
    assert missing.status_code == 404
