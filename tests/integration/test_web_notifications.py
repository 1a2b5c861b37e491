"""The notification centre on the pages, in-process and without script, on SQLite and
PostgreSQL: an invite to an existing account shows in its bell and on `/notifications`,
linking to its invites (`/invites`), where it joins the team without the mailed token; the
forms mark one read, mark all read up to the newest shown (a later one stays unread) and
delete one, each coming back with a 303; another account's notification is a 404; a
stranger is sent to sign in."""

from __future__ import annotations

import re
import uuid
from http.cookiejar import CookieJar
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.auth_helpers import settle_outbox
from tests.integration.notifications_support import centre_on, give
from tests.integration.test_web_pages import assert_page
from tests.integration.test_web_teams import ADA, OWNER, make_team
from tests.web_helpers import Client, csrf_of, in_another_browser, member, post_form
from waymark.features.accounts.tables import users
from waymark.infra.sql.database import Database
from waymark.transport.http.identity import SESSION_COOKIE

pytestmark = pytest.mark.usefixtures("backend_roadmap")


def bell(page: str) -> str:
    found = re.search(r'<a class="bell" href="/notifications">(.*?)</a>', page)
    assert found, "no bell in the navigation"
    return re.sub(r"<[^>]+>", "", found.group(1))


async def account_id(db: Database, email: str) -> uuid.UUID:
    async with db.read() as conn:
        found = await conn.scalar(select(users.c.id).where(users.c.email == email))
    assert isinstance(found, uuid.UUID)
    return found


async def test_an_invite_shows_in_the_bell_and_is_accepted_from_my_invites_without_a_token(
    web: Client, db: Database, mail_dir: Path
) -> None:
    await member(web, mail_dir, OWNER)
    ada = CookieJar()
    with in_another_browser(web, ada):
        await member(web, mail_dir, ADA)
        assert bell(assert_page(await web.get("/"))) == "Notifications"
    team_id = await make_team(web)
    url = f"/teams/{team_id}"
    sent = await post_form(web, url, f"{url}/invites", {"email": ADA, "role": "manager"})
    assert sent.status_code == 303, sent.text
    await settle_outbox(web, db)

    with in_another_browser(web, ada):
        home = assert_page(await web.get("/"))
        assert bell(home) == "Notifications 1 unread"
        listing = assert_page(await web.get("/notifications"))
        assert "invited you to join Backend guild as manager" in listing
        assert '<a href="/invites">' in listing
        assert "/invites/" not in listing.replace("/invites/mine", "")  # no token anywhere

        mine = assert_page(await web.get("/invites"))
        assert "Join Backend guild" in mine
        found = re.search(r'action="/invites/mine/([0-9a-f-]{36})/accept"', mine)
        assert found
        before = web.cookies.get(SESSION_COOKIE)
        joined = await post_form(web, "/invites", f"/invites/mine/{found.group(1)}/accept", {})
        assert (joined.status_code, joined.headers["location"]) == (
            303,
            f"{url}?notice=team-joined",
        )
        assert web.cookies.get(SESSION_COOKIE) not in (None, before)  # renewed, as by token
        assert "No invite waits for your address" in assert_page(await web.get("/invites"))
        again = await post_form(web, "/invites", f"/invites/mine/{found.group(1)}/accept", {})
        assert again.status_code == 404
        assert "No such invite for you" in again.text


async def test_the_forms_mark_read_mark_all_read_up_to_the_newest_shown_and_delete(
    web: Client, db: Database, mail_dir: Path
) -> None:
    await member(web, mail_dir, ADA)
    ada = await account_id(db, ADA)
    centre = centre_on(db)
    await give(centre, ada, 3)
    page = assert_page(await web.get("/notifications"))
    assert bell(page) == "Notifications 3 unread"
    ids = re.findall(r'<li id="n-([0-9a-f-]{36})"', page)
    assert len(ids) == 3
    assert page.index("k reminder 2") < page.index("k reminder 0")  # newest first

    read = await post_form(web, "/notifications", f"/notifications/{ids[2]}/read", {})
    assert (read.status_code, read.headers["location"]) == (303, f"/notifications#n-{ids[2]}")
    page = assert_page(await web.get("/notifications"))
    assert bell(page) == "Notifications 2 unread"
    assert f'action="/notifications/{ids[2]}/read"' not in page
    shown_token = csrf_of(page)
    up_to = re.search(r'name="up_to" value="([0-9a-f-]{36})"', page)
    assert up_to
    assert up_to.group(1) == ids[0]

    await give(centre, ada, 1, prefix="later")  # arrives while the page is open
    marked = await web.post(
        "/notifications/read",
        data={"csrf_token": shown_token, "up_to": up_to.group(1)},
        follow_redirects=False,
    )
    assert (marked.status_code, marked.headers["location"]) == (303, "/notifications")
    page = assert_page(await web.get("/notifications"))
    assert bell(page) == "Notifications 1 unread"
    assert "later reminder 0" in page

    gone = await post_form(web, "/notifications", f"/notifications/{ids[1]}/delete", {})
    assert gone.status_code == 303
    assert f'id="n-{ids[1]}"' not in assert_page(await web.get("/notifications"))
    forged = await web.post(
        f"/notifications/{ids[0]}/read", data={"up_to": ids[0]}, follow_redirects=False
    )
    assert forged.status_code == 403  # no CSRF token

    bob = CookieJar()
    with in_another_browser(web, bob):
        await member(web, mail_dir, "bob@example.org")
        assert bell(assert_page(await web.get("/"))) == "Notifications"
        theirs = await post_form(web, "/notifications", f"/notifications/{ids[0]}/read", {})
        assert theirs.status_code == 404
        assert f'id="n-{ids[0]}"' not in assert_page(await web.get("/notifications"))
    assert bell(assert_page(await web.get("/"))) == "Notifications 1 unread"  # untouched

    web.cookies.clear()
    stranger = await web.get("/notifications", follow_redirects=False)
    assert stranger.status_code in (302, 303)
    assert stranger.headers["location"].startswith("/login")
