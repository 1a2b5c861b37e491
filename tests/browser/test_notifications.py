"""The notification centre in a real Chromium against a real `waymark serve`: Olga invites
Ada, who has an account already; the relay makes Ada a notification, and the bell in her
navigation counts it at once, without a reload (live, over her page's `EventSource`), said
politely to a screen reader. By keyboard alone Ada opens the notifications from the bell,
marks the invite read (the count goes, in her other tab too), follows it to her invites and
joins the team there, without the mailed link. No inline code or CSP violation on the way;
axe finds nothing serious on the notifications and invites pages, in the light theme and
the dark one."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.browser.conftest import Console
from tests.browser.support import AXE, STAYED, Site, live_ready
from tests.browser.test_journey import AXE_SERIOUS, assert_no_inline_code
from tests.browser.test_teams import contexts, person

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]
__all__ = ["contexts"]  # the fixture, shared with test_teams


def test_the_bell_counts_an_invite_read_and_joined_by_keyboard(
    site: Site, contexts: tuple[BrowserContext, ...], console: Console
) -> None:
    owner, ada = (ctx.new_page() for ctx in contexts)
    person(owner, site, "olga-bell@example.org", "Olga")
    person(ada, site, "ada-bell@example.org", "Ada")
    expect(ada.locator("a.bell")).to_have_text("Notifications")
    live_ready(ada)
    owner.goto(site.url("/teams"))
    owner.get_by_label("Team name").fill("Bell guild")
    owner.get_by_role("button", name="Create the team").click()
    owner.get_by_label("Email address").fill("ada-bell@example.org")
    owner.get_by_role("button", name="Send the invite").click()
    expect(owner.get_by_role("status")).to_contain_text("The invite is on its way")

    expect(ada.locator("a.bell")).to_have_text("Notifications 1 unread")
    assert ada.evaluate(STAYED)
    expect(ada.locator("[data-live-announce]")).to_have_text("New notification: 1 unread.")
    assert_no_inline_code(ada)
    ada.locator("a.bell").focus()
    ada.keyboard.press("Enter")
    expect(ada.get_by_role("heading", level=1)).to_have_text("Notifications")
    link = ada.get_by_role("link", name=re.compile("invited you to join Bell guild as member"))
    expect(link).to_be_visible()
    assert_no_inline_code(ada)
    other_tab = contexts[1].new_page()  # Ada's too: its bell follows her reading
    other_tab.goto(site.url("/"))
    expect(other_tab.locator("a.bell")).to_have_text("Notifications 1 unread")
    live_ready(other_tab)
    ada.get_by_role("button", name=re.compile("^Mark read")).focus()
    ada.keyboard.press("Enter")
    expect(ada.locator("a.bell")).to_have_text("Notifications")
    expect(other_tab.locator("a.bell")).to_have_text("Notifications")
    assert other_tab.evaluate(STAYED)
    other_tab.close()
    expect(ada.get_by_role("button", name=re.compile("^Mark read"))).to_have_count(0)

    ada.get_by_role("link", name=re.compile("invited you to join Bell guild")).focus()
    ada.keyboard.press("Enter")
    expect(ada.get_by_role("heading", name="Join Bell guild")).to_be_visible()
    assert_no_inline_code(ada)
    if AXE.is_file():
        found = {}
        for theme in ("light", "dark"):
            for path in ("/invites", "/notifications"):
                ada.emulate_media(color_scheme=theme)  # type: ignore[arg-type]
                ada.goto(site.url(path))
                violations = ada.evaluate(AXE_SERIOUS)
                if violations:
                    found[f"{path} ({theme})"] = violations
        assert found == {}
        ada.goto(site.url("/invites"))
    ada.get_by_role("button", name="Accept and join Bell guild").focus()
    ada.keyboard.press("Enter")
    expect(ada.get_by_role("status")).to_contain_text("Welcome to the team")
    expect(ada.get_by_role("heading", level=1)).to_have_text("Bell guild")
    assert console == [], console
