"""What the browser tests and `make screenshots` share: a real `waymark serve` with a
private var dir, Debian's Chromium driven by Playwright, and the journey's steps as a
person takes them.

The site is served as `localhost` (bound to 127.0.0.1): a name, not an IP, as browsers
expect of a secure context, where the `__Host-` session cookie is kept.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from tests.auth_helpers import PASSWORD, VERIFY, mails, text_of
from tests.conftest import BACKEND_ROADMAP
from tests.servers import free_port, serving, waymark

ROOT = Path(__file__).parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
# Runs before any page script, exempt from the page's CSP: every violation is reported on
# the console, where the tests collect it (a listener in our own script would miss those
# raised while the page is parsed).
CSP_WATCH = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
});
"""

# Runs before any page script: keeps the kinds of the live events the page's scripts were
# handed (live.js's `waymark:live`), so a test knows when a page's stream is open (`ready`).
LIVE_WATCH = """
window.liveKinds = [];
document.addEventListener("waymark:live", (e) => window.liveKinds.push(e.detail.kind));
"""
# Set on a page, gone if it reloads: what was seen there came without a reload.
STAY = "() => { window.stayed = true; }"
STAYED = "() => window.stayed === true"


def live_ready(page: Page) -> None:
    """Wait until the page's live stream is open (its `ready`), then mark the page (`STAY`)."""
    page.wait_for_function("() => window.liveKinds && window.liveKinds.includes('ready')")
    page.evaluate(STAY)


def missing_tools() -> list[str]:
    """What the browser tests need that this machine lacks (`make browser-tools`)."""
    needed = {"chromium": shutil.which("chromium"), "pdftotext": shutil.which("pdftotext")}
    return [name for name, path in needed.items() if path is None]


@dataclass(frozen=True)
class Site:
    base: str
    var_dir: Path
    front_end: str
    """Another origin, on this machine, that CORS lets call the API (nothing serves it:
    a test that needs a front-end there starts one)."""

    @property
    def mail_dir(self) -> Path:
        return self.var_dir / "mail"

    def url(self, path: str) -> str:
        return self.base + path

    def link_in_mail(self, to: str, subject: str = VERIFY, timeout: float = 15.0) -> str:
        """The link in the latest mail to `to` with `subject`, once the outbox sent it."""
        deadline = time.monotonic() + timeout
        while not (found := mails(self.mail_dir, to, subject)):
            assert time.monotonic() < deadline, f"no mail to {to} after {timeout} s"
            time.sleep(0.1)
        body = text_of(found[-1])
        return next(word for word in body.split() if word.startswith(self.base + "/"))


@contextmanager
def served_site(var_dir: Path) -> Iterator[Site]:
    """A migrated Waymark with the backend roadmap, served on a free port of 127.0.0.1."""
    port = free_port()
    base = f"http://localhost:{port}"
    front_end = f"http://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAYMARK_")}
    env |= {
        "WAYMARK_VAR_DIR": str(var_dir),
        "WAYMARK_PUBLIC_URL": base,
        "WAYMARK_LOG__LEVEL": "warning",
        "WAYMARK_ENV_FILE": "",
        # Mail goes out at once, not a second later.
        "WAYMARK_OUTBOX__POLL_INTERVAL": "0.1",
        "WAYMARK_HTTP__CORS_ORIGINS": f'["{front_end}"]',
        # Webhooks may reach a receiver a test starts on 127.0.0.1 (never in production).
        "WAYMARK_FETCH__ALLOW_HTTP": "true",
        "WAYMARK_FETCH__ALLOWED_NETWORKS": '["127.0.0.1/32"]',
    }
    waymark(env, "db", "upgrade")
    waymark(env, "roadmaps", "import", str(BACKEND_ROADMAP))
    with serving(env, var_dir / "serve.log", port=port):
        yield Site(base=base, var_dir=var_dir, front_end=front_end)


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless (never a browser Playwright downloads)."""
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            yield browser
        finally:
            browser.close()


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(
        executable_path=shutil.which("chromium"), headless=True, args=CHROMIUM_ARGS
    )


# -- steps of the journey, as a person takes them ---------------------------------------------


def sign_up(page: Page, site: Site, email: str, name: str = "Ada") -> None:
    page.goto(site.url("/"))
    page.get_by_role("link", name="Sign up", exact=True).first.click()
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Your name (optional)").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("status")).to_contain_text("Check your inbox")


def confirm(page: Page, site: Site, email: str) -> None:
    page.goto(site.link_in_mail(email))
    expect(page.get_by_role("heading", name="Confirm your account")).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm and set the password").click()
    expect(page.get_by_role("status")).to_contain_text("Your address is confirmed")


def sign_in(page: Page, site: Site, email: str) -> None:
    if "/login" not in page.url:
        page.goto(site.url("/login"))
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("link", name="Settings")).to_be_visible()


def create_account(site: Site, email: str, name: str) -> None:
    """A confirmed account made by the operator's command (`waymark users create`), not the
    sign-up form: the browser suite stays under the sign-up rate limit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAYMARK_")}
    env |= {
        "WAYMARK_VAR_DIR": str(site.var_dir),
        "WAYMARK_ENV_FILE": "",
        "WAYMARK_LOG__LEVEL": "warning",
    }
    subprocess.run(
        [sys.executable, "-m", "waymark", "users", "create", email, "--display-name", name],
        input=PASSWORD + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def new_member(page: Page, site: Site, email: str) -> None:
    """Sign up, confirm from the mail, sign in."""
    sign_up(page, site, email)
    confirm(page, site, email)
    sign_in(page, site, email)


def csrf_token(page: Page) -> str:
    """The session's CSRF token, as the page's forms (and learner.js) carry it."""
    return str(page.locator('input[name="csrf_token"]').first.input_value())


def make_progress(
    page: Page, site: Site, statuses: dict[str, str], notes: dict[str, str] | None = None
) -> None:
    """Statuses and notes on the backend roadmap through the API, as learner.js sends them
    (the browser's session cookie and `X-CSRF-Token`)."""
    page.goto(site.url("/roadmaps/backend"))
    headers = {"x-csrf-token": csrf_token(page)}
    for topic_id, status in statuses.items():
        answer = page.request.put(
            site.url(f"/api/v1/me/progress/backend/topics/{topic_id}"),
            data={"status": status},
            headers=headers,
        )
        assert answer.ok, answer.text()
    for topic_id, markdown in (notes or {}).items():
        answer = page.request.put(
            site.url(f"/api/v1/me/notes/backend/{topic_id}"),
            data={"markdown": markdown},
            headers=headers,
        )
        assert answer.ok, answer.text()


WCAG_CONTRAST = """
  const channels = (colour) => colour.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const luminance = (colour) => {
    const [r, g, b] = channels(colour).map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratio = (a, b) => {
    const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
"""
"""WCAG 2's contrast ratio in the page's script (`ratio(colourA, colourB)` of two computed
CSS colours), for the contrast checks to build on."""
