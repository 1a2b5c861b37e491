"""A team's webhooks in a real Chromium against a real `waymark serve`, by keyboard only: the
owner (an account made by `waymark users create`, no sign-up) reaches the webhooks page from
the team's page, adds an endpoint pointing at a receiver this test starts on 127.0.0.1, sees
its secret once, sends a test ping that the receiver gets signed with that secret, and reads
it in the log. No inline code and no CSP violation on the way."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import Console
from tests.browser.support import Site, create_account, sign_in
from tests.browser.test_journey import assert_no_inline_code
from tests.integration.test_webhooks import verify

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]


class Receiver(BaseHTTPRequestHandler):
    got: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        type(self).got.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    Receiver.got = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


def press(page: Page, role: str, name: str, key: str = "Enter") -> None:
    """Focus a control as Tab would reach it and press `key` on it."""
    page.get_by_role(role, name=name).focus()  # type: ignore[arg-type]
    page.keyboard.press(key)


def test_an_owner_adds_an_endpoint_and_pings_it_by_keyboard(
    context: BrowserContext, console: Console, site: Site, receiver: str
) -> None:
    create_account(site, "olga-hooks@example.org", "Olga")
    page = context.new_page()
    sign_in(page, site, "olga-hooks@example.org")
    page.goto(site.url("/teams"))
    page.get_by_label("Team name").fill("Hook guild")
    press(page, "button", "Create the team")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hook guild")
    press(page, "link", "Webhooks")
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhooks")
    assert_no_inline_code(page)

    page.get_by_label("URL (https)").fill(receiver)
    press(page, "checkbox", "teams.invited", " ")
    expect(page.get_by_role("checkbox", name="teams.invited")).to_be_checked()
    press(page, "button", "Add the endpoint")
    secret = page.locator("#webhook-secret").inner_text()
    assert secret.startswith("whsec_")
    assert_no_inline_code(page)

    press(page, "button", f"Send a test ping to {receiver}")
    expect(page.get_by_role("status")).to_contain_text("A test ping is on its way")
    assert page.locator("#webhook-secret").count() == 0  # shown once
    for _ in range(50):
        if Receiver.got:
            break
        page.wait_for_timeout(100)
    ((headers, body),) = Receiver.got
    assert verify([secret], headers["waymark-signature"], body)
    page.reload()
    expect(page.get_by_role("cell", name="Succeeded")).to_be_visible()
    assert list(console) == []
