"""A person's journey through the web app in a real Chromium, against a real `waymark serve`:
sign up, confirm from the mail, sign in, read the backend roadmap by mouse and keyboard,
switch to the dark theme, sign out; the same sign-in without JavaScript; no inline code and
no CSP violation anywhere; axe finds nothing serious; the printed roadmap holds every topic."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import Console
from tests.browser.support import AXE, Site, confirm, new_member, sign_in, sign_up
from tests.conftest import BACKEND_ROADMAP
from tests.needs import unavailable
from waymark.features.roadmaps import document

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]

BACKEND = document.load(BACKEND_ROADMAP)
TOPIC_TITLES = [topic.title for section in BACKEND.sections for topic in section.topics]
INLINE_CODE = """() => ({
  scripts: document.querySelectorAll("script:not([src])").length,
  styles: document.querySelectorAll("style").length,
  styleAttributes: document.querySelectorAll("[style]").length,
  handlers: [...document.querySelectorAll("*")].filter(
    (e) => [...e.attributes].some((a) => a.name.startsWith("on"))).length,
})"""
AXE_SERIOUS = """async () => (await axe.run(document, {resultTypes: ["violations"]}))
  .violations.filter((v) => ["serious", "critical"].includes(v.impact))
  .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`)"""
NO_INLINE_CODE = {"scripts": 0, "styles": 0, "styleAttributes": 0, "handlers": 0}


def assert_no_inline_code(page: Page) -> None:
    assert page.evaluate(INLINE_CODE) == NO_INLINE_CODE, page.url


def open_panel(page: Page, topic_id: str) -> None:
    """Wait until the panel of `topic_id` is shown (by script or by `:target`)."""
    expect(page.locator(f'[id="topic-{topic_id}"]')).to_be_visible()


def test_the_journey(context: BrowserContext, console: Console, site: Site) -> None:
    page = context.new_page()
    email = "journey@example.org"
    visited: list[str] = []

    def checked() -> None:
        assert_no_inline_code(page)
        visited.append(page.url)

    sign_up(page, site, email)
    checked()
    confirm(page, site, email)
    checked()
    sign_in(page, site, email)
    checked()

    # The roadmap: 45 topics, each with its id and a status, every one pending so far.
    page.get_by_role("link", name="Backend developer").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Backend developer")
    checked()
    topics = page.locator("svg[data-roadmap-diagram] a.topic")
    expect(topics).to_have_count(45)
    assert page.locator("a.topic.pending[data-topic-id]").count() == 45
    assert page.locator("a.topic.core").count() == 27
    assert page.locator("a.topic.extra").count() == 18

    # By mouse: the panel opens beside the diagram, with how Waymark builds the topic.
    postgres = page.locator('a.topic[data-topic-id="databases.postgresql"]')
    postgres.click()
    panel = page.locator('[id="topic-databases.postgresql"]')
    expect(panel).to_be_visible()
    expect(panel.get_by_role("heading", name="How Waymark builds this")).to_be_visible()
    expect(panel).to_contain_text("PostgreSQL 15")
    expect(panel).to_be_focused()
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(postgres).to_be_focused()

    # By keyboard: one Tab stop for the diagram, arrows between topics, Enter, Escape.
    page.keyboard.press("ArrowDown")
    below = page.locator('a.topic[data-topic-id="databases.redis"]')
    expect(below).to_be_focused()
    assert below.get_attribute("tabindex") == "0"
    assert postgres.get_attribute("tabindex") == "-1"
    page.keyboard.press("ArrowRight")
    right = page.evaluate("document.activeElement.dataset.topicId")
    assert right.startswith("databases.")
    assert right != "databases.redis"
    page.keyboard.press("ArrowLeft")
    expect(below).to_be_focused()
    page.keyboard.press("Enter")
    redis = page.locator('[id="topic-databases.redis"]')
    expect(redis).to_be_visible()
    expect(redis).to_be_focused()
    assert page.url.endswith("#topic-databases.redis")
    page.keyboard.press("Escape")
    expect(redis).to_be_hidden()
    expect(below).to_be_focused()

    # The dark theme, remembered across a reload.
    page.get_by_role("button", name="Dark").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    page.wait_for_load_state("networkidle")
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(17, 20, 24)", background
    expect(page.get_by_role("button", name="Dark")).to_have_attribute("aria-pressed", "true")
    checked()

    page.goto(site.url("/settings"))
    checked()
    page.get_by_role("button", name="Sign out", exact=True).first.click()
    expect(page.get_by_role("status")).to_contain_text("You are signed out")
    expect(
        page.get_by_role("navigation", name="Site").get_by_role("link", name="Sign in")
    ).to_be_visible()
    checked()
    page.goto(site.url("/settings"))
    expect(page).to_have_url(re.compile(r"/login\?next=/settings$"))

    assert len(visited) == 7
    assert console == [], console


def test_without_javascript(browser: Browser, site: Site, console: Console) -> None:
    """Everything readable and every change made without a line of script: sign in,
    open a topic (its panel is the link's `:target`), sign out."""
    email = "no-script@example.org"
    with browser.new_context(java_script_enabled=True) as helper:
        page = helper.new_page()
        sign_up(page, site, email)
        confirm(page, site, email)
    context = browser.new_context(java_script_enabled=False)
    console.watch(context)
    try:
        page = context.new_page()
        sign_in(page, site, email)
        page.goto(site.url("/roadmaps/backend"))
        page.locator('a.topic[data-topic-id="api-design.rest"]').click()
        open_panel(page, "api-design.rest")
        expect(page.locator('[id="topic-api-design.rest"]')).to_contain_text("keyset pagination")
        page.locator('[id="topic-api-design.rest"]').get_by_role("link", name="Close").click()
        expect(page.locator('[id="topic-api-design.rest"]')).to_be_hidden()
        page.get_by_role("button", name="Dark").click()
        expect(page.locator("html")).to_have_attribute("data-theme", "dark")
        page.get_by_role("button", name="Sign out", exact=True).click()
        expect(
            page.get_by_role("navigation", name="Site").get_by_role("link", name="Sign in")
        ).to_be_visible()
    finally:
        context.close()
    assert console == [], console


AUDITED = [
    ("/", "anonymous"),
    ("/signup", "anonymous"),
    ("/login", "anonymous"),
    ("/forgot-password", "anonymous"),
    ("/verify-email?token=no-such-link-at-all", "anonymous"),
    ("/no/such/page", "anonymous"),
    ("/", "member"),
    ("/settings", "member"),
    ("/roadmaps/backend", "member"),
    ("/roadmaps/backend#topic-databases.redis", "member"),
]


def test_axe_finds_nothing_serious(browser: Browser, site: Site, console: Console) -> None:
    """axe-core, injected before the page's own scripts and run under its CSP, in the light
    theme and the dark one."""
    if not AXE.is_file():
        unavailable("axe-core", "run `make browser-tools` (npm ci)")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    console.watch(context)
    context.add_init_script(path=AXE)
    try:
        page = context.new_page()
        new_member(page, site, "axe@example.org")
        anonymous = browser.new_context()
        anonymous.add_init_script(path=AXE)
        stranger = anonymous.new_page()
        found: dict[str, list[str]] = {}
        for theme in ("light", "dark"):
            for path, who in AUDITED:
                tab = page if who == "member" else stranger
                tab.emulate_media(color_scheme=theme)  # type: ignore[arg-type]
                tab.goto(site.url(path))
                if "#topic-" in path:
                    expect(tab.locator(".topic-panel.is-open")).to_be_visible()
                violations = tab.evaluate(AXE_SERIOUS)
                if violations:
                    found[f"{path} ({who}, {theme})"] = violations
        anonymous.close()
    finally:
        context.close()
    assert found == {}
    assert console == [], console


def test_printing_the_roadmap_gives_every_topic_and_its_status(
    context: BrowserContext, site: Site, tmp_path: Path
) -> None:
    page = context.new_page()
    page.goto(site.url("/roadmaps/backend"))
    pdf = tmp_path / "roadmap.pdf"
    page.pdf(path=str(pdf), format="A4", print_background=True)
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    flat = " ".join(text.split())
    missing = [title for title in TOPIC_TITLES if " ".join(title.split()) not in flat]
    assert missing == []
    assert flat.count("Not started") >= 45
    pages = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    # The diagram whole on the first page, the outline after it; not a blank page.
    assert int(re.search(r"Pages:\s+(\d+)", pages)[1]) >= 2  # type: ignore[index]
    first_page = subprocess.run(
        ["pdftotext", "-f", "1", "-l", "1", str(pdf), "-"], capture_output=True, text=True
    ).stdout
    assert "Databases" in first_page
    assert "PostgreSQL" in first_page
