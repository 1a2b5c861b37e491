"""Two-step verification in a real Chromium against a real `waymark serve`: an account (made
with `waymark users create`, not the sign-up form) turns it on by scanning nothing (the key
is typed, as the page offers), keeps its recovery codes (the download is a text file), signs
out, and signs in again with the code an authenticator app would show, computed here (RFC
6238). No inline code, no CSP violation, and axe finds nothing serious on the pages."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.auth_helpers import PASSWORD
from tests.browser.conftest import Console
from tests.browser.support import AXE, Site, sign_in
from tests.browser.test_journey import AXE_SERIOUS, assert_no_inline_code
from tests.needs import unavailable
from waymark.infra.security import otp

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]


def create_account(site: Site, email: str) -> None:
    """An account made as an operator would, beside the running server (same database)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAYMARK_")}
    env |= {"WAYMARK_VAR_DIR": str(site.var_dir), "WAYMARK_PUBLIC_URL": site.base}
    env["WAYMARK_ENV_FILE"] = ""
    created = subprocess.run(
        [sys.executable, "-m", "waymark", "users", "create", email],
        env=env,
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert created.returncode == 0, created.stderr


def clean(page: Page) -> None:
    assert_no_inline_code(page)
    assert page.evaluate(AXE_SERIOUS) == [], page.url


def test_enrol_sign_out_and_sign_in_with_the_app_code(
    context: BrowserContext, site: Site, console: Console
) -> None:
    if not AXE.is_file():
        unavailable("axe-core", "run `make browser-tools` (npm ci)")
    context.add_init_script(path=AXE)
    email = "totp@example.org"
    create_account(site, email)
    page = context.new_page()
    sign_in(page, site, email)

    page.goto(site.url("/settings/mfa"))
    clean(page)
    page.get_by_role("button", name="Set up an authenticator app").click()
    expect(page.get_by_role("heading", name="Set up your authenticator app")).to_be_visible()
    expect(page.locator(".qr-code svg")).to_be_visible()
    clean(page)
    key = page.locator(".secret-key").inner_text()
    secret = base64.b32decode(key + "=" * (-len(key) % 8))
    accepted = otp.step_at(time.time())
    page.get_by_label("Code from the app").fill(otp.hotp(secret, accepted))
    page.get_by_label("Your current password").fill(PASSWORD)
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    clean(page)
    codes = page.locator(".recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    with page.expect_download() as downloading:
        page.get_by_role("link", name="Download them as a text file").click()
    download = downloading.value
    assert download.suggested_filename == "waymark-recovery-codes.txt"
    with open(download.path(), encoding="utf-8") as file:
        assert file.read().split()[-10:] == codes

    page.goto(site.url("/"))
    page.get_by_role("button", name="Sign out", exact=True).first.click()
    page.goto(site.url("/login"))
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name="Two-step verification")).to_be_visible()
    clean(page)
    # The step after the one the enrolment used: what the app shows now or next (the server
    # takes one step of skew, and never the same step twice).
    page.get_by_label("Code", exact=True).fill(otp.hotp(secret, accepted + 1))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("link", name="Settings")).to_be_visible()
    page.goto(site.url("/settings/mfa"))
    expect(page.get_by_role("heading", name="It is on")).to_be_visible()
    clean(page)
    assert list(console) == []
