"""Teams on the pages, in-process and without script, on SQLite and PostgreSQL: a team made
by a form, an invite mailed and accepted from its landing page by a second account (in its
own cookie jar, its session renewed), the owner then sees that member's progress (table and
heat map); a member sees no manager's section and a forged post is refused 403; a stranger
gets 404; a form without its token is refused; a refused form says what is wrong."""

from __future__ import annotations

import re
from dataclasses import dataclass
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from tests.auth_helpers import settle_outbox, wait_for_mail
from tests.integration.teams_support import INVITE_MAIL, invite_token
from tests.integration.test_web_pages import assert_page
from tests.web_helpers import Client, csrf_of, in_another_browser, member, post_form
from waymark.infra.sql.database import Database
from waymark.transport.http.identity import SESSION_COOKIE

pytestmark = pytest.mark.usefixtures("backend_roadmap")
PG = "databases.postgresql"
REDIS = "databases.redis"
OWNER, ADA = "owner@example.org", "ada@example.org"


@dataclass
class Team:
    id: str
    url: str
    ada: CookieJar


async def make_team(web: Client, name: str = "Backend guild") -> str:
    created = await post_form(web, "/teams", "/teams", {"name": name})
    assert created.status_code == 303, created.text
    found = re.fullmatch(
        r"/teams/([0-9a-f-]{36})\?notice=team-created", created.headers["location"]
    )
    assert found, created.headers["location"]
    return found.group(1)


async def invite(web: Client, db: Database, mail_dir: Path, url: str, email: str) -> str:
    sent = await post_form(web, url, f"{url}/invites", {"email": email, "role": "member"})
    assert (sent.status_code, sent.headers["location"]) == (
        303,
        f"{url}?notice=invite-sent#invites",
    ), sent.text
    await settle_outbox(web, db)
    return invite_token(await wait_for_mail(mail_dir, email, INVITE_MAIL))


async def team_with_ada(web: Client, db: Database, mail_dir: Path) -> Team:
    """The owner (this browser) makes a team following the backend roadmap and invites Ada,
    who accepts in her own browser."""
    await member(web, mail_dir, OWNER)
    ada = CookieJar()
    with in_another_browser(web, ada):
        await member(web, mail_dir, ADA)
    team_id = await make_team(web)
    url = f"/teams/{team_id}"
    assigned = await post_form(web, url, f"{url}/roadmaps", {"roadmap": "backend"})
    assert assigned.headers["location"] == f"{url}?notice=roadmap-assigned#roadmaps"
    token = await invite(web, db, mail_dir, url, ADA)
    await join(web, ada, token, url)
    return Team(id=team_id, url=url, ada=ada)


async def join(web: Client, jar: CookieJar, token: str, url: str) -> None:
    """The invited account, signed in in its own browser (`jar`), accepts the invite from
    its landing page and lands on the team's page `url`, its session renewed."""
    with in_another_browser(web, jar):
        landing = assert_page(await web.get(f"/invites/{token}"))
        assert "Join Backend guild" in landing
        assert f'action="/invites/{token}/accept"' in landing
        before = web.cookies.get(SESSION_COOKIE)
        joined = await post_form(web, f"/invites/{token}", f"/invites/{token}/accept", {})
        assert (joined.status_code, joined.headers["location"]) == (
            303,
            f"{url}?notice=team-joined",
        )
        assert web.cookies.get(SESSION_COOKIE) not in (None, before)  # renewed


def heat_of(page: str, topic_id: str) -> tuple[str, str]:
    found = re.search(
        rf'<g class="heat-node \w+ heat-(\w+)" data-topic-id="{re.escape(topic_id)}" '
        r'data-done="(\d+)"',
        page,
    )
    assert found, f"no heat node {topic_id}"
    return found.group(1), found.group(2)


def member_row(page: str, email: str) -> str:
    start = page.index(f'<tr data-member="{email}">')
    return page[start : page.index("</tr>", start)]


async def test_an_invited_member_joins_and_the_owner_sees_their_progress(
    web: Client, db: Database, mail_dir: Path
) -> None:
    team = await team_with_ada(web, db, mail_dir)
    page = assert_page(await web.get(team.url))
    assert "ada@example.org" in page[page.index('id="members"') : page.index('id="invites"')]
    assert "No pending invites." in page
    row = member_row(page, ADA)
    assert "<td>0</td>" in row
    assert "Never" in row
    assert heat_of(page, PG) == ("none", "0")

    with in_another_browser(web, team.ada):
        marked = await post_form(
            web, "/roadmaps/backend", f"/roadmaps/backend/topics/{PG}/status", {"status": "done"}
        )
        assert marked.status_code == 303, marked.text
        await post_form(
            web,
            "/roadmaps/backend",
            f"/roadmaps/backend/topics/{REDIS}/status",
            {"status": "learning"},
        )

    page = assert_page(await web.get(team.url))
    row = member_row(page, ADA)
    assert re.search(r"<td>1</td>\s*<td>1</td>\s*<td>0</td>\s*<td>43</td>", row), row
    assert "Never" not in row
    assert heat_of(page, PG) == ("some", "1")  # one of the two members
    assert "1/2" in page
    assert "databases.postgresql" in page
    mine = assert_page(await web.get("/teams"))
    assert re.search(r"Backend guild</a></td>\s*<td><span class=\"role role-owner\">", mine)

    # Hidden topics leave the heat map and the counts.
    hidden = await post_form(
        web, team.url, f"{team.url}/roadmaps/backend/hidden-topics", {"topic_ids": PG}
    )
    assert hidden.headers["location"] == f"{team.url}?notice=topics-hidden#roadmaps"
    page = assert_page(await web.get(team.url))
    assert f'data-topic-id="{PG}"' not in page
    assert re.search(r"<td>0</td>\s*<td>1</td>\s*<td>0</td>\s*<td>43</td>", member_row(page, ADA))

    # Reminders answer how many were mailed.
    reminded = await post_form(
        web,
        team.url,
        f"{team.url}/reminders",
        {"roadmap": "backend", "below_percentage": "50", "inactive_days": ""},
    )
    assert reminded.status_code == 303, reminded.text
    assert "reminded=1" in reminded.headers["location"]
    assert "1 member was reminded." in assert_page(await web.get(reminded.headers["location"]))


async def test_a_member_sees_no_managers_section_and_a_forged_post_is_refused(
    web: Client, db: Database, mail_dir: Path
) -> None:
    team = await team_with_ada(web, db, mail_dir)
    with in_another_browser(web, team.ada):
        page = assert_page(await web.get(team.url))
        assert 'id="members"' in page
        assert f'action="{team.url}/leave"' in page
        for absent in ('id="invites"', 'id="progress"', 'id="settings"', 'id="delete"', "/role"):
            assert absent not in page, absent
        assert f'action="{team.url}/roadmaps"' not in page
        for action, fields in (
            (f"{team.url}/invites", {"email": "eve@example.org", "role": "member"}),
            (f"{team.url}/settings", {"name": "Mine now"}),
            (f"{team.url}/delete", {"confirm": "true"}),
            (f"{team.url}/roadmaps/backend/unassign", {}),
        ):
            refused = await post_form(web, team.url, action, fields)
            assert "Error 403" in assert_page(refused, 403), action
        # Leaving works, and the team is then gone for her.
        left = await post_form(web, team.url, f"{team.url}/leave", {})
        assert left.headers["location"] == "/teams?notice=team-left"
        assert_page(await web.get(team.url), 404)
    assert "Backend guild" in assert_page(await web.get(team.url))


async def test_a_stranger_gets_404_and_a_visitor_is_sent_to_sign_in(
    web: Client, db: Database, mail_dir: Path
) -> None:
    await member(web, mail_dir, OWNER)
    url = f"/teams/{await make_team(web)}"
    token = await invite(web, db, mail_dir, url, ADA)
    with in_another_browser(web, CookieJar()):
        asked = await web.get(url, follow_redirects=False)
        assert asked.headers["location"] == f"/login?next={url}"
        # The invite's landing page explains, and sign-in comes back to it.
        landing = assert_page(await web.get(f"/invites/{token}"))
        assert f'href="/login?next=/invites/{token}"' in landing
        assert f'href="/signup?next=/invites/{token}"' in landing
        assert "Backend guild" not in landing
        await member(web, mail_dir, "eve@example.org")
        assert_page(await web.get(url), 404)
        refused = await post_form(web, "/teams", f"{url}/invites", {"email": "x@example.org"})
        assert_page(refused, 404)
        # Another address's invite says so, without naming the team.
        dead = assert_page(await web.get(f"/invites/{token}"), 404)
        assert "This invite cannot be used" in dead
        assert "Backend guild" not in dead
        assert_page(await web.get("/invites/not-a-token-at-all-xx"), 404)
    with in_another_browser(web, CookieJar()):
        await member(web, mail_dir, ADA)
        await web.post("/logout", data={"csrf_token": csrf_of((await web.get("/")).text)})
        signed_in = await post_form(
            web,
            f"/login?next=/invites/{token}",
            "/login",
            {"email": ADA, "password": "correct horse battery staple", "next": f"/invites/{token}"},
        )
        assert signed_in.headers["location"] == f"/invites/{token}", signed_in.text
        declined = await post_form(web, f"/invites/{token}", f"/invites/{token}/decline", {})
        assert declined.headers["location"] == "/teams?notice=invite-declined"
        assert "This invite cannot be used" in assert_page(await web.get(f"/invites/{token}"), 404)


async def test_forms_without_their_token_or_with_bad_fields_are_refused(
    web: Client, db: Database, mail_dir: Path
) -> None:
    await member(web, mail_dir, OWNER)
    url = f"/teams/{await make_team(web)}"
    for data in ({}, {"csrf_token": "forged-by-another-site"}):
        assert_page(await web.post(f"{url}/settings", data={"name": "X", **data}), 403)
        assert_page(await web.post("/teams", data={"name": "Y", **data}), 403)
    bad = await post_form(web, url, f"{url}/invites", {"email": "not an address", "role": "member"})
    page = assert_page(bad, 422)
    assert 'id="invite-email-error"' in page
    assert 'aria-invalid="true"' in page
    assert 'value="not an address"' in page
    blank = assert_page(await post_form(web, "/teams", "/teams", {"name": "  "}), 422)
    assert 'id="name-error"' in blank
    unconfirmed = assert_page(await post_form(web, url, f"{url}/delete", {}), 422)
    assert 'id="confirm-error"' in unconfirmed
    last = assert_page(await post_form(web, url, f"{url}/leave", {}), 409)
    assert "The last owner cannot leave" in last
    twice = await post_form(web, url, f"{url}/invites", {"email": ADA})
    assert twice.status_code == 303
    again = assert_page(await post_form(web, url, f"{url}/invites", {"email": ADA}), 409)
    assert "pending invite" in again
    assert 'id="invite-email-error"' in again
    deleted = await post_form(web, url, f"{url}/delete", {"confirm": "true"})
    assert deleted.headers["location"] == "/teams?notice=team-deleted"
    assert_page(await web.get(url), 404)
