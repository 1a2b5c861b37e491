"""A person's journey through the web app in a real Chromium, against a real `waymark serve`:
sign up, confirm from the mail, sign in, read the backend roadmap by mouse and keyboard, mark
topics (a second tab of the roadmap follows each change live), write a note and add a
resource without a reload (all still there after one), switch to the dark theme, sign out;
the same changes without JavaScript; no inline code and no CSP violation anywhere; axe finds
nothing serious and status colours keep 4.5:1; the printed roadmap holds every topic, its
status and the learner's note."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import Console
from tests.browser.support import (
    AXE,
    STAYED,
    WCAG_CONTRAST,
    Site,
    confirm,
    csrf_token,
    live_ready,
    make_progress,
    new_member,
    sign_in,
    sign_up,
)
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

    # A second tab of the roadmap, which follows this one's changes live (its EventSource):
    # statuses, the bar and next up, said politely, its focus left where it was.
    other = context.new_page()
    other.goto(site.url("/roadmaps/backend"))
    live_ready(other)
    skip = other.get_by_role("link", name="Skip to the outline")
    skip.focus()
    other_bar = other.locator('[data-hook="progress-bar"]')

    # Progress, without a reload: one topic by mouse (a status button in its panel), two by
    # keyboard (`l` and `s` on the focused topic); the nodes, the outline and the bar follow.
    page.evaluate("window.stayed = true")  # a reload or a navigation would drop it
    bar = page.locator('[data-hook="progress-bar"]')
    expect(bar).to_contain_text("0 of 45 done")
    first = page.locator("[data-next-up-list] a").first
    expect(first).to_have_text("JavaScript / Node.js")
    first.click()
    js_panel = page.locator('[id="topic-language.javascript-nodejs"]')
    expect(js_panel).to_be_visible()
    js_panel.get_by_role("button", name="Done").click()
    js_node = page.locator('a.topic[data-topic-id="language.javascript-nodejs"]')
    expect(js_node).to_have_class(re.compile(r"\bdone\b"))
    expect(js_panel.get_by_role("button", name="Done")).to_have_attribute("aria-pressed", "true")
    expect(js_panel.locator("[data-status-text]")).to_have_text("Done")
    expect(bar).to_contain_text("1 of 45 done")
    expect(first).not_to_have_text("JavaScript / Node.js")  # next up moved on
    node_there = other.locator('a.topic[data-topic-id="language.javascript-nodejs"]')
    expect(node_there).to_have_class(re.compile(r"\bdone\b"))
    expect(other_bar).to_contain_text("1 of 45 done")
    expect(other_bar.locator('[data-count="percentage"]')).to_have_text("2.2")
    outline_there = other.locator('.outline-topic[data-topic-id="language.javascript-nodejs"]')
    expect(outline_there.locator("[data-status-text]")).to_have_text("Done")
    expect(other.locator("[data-next-up-list] a").first).not_to_have_text("JavaScript / Node.js")
    expect(other.locator("[data-learner-live]")).to_have_text(
        "Changed elsewhere: JavaScript / Node.js: Done. 1 of 45 done."
    )
    expect(skip).to_be_focused()
    page.keyboard.press("Escape")
    expect(js_panel).to_be_hidden()
    postgres.focus()
    page.keyboard.press("ArrowDown")
    expect(below).to_be_focused()
    page.keyboard.press("l")
    expect(below).to_have_class(re.compile(r"\blearning\b"))
    page.keyboard.press("ArrowDown")
    third = page.evaluate("document.activeElement.dataset.topicId")
    assert third not in ("databases.postgresql", "databases.redis")
    page.keyboard.press("s")
    expect(page.locator(f'a.topic[data-topic-id="{third}"]')).to_have_class(
        re.compile(r"\bskipped\b")
    )
    expect(bar).to_contain_text("2 of 45 done")
    expect(bar).to_contain_text("1 done, 1 skipped, 1 learning")
    expect(other_bar).to_contain_text("1 done, 1 skipped, 1 learning")
    expect(other.locator(f'a.topic[data-topic-id="{third}"]')).to_have_class(
        re.compile(r"\bskipped\b")
    )
    assert other.evaluate(STAYED)
    other.close()
    expect(page.locator('[data-hook="progress-bar"] progress')).to_have_attribute("value", "2")
    expect(page.locator("[data-learner-live]")).to_contain_text("2 of 45 done")
    assert page.evaluate("window.stayed") is True

    # A note, previewed then saved, and a resource of my own, in the PostgreSQL panel.
    postgres.click()
    note = panel.get_by_label("Write a note")
    note.fill(
        "Learn **EXPLAIN** first.\n\n<script>alert(1)</script> [docs](https://www.postgresql.org/docs/)"
    )
    panel.get_by_role("button", name="Preview").click()
    preview = panel.locator("[data-note-preview-body]")
    expect(preview.locator("strong")).to_have_text("EXPLAIN")
    expect(preview).to_contain_text("<script>alert(1)</script>")  # as text
    panel.get_by_role("button", name="Save the note").click()
    expect(panel.locator("[data-note-message]")).to_have_text("Note saved.")
    expect(panel.locator("[data-note-view] strong")).to_have_text("EXPLAIN")
    resources = panel.locator('[data-hook="resources"]')
    resources.get_by_label("Title").fill("Use the index, Luke")
    resources.get_by_label("Address (URL)").fill("javascript:alert(1)")
    resources.get_by_role("button", name="Add the resource").click()
    expect(resources.locator(".field-error")).to_have_text("Only http and https URLs")
    expect(resources.get_by_label("Address (URL)")).to_have_attribute("aria-invalid", "true")
    resources.get_by_label("Address (URL)").fill("https://use-the-index-luke.com/")
    resources.get_by_label("Kind").select_option("book")
    resources.get_by_role("button", name="Add the resource").click()
    expect(resources.get_by_role("link", name="Use the index, Luke")).to_be_visible()
    expect(resources.locator(".field-error")).to_have_count(0)
    assert page.evaluate("window.stayed") is True

    # Reloaded: everything was kept, and the outline says the same in words.
    page.reload()
    assert page.evaluate("window.stayed") is None
    expect(bar).to_contain_text("2 of 45 done")
    statuses = {
        "language.javascript-nodejs": "Done",
        "databases.redis": "Learning",
        third: "Skipped",
    }
    for topic_id, label in statuses.items():
        node = page.locator(f'a.topic[data-topic-id="{topic_id}"]')
        expect(node).to_have_class(re.compile(rf"\b{label.lower()}\b"))
        outline = page.locator(f'.outline-topic[data-topic-id="{topic_id}"] .status-text')
        expect(outline).to_have_text(label)
    expect(page.locator(".outline-topic .status-text", has_text="Not started")).to_have_count(42)
    postgres.click()
    expect(panel.locator("[data-note-view] strong")).to_have_text("EXPLAIN")
    expect(panel.get_by_label("Edit your note")).to_have_value(re.compile(r"^Learn \*\*EXPLAIN"))
    expect(panel.get_by_role("link", name="Use the index, Luke")).to_have_attribute(
        "href", "https://use-the-index-luke.com/"
    )
    checked()
    # The note changed elsewhere (another tab) since this page was drawn: not overwritten.
    elsewhere = page.request.put(
        site.url("/api/v1/me/notes/backend/databases.postgresql"),
        data={"markdown": "From my phone."},
        headers={"x-csrf-token": csrf_token(page)},
    )
    assert elsewhere.ok
    panel.get_by_label("Edit your note").fill("From this tab.")
    panel.get_by_role("button", name="Save the note").click()
    expect(panel.locator("[data-note-message]")).to_contain_text("changed elsewhere")
    # A resource removed in place.
    panel.get_by_role("button", name="Remove Use the index, Luke").click()
    expect(panel.get_by_role("link", name="Use the index, Luke")).to_have_count(0)
    expect(panel.locator("[data-resources-empty]")).to_be_visible()
    page.keyboard.press("Escape")

    # The dark theme, remembered across a reload.
    # The POST that remembers it runs in the background: wait for its answer, not for
    # "networkidle", which a page already idle reports at once (the reload then raced it).
    with page.expect_response(lambda r: r.url.endswith("/theme")):
        page.get_by_role("button", name="Dark").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
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

    assert len(visited) == 8
    # The only errors the browser logs are the answers refused on purpose (the resource's
    # bad URL, the note changed elsewhere): no CSP violation, nothing else.
    refused = [
        m
        for m in console
        if ("422" in m and "/api/v1/me/resources/" in m) or ("412" in m and "/me/notes/" in m)
    ]
    assert len(refused) == 2, console
    assert [m for m in console if m not in refused] == [], console


def test_without_javascript(browser: Browser, site: Site, console: Console) -> None:
    """Everything readable and every change made without a line of script: sign in,
    open a topic (its panel is the link's `:target`), change its status and write a note
    (plain forms, back to the open panel), make a team following the roadmap and read its
    progress, open the notifications, sign out."""
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
        rest = page.locator('[id="topic-api-design.rest"]')
        expect(rest).to_contain_text("keyset pagination")
        # A status and a note, each a form: posted, then back to the open panel.
        rest.get_by_role("button", name="Learning").click()
        expect(page).to_have_url(site.url("/roadmaps/backend#topic-api-design.rest"))
        open_panel(page, "api-design.rest")
        expect(rest.locator("[data-status-text]")).to_have_text("Learning")
        node = page.locator('a.topic[data-topic-id="api-design.rest"]')
        expect(node).to_have_class(re.compile(r"\blearning\b"))
        expect(page.locator('[data-hook="progress-bar"]')).to_contain_text("1 learning")
        rest.get_by_label("Write a note").fill("Cursor pagination: *keyset*, not offsets.")
        # The preview without script: the page again, the note as typed and its HTML.
        rest.get_by_role("button", name="Preview").click()
        open_panel(page, "api-design.rest")
        expect(rest.locator("[data-note-preview-body] em")).to_have_text("keyset")
        expect(rest.locator("[data-note-view]")).to_have_text("No note yet.")
        expect(rest.get_by_label("Write a note")).to_have_value(
            "Cursor pagination: *keyset*, not offsets."
        )
        rest.get_by_role("button", name="Save the note").click()
        open_panel(page, "api-design.rest")
        expect(rest.locator("[data-note-view] em")).to_have_text("keyset")
        expect(rest.get_by_label("Edit your note")).to_have_value(
            "Cursor pagination: *keyset*, not offsets."
        )
        rest.get_by_role("link", name="Close").click()
        expect(rest).to_be_hidden()
        # A team's page, made and set to follow the roadmap by its forms: its progress is
        # drawn as it stands (only updating it live needs script); the bell's page reads.
        page.goto(site.url("/teams"))
        page.get_by_label("Team name").fill("Quiet guild")
        page.get_by_role("button", name="Create the team").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Quiet guild")
        page.get_by_label("Roadmap", exact=True).select_option(label="Backend developer")
        page.get_by_role("button", name="Follow", exact=True).click()
        expect(page.get_by_role("status")).to_contain_text("The team follows the roadmap")
        mine = page.locator(f'tr[data-member="{email}"]')
        expect(mine.locator("td").nth(2)).to_have_text("1")  # learning: api-design.rest
        expect(page.locator("[data-live-stopped]")).to_be_hidden()
        # Who is online is known only live: without script the page claims no one is.
        expect(page.get_by_role("heading", name="Online now")).to_have_count(0)
        page.locator("a.bell").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Notifications")
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
    ("/roadmaps/backend#topic-databases.postgresql", "member"),
]
STATUSES = {
    "databases.postgresql": "done",
    "databases.redis": "learning",
    "api-design.rest": "skipped",
}
NOTE = "Remember to VACUUM: *autovacuum* tuning, and [the docs](https://www.postgresql.org/docs/)."
# WCAG's contrast ratio of each status colour, measured in the page as drawn: the status in
# words (outline) on the page, the node's dot (the ring of a pending one) on the node, and
# the node's label on the node.
STATUS_CONTRASTS = (
    "() => {"
    + WCAG_CONTRAST
    + """
  const style = (selector, within = document) => getComputedStyle(within.querySelector(selector));
  const page = getComputedStyle(document.body).backgroundColor;
  const found = {};
  for (const status of ["pending", "learning", "done", "skipped"]) {
    const node = document.querySelector(`a.topic.${status}`);
    const fill = style("rect", node).fill;
    const dot = style(".status-dot", node);
    found[status] = {
      words: ratio(style(`.outline-topic .status-text.${status}`).color, page),
      dot: ratio(status === "pending" ? dot.stroke : dot.fill, fill),
      label: ratio(style("text", node).fill, fill),
    };
  }
  return found;
}"""
)


def test_axe_finds_nothing_serious(browser: Browser, site: Site, console: Console) -> None:
    """axe-core, injected before the page's own scripts and run under its CSP, in the light
    theme and the dark one, on pages with a learner's statuses, an open panel with a note,
    and the settings; and every status colour reads at 4.5:1 or more in both."""
    if not AXE.is_file():
        unavailable("axe-core", "run `make browser-tools` (npm ci)")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    console.watch(context)
    context.add_init_script(path=AXE)
    try:
        page = context.new_page()
        new_member(page, site, "axe@example.org")
        make_progress(page, site, STATUSES, {"databases.postgresql": NOTE})
        anonymous = browser.new_context()
        anonymous.add_init_script(path=AXE)
        stranger = anonymous.new_page()
        found: dict[str, list[str]] = {}
        contrasts: dict[str, dict[str, dict[str, float]]] = {}
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
                if path == "/roadmaps/backend" and who == "member":
                    contrasts[theme] = page.evaluate(STATUS_CONTRASTS)
        anonymous.close()
    finally:
        context.close()
    assert found == {}
    assert set(contrasts) == {"light", "dark"}
    low = {
        f"{theme} {status} {part}": round(ratio, 2)
        for theme, by_status in contrasts.items()
        for status, parts in by_status.items()
        for part, ratio in parts.items()
        if ratio < 4.5
    }
    assert low == {}, contrasts
    assert console == [], console


def test_printing_the_roadmap_gives_every_topic_its_status_and_note(
    context: BrowserContext, site: Site, tmp_path: Path
) -> None:
    page = context.new_page()
    new_member(page, site, "print@example.org")
    make_progress(page, site, STATUSES, {"databases.postgresql": NOTE})
    page.goto(site.url("/roadmaps/backend"))
    pdf = tmp_path / "roadmap.pdf"
    page.pdf(path=str(pdf), format="A4", print_background=True)
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    flat = " ".join(text.split())
    missing = [title for title in TOPIC_TITLES if " ".join(title.split()) not in flat]
    assert missing == []
    assert flat.count("Not started") >= 45 - len(STATUSES)
    titles = {t.id: t.title for s in BACKEND.sections for t in s.topics}
    for topic_id, status in STATUSES.items():
        assert re.search(rf"{re.escape(titles[topic_id])} (\(extra\) )?— {status.title()}", flat)
    # The note's text, under its topic, with its link written out.
    assert "Remember to VACUUM: autovacuum tuning, and the docs" in flat
    assert "(https://www.postgresql.org/docs/)" in flat
    assert "2 of 45 done" in flat
    pages = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    # The diagram whole on the first page, the outline after it; not a blank page.
    assert int(re.search(r"Pages:\s+(\d+)", pages)[1]) >= 2  # type: ignore[index]
    first_page = subprocess.run(
        ["pdftotext", "-f", "1", "-l", "1", str(pdf), "-"], capture_output=True, text=True
    ).stdout
    assert "Databases" in first_page
    assert "PostgreSQL" in first_page
