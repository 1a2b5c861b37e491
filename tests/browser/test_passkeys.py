"""Passkeys in a real Chromium against a real `waymark serve`, with Chromium's virtual
authenticator (DevTools protocol, `WebAuthn` domain: CTAP2, an internal platform
authenticator with resident keys and user verification): a member adds a passkey from the
settings page, signs out, and signs in again with it from the sign-in page without typing
an address (username-less), all by keyboard; with an authenticator app on too, the passkey
answers the two-step challenge after the password. Without JavaScript the pages say passkeys need
it, and the password form still works. No inline code and no CSP violation on the way.

The account is made with `waymark users create` (the sign-up form is at its rate limit in
a browser run)."""

from __future__ import annotations

import base64
import os
import secrets
import time

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.auth_helpers import PASSWORD
from tests.browser.conftest import Console
from tests.browser.support import Site, sign_in
from tests.servers import waymark
from waymark.infra.security import otp

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]

AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
}


def new_account(site: Site) -> str:
    """A confirmed account, made by the operator's command against the served database."""
    email = f"passkey-{secrets.token_hex(4)}@example.org"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAYMARK_")}
    env |= {"WAYMARK_VAR_DIR": str(site.var_dir), "WAYMARK_ENV_FILE": ""}
    waymark(env, "users", "create", email, stdin=PASSWORD + "\n")
    return email


def test_a_passkey_is_added_and_signs_in_username_less(
    context: BrowserContext, console: Console, site: Site
) -> None:
    email = new_account(site)
    page = context.new_page()
    devtools = context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    authenticator = devtools.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})[
        "authenticatorId"
    ]

    sign_in(page, site, email)
    page.goto(site.url("/settings#passkeys"))
    section = page.locator("#passkeys")
    expect(section.get_by_text("None yet.")).to_be_visible()
    expect(section.get_by_text("needs JavaScript")).to_be_hidden()
    section.get_by_label("Name of the new passkey (optional)").fill("Test laptop")
    section.get_by_role("button", name="Add a passkey").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").first).to_contain_text("The passkey is added")
    expect(page.locator("#passkeys input[name=name]")).to_have_value("Test laptop")

    [stored] = devtools.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})[
        "credentials"
    ]
    assert stored["isResidentCredential"] is True
    assert stored["rpId"] == "localhost"

    page.get_by_role("button", name="Sign out", exact=True).first.click()
    page.goto(site.url("/login"))
    button = page.get_by_role("button", name="Sign in with a passkey")
    button.focus()
    page.keyboard.press("Enter")  # no address typed: the authenticator offers the passkey
    expect(page.get_by_role("link", name="Settings")).to_be_visible()

    page.goto(site.url("/settings#passkeys"))
    expect(page.locator("#passkeys")).to_contain_text("last used")
    [used] = devtools.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})[
        "credentials"
    ]
    assert used["signCount"] > stored["signCount"]
    assert console == [], console


def test_without_javascript_passkeys_say_so(browser: Browser, site: Site) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(site.url("/login"))
        expect(page.get_by_text("Signing in with a passkey needs JavaScript")).to_be_visible()
        expect(page.get_by_role("button", name="Sign in with a passkey")).to_be_hidden()
        email = new_account(site)
        sign_in(page, site, email)  # the password form works all the same
    finally:
        context.close()


def with_passkey_and_app(context: BrowserContext, site: Site) -> tuple[str, Page]:
    """A signed-in page of an account with a passkey (in the page's virtual authenticator)
    and an authenticator app turned on."""
    email = new_account(site)
    page = context.new_page()
    devtools = context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    devtools.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})
    sign_in(page, site, email)
    page.goto(site.url("/settings#passkeys"))
    page.locator("#passkeys").get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_role("status").first).to_contain_text("The passkey is added")
    page.goto(site.url("/settings/mfa"))
    page.get_by_role("button", name="Set up an authenticator app").click()
    key = page.locator(".secret-key").inner_text()
    secret = base64.b32decode(key + "=" * (-len(key) % 8))
    page.get_by_label("Code from the app").fill(otp.hotp(secret, otp.step_at(time.time())))
    page.get_by_label("Your current password").fill(PASSWORD)
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    return email, page


def test_a_passkey_answers_the_two_step_challenge(
    context: BrowserContext, console: Console, site: Site
) -> None:
    """An account with an authenticator app and a passkey signs in with its password, then
    answers the challenge with the passkey ("Use a passkey", by keyboard)."""
    email, page = with_passkey_and_app(context, site)

    page.goto(site.url("/"))
    page.get_by_role("button", name="Sign out", exact=True).first.click()
    page.goto(site.url("/login"))
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name="Two-step verification")).to_be_visible()
    button = page.get_by_role("button", name="Use a passkey")
    button.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("link", name="Settings")).to_be_visible()
    assert console == [], console


def test_a_passkey_confirms_a_step_up(
    context: BrowserContext, console: Console, site: Site
) -> None:
    """ "Confirm it is you" on the two-step settings page, with the passkey (by keyboard):
    the step-up is recorded (the activity says `mfa.step-up`), and the code-less forms of
    the page then act (new recovery codes, no code typed)."""
    _, page = with_passkey_and_app(context, site)
    page.goto(site.url("/settings/mfa#step-up"))
    button = page.get_by_role("button", name="Confirm with a passkey")
    button.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(site.url("/settings/mfa"))
    recovery = page.locator("#recovery")
    recovery.get_by_role("button", name="Make new recovery codes").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    page.goto(site.url("/settings#activity"))
    activity = page.locator("#activity")
    expect(activity.locator("code", has_text="mfa.step-up")).to_have_count(1)
    expect(activity.locator("code", has_text="mfa.recovery-codes")).to_have_count(1)
    assert console == [], console
