"""Teams in a real Chromium against a real `waymark serve`: an owner makes a team by its forms,
has it follow the backend roadmap and invites a second person, who accepts from the mailed
link in a browser of their own; when that member marks topics, the owner sees their progress
appear on the team's page (the table and the heat map) without a reload, over the page's
`EventSource`; who of the team is online shows there too, a member coming when she opens the
page and gone when she closes it; a member who may no longer see the team's progress is told
that live updates stopped. No inline code and no CSP violation
on the way; axe finds nothing serious on the teams pages, in the light theme and the dark
one, and the heat map's labels keep 4.5:1 on their colours."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Response, Route, expect

from tests.browser.conftest import Console
from tests.browser.support import (
    AXE,
    STAYED,
    WCAG_CONTRAST,
    Site,
    confirm,
    live_ready,
    make_progress,
    sign_in,
    sign_up,
)
from tests.browser.test_journey import AXE_SERIOUS, assert_no_inline_code
from tests.integration.teams_support import INVITE_MAIL
from tests.needs import unavailable

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]

HEAT_CONTRASTS = (
    "() => {"
    + WCAG_CONTRAST
    + """
  const found = {};
  for (const node of document.querySelectorAll("g.heat-node")) {
    const level = [...node.classList].find((c) => c.startsWith("heat-") && c !== "heat-node");
    const fill = getComputedStyle(node.querySelector("rect")).fill;
    found[level] = Math.min(...[...node.querySelectorAll("text")].map(
      (t) => ratio(getComputedStyle(t).fill, fill)));
  }
  return found;
}"""
)


# As live.js hands it to the page: the visitor's own account announced gone on the team.
LATE_GONE_OF_ME = """() => {
  const box = document.querySelector("[data-presence]");
  const data = { account_id: box.dataset.presenceMe, display_name: "Olga", online: false };
  const detail = { kind: "presence.changed", channel: `team:${box.dataset.presenceTeam}`, data };
  document.dispatchEvent(new CustomEvent("waymark:live", { detail }));
}"""


@dataclass
class People:
    owner: Page
    member: Page
    team_url: str


PRESENCE_WAIT = 15_000
"""ms: a stream refused once is opened again 3 s later (`retry:`), then presence fetched."""


@pytest.fixture
def contexts(browser: Browser, console: Console) -> Iterator[tuple[BrowserContext, ...]]:
    """Two browsers (fresh profiles, watched for CSP violations, axe at hand)."""
    made = []
    for _ in range(2):
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        console.watch(ctx)
        if AXE.is_file():
            ctx.add_init_script(path=AXE)
        made.append(ctx)
    yield tuple(made)
    for ctx in made:
        ctx.close()


def person(page: Page, site: Site, email: str, name: str) -> None:
    sign_up(page, site, email, name)
    confirm(page, site, email)
    sign_in(page, site, email)


def team_with_a_member(site: Site, contexts: tuple[BrowserContext, ...], tag: str) -> People:
    """Olga makes a team following the backend roadmap and invites Ada, who joins from the
    mailed link in her own browser."""
    owner, member = (ctx.new_page() for ctx in contexts)
    ada = f"ada-{tag}@example.org"
    person(owner, site, f"olga-{tag}@example.org", "Olga")
    owner.get_by_role("link", name="Teams").click()
    expect(owner.get_by_role("heading", level=1)).to_have_text("Teams")
    assert_no_inline_code(owner)
    owner.get_by_label("Team name").fill("Backend guild")
    owner.get_by_role("button", name="Create the team").click()
    expect(owner.get_by_role("heading", level=1)).to_have_text("Backend guild")
    expect(owner.get_by_role("status")).to_contain_text("Your team is created")
    owner.get_by_label("Roadmap", exact=True).select_option(label="Backend developer")
    owner.get_by_role("button", name="Follow", exact=True).click()
    expect(owner.get_by_role("status")).to_contain_text("The team follows the roadmap")
    owner.get_by_label("Email address").fill(ada)
    owner.get_by_role("button", name="Send the invite").click()
    expect(owner.get_by_role("status")).to_contain_text("The invite is on its way")
    expect(owner.locator("#invites")).to_contain_text(ada)
    team_url = owner.url.split("?")[0]

    person(member, site, ada, "Ada")
    member.goto(site.link_in_mail(ada, INVITE_MAIL))
    expect(member.get_by_role("heading", name="Join Backend guild")).to_be_visible()
    assert_no_inline_code(member)
    member.get_by_role("button", name="Accept and join the team").click()
    expect(member.get_by_role("status")).to_contain_text("Welcome to the team")
    expect(member.get_by_role("heading", level=1)).to_have_text("Backend guild")
    assert member.url.split("?")[0] == team_url
    assert member.locator("#invites").count() == 0  # a member's page: no manager's section
    return People(owner=owner, member=member, team_url=team_url)


def online_now(page: Page) -> Locator:
    """The names the page shows online now (a list under the heading "Online now")."""
    return page.get_by_role("list", name="Online now").get_by_role("listitem")


def busy_once(page: Page, team_url: str) -> list[int]:
    """Answer the page's first fetch of the team's presence 503 (Retry-After: 1), as a busy
    server would; the statuses its presence fetches got, in order."""
    statuses: list[int] = []
    team = team_url.rstrip("/").rsplit("/", 1)[-1]
    path = f"/api/v1/teams/{team}/presence"

    def refuse(route: Route) -> None:
        if statuses:
            route.continue_()
            return
        route.fulfill(
            status=503,
            headers={"retry-after": "1", "content-type": "application/problem+json"},
            body='{"status":503,"code":"service-unavailable","title":"Service unavailable"}',
        )

    def answered(response: Response) -> None:
        if response.url.endswith(path):
            statuses.append(response.status)

    page.on("response", answered)
    page.route(f"**{path}", refuse)
    return statuses


def expect_online(page: Page, names: list[str], statuses: list[int]) -> None:
    """`online_now(page)` shows `names`; if not, the failure says what the page's stream
    handed it (`ready`, `interrupted`...) and how its presence fetches were answered."""
    try:
        expect(online_now(page)).to_have_text(names, timeout=PRESENCE_WAIT)
    except AssertionError as failure:
        kinds = page.evaluate("window.liveKinds")
        raise AssertionError(f"{failure}\nlive events: {kinds}\npresence: {statuses}") from None


def test_an_invite_accepted_in_another_browser_and_the_members_progress_appears(
    site: Site, contexts: tuple[BrowserContext, ...], console: Console
) -> None:
    people = team_with_a_member(site, contexts, "journey")
    owner = people.owner
    owner.reload()  # Ada is a member now
    row = owner.locator('tr[data-member="ada-journey@example.org"]')
    expect(row).to_contain_text("0.0%")
    expect(row).to_contain_text("Never")

    live_ready(owner)
    # Ada may not see the team's progress yet: her page does not follow the team's channel.
    expect(online_now(owner)).to_have_text(["Olga (you)"])
    # A late "gone" about the visitor (the page before a reload, announced after this one's
    # "online") does not take her out while her page listens.
    owner.evaluate(LATE_GONE_OF_ME)
    expect(online_now(owner)).to_have_text(["Olga (you)"])

    # Ada marks topics (through the API with her renewed session's token, as learner.js does);
    # the owner's page follows without a reload.
    make_progress(
        people.member,
        site,
        {"databases.postgresql": "done", "databases.redis": "learning"},
    )
    expect(row).to_contain_text("2.2%")
    expect(owner.locator("[data-live-announce]")).to_have_text("Team progress changed: Ada: 2.2%.")
    assert owner.evaluate(STAYED)
    expect(row).not_to_contain_text("Never")
    postgres = owner.locator('g.heat-node[data-topic-id="databases.postgresql"]')
    expect(postgres).to_have_attribute("data-done", "1")
    expect(postgres).to_have_class("heat-node core heat-some")
    expect(postgres.locator("text.heat-count")).to_have_text("1/2")
    assert_no_inline_code(owner)
    # The table fallback, by keyboard: the summary opens the heat map's numbers.
    owner.locator(".heat-table summary").focus()
    owner.keyboard.press("Enter")
    expect(owner.locator(".heat-table table")).to_be_visible()
    assert owner.evaluate(STAYED)

    # Ada may see the team's progress, then no longer: her page says live updates stopped.
    member = people.member
    sees = "Members see each other's progress (not only managers and up)"
    owner.get_by_label(sees).check()
    owner.get_by_role("button", name="Save the settings").click()
    expect(owner.get_by_label(sees)).to_be_checked()
    live_ready(owner)
    # Ada opens the team's page, so follows its channel: the owner's page shows her online,
    # without a reload and without a word in the live region (comings and goings are noise).
    # Her page's first fetch of who is online meets a busy server (a 503, as a saturated pool
    # or the load shedder answers): the page asks again after its Retry-After.
    refused = busy_once(member, people.team_url)
    member.goto(people.team_url)
    # A page whose stream was refused (a 503 on a loaded machine) shows no list until
    # EventSource reconnects (`retry: 3000`) and its presence is fetched again.
    expect(online_now(owner)).to_have_text(["Ada", "Olga (you)"], timeout=PRESENCE_WAIT)
    expect_online(member, ["Ada (you)", "Olga"], refused)
    assert refused[:2] == [503, 200]
    # The browser logs the refused fetch; it was this test's doing.
    console[:] = [line for line in console if not ("503" in line and "/presence" in line)]
    # She closes the page: her stream ends, and she is gone at once, well within the
    # presence's TTL (30 s): the timeout here is 5 s.
    member.close()
    expect(online_now(owner)).to_have_text(["Olga (you)"], timeout=5_000)
    assert owner.evaluate(STAYED)
    expect(owner.locator("[data-live-announce]")).to_be_empty()

    member = contexts[1].new_page()
    member.goto(people.team_url)  # she follows the team's channel again
    stopped = member.locator("[data-live-stopped]")
    expect(stopped).to_be_hidden()
    live_ready(member)
    expect(online_now(member)).to_have_text(["Ada (you)", "Olga"], timeout=PRESENCE_WAIT)
    owner.get_by_label(sees).uncheck()
    owner.get_by_role("button", name="Save the settings").click()
    expect(stopped).to_be_visible()
    expect(stopped).to_contain_text("Live updates of this team's progress have stopped")
    expect(member.locator("[data-live-announce]")).to_have_text(
        "Live updates of this team's progress have stopped."
    )
    # Her page no longer hears who comes and goes, so it claims nobody is online; and she
    # left the owner's list when her channel closed.
    expect(member.get_by_role("heading", name="Online now")).to_have_count(0)
    expect(online_now(owner)).to_have_text(["Olga (you)"])
    assert member.evaluate(STAYED)
    assert console == [], console


def test_axe_finds_nothing_serious_on_the_teams_pages(
    site: Site, contexts: tuple[BrowserContext, ...], console: Console
) -> None:
    if not AXE.is_file():
        unavailable("axe-core", "run `make browser-tools` (npm ci)")
    people = team_with_a_member(site, contexts, "axe")
    for tab in (people.member, people.owner):  # one topic everyone has done: full heat
        make_progress(tab, site, {"databases.postgresql": "done"})
    found: dict[str, list[str]] = {}
    contrasts: dict[str, dict[str, float]] = {}
    audited = [
        (people.owner, "/teams"),
        (people.owner, people.team_url),
        (people.member, people.team_url),
    ]
    for theme in ("light", "dark"):
        for tab, url in audited:
            tab.emulate_media(color_scheme=theme)  # type: ignore[arg-type]
            tab.goto(url if url.startswith("http") else site.url(url))
            if tab is people.owner and url == people.team_url:  # who is online, drawn
                expect(online_now(tab)).to_have_text(["Olga (you)"])
            violations = tab.evaluate(AXE_SERIOUS)
            if violations:
                found[f"{url} ({theme})"] = violations
            if tab is people.owner and url == people.team_url:
                contrasts[theme] = tab.evaluate(HEAT_CONTRASTS)
    assert found == {}
    assert {"heat-none", "heat-all"} <= set(contrasts["light"]), contrasts
    low = {
        f"{theme} {level}": round(ratio, 2)
        for theme, levels in contrasts.items()
        for level, ratio in levels.items()
        if ratio < 4.5
    }
    assert low == {}, contrasts
    assert console == [], console
