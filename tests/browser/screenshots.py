"""`make screenshots`: pictures of the main pages for the README, taken in Debian's Chromium
from a real `waymark serve` with a fresh var dir (the same helpers as the browser tests).

    python -m tests.browser.screenshots docs/screenshots
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.support import (
    Site,
    chromium,
    confirm,
    csrf_token,
    make_progress,
    missing_tools,
    new_member,
    served_site,
    sign_in,
    sign_up,
)
from tests.integration.teams_support import INVITE_MAIL

VIEWPORT = {"width": 1280, "height": 860}
STATUSES = {
    "language.javascript-nodejs": "done",
    "language.typescript": "done",
    "language.python": "skipped",
    "framework.express": "done",
    "framework.fastify": "learning",
    "databases.mongodb": "skipped",
    "databases.postgresql": "learning",
}
GRACE = {
    "language.javascript-nodejs": "done",
    "language.python": "done",
    "framework.express": "done",
    "databases.postgresql": "done",
    "databases.redis": "learning",
}
NOTE = """Start with **EXPLAIN ANALYZE** on the slowest query, then:

- read about `VACUUM` and autovacuum tuning
- try a partial index for the `WHERE status = 'open'` lookups

[The manual's performance tips](https://www.postgresql.org/docs/current/performance-tips.html)"""


def take(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []

    def shot(page: Page, name: str) -> None:
        path = directory / f"{name}.png"
        page.screenshot(path=str(path))
        shots.append(path)

    with (
        tempfile.TemporaryDirectory() as var,
        served_site(Path(var) / "var") as site,
        chromium() as browser,
    ):
        context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)  # type: ignore[arg-type]
        page = context.new_page()
        page.goto(site.url("/login"))
        shot(page, "sign-in")
        new_member(page, site, "ada@example.org")
        make_progress(page, site, STATUSES, {"databases.postgresql": NOTE})
        page.request.post(
            site.url("/api/v1/me/resources/backend/databases.postgresql"),
            data={
                "title": "Use the index, Luke",
                "url": "https://use-the-index-luke.com/",
                "kind": "book",
            },
            headers={"x-csrf-token": csrf_token(page)},
        )
        page.goto(site.url("/roadmaps/backend"))
        shot(page, "roadmap-light")
        page.locator('a.topic[data-topic-id="databases.postgresql"]').click()
        expect(page.locator('[id="topic-databases.postgresql"]')).to_be_visible()
        page.wait_for_timeout(300)  # the panel's slide-in
        shot(page, "topic-panel")
        page.keyboard.press("Escape")
        with page.expect_response(lambda r: r.url.endswith("/theme")):  # the cookie is set
            page.get_by_role("button", name="Dark").click()
        page.reload()
        shot(page, "roadmap-dark")
        with page.expect_response(lambda r: r.url.endswith("/theme")):  # the cookie is set
            page.get_by_role("button", name="System").click()
        page.goto(site.url("/settings"))
        shot(page, "settings")
        team_page(page, browser.new_context(viewport=VIEWPORT), site)  # type: ignore[arg-type]
        shot(page, "team")
        context.close()
    return shots


def team_page(page: Page, other: BrowserContext, site: Site) -> None:
    """Ada's team following the backend roadmap, Grace in it with progress of her own; `page`
    left on the team's progress (its table and heat map)."""
    headers = {"x-csrf-token": csrf_token(page)}
    made = page.request.post(
        site.url("/api/v1/teams"), data={"name": "Backend guild"}, headers=headers
    )
    assert made.ok, made.text()
    team = made.json()
    assigned = page.request.put(
        site.url(f"/api/v1/teams/{team['id']}/roadmaps/backend"), headers=headers
    )
    assert assigned.ok, assigned.text()
    invited = page.request.post(
        site.url(f"/api/v1/teams/{team['id']}/invites"),
        data={"email": "grace@example.org", "role": "manager"},
        headers=headers,
    )
    assert invited.ok, invited.text()
    grace = other.new_page()
    sign_up(grace, site, "grace@example.org", "Grace")
    confirm(grace, site, "grace@example.org")
    sign_in(grace, site, "grace@example.org")
    grace.goto(site.link_in_mail("grace@example.org", INVITE_MAIL))
    grace.get_by_role("button", name="Accept and join the team").click()
    expect(grace.get_by_role("heading", level=1)).to_have_text("Backend guild")
    make_progress(grace, site, GRACE)
    other.close()
    page.goto(site.url(f"/teams/{team['id']}#progress"))


def main() -> None:
    if missing := missing_tools():
        sys.exit(f"missing {', '.join(missing)}: run `make browser-tools` first")
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")
    for path in take(target):
        print(f"Wrote {path}")


if __name__ == "__main__":
    main()
