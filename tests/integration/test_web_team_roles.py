"""The team page's hand-over and role forms, in-process and without script, on SQLite and
PostgreSQL: plain posts answered by a redirect to the page, which then shows the change
(who owns the team, each member's role, which forms each person now sees); a role that may
not do it sees no form and its forged post is refused 403; a bad value is refused 422 by the
field it concerns; and nothing changes in the database when a post is refused."""

from __future__ import annotations

import re
import uuid
from http.cookiejar import CookieJar
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.integration.test_web_pages import assert_page
from tests.integration.test_web_teams import ADA, OWNER, invite, join, team_with_ada
from tests.web_helpers import Client, in_another_browser, member, post_form
from waymark.features.accounts.tables import users
from waymark.features.teams.tables import team_members
from waymark.infra.sql.database import Database
from waymark.transport.http.identity import SESSION_COOKIE

pytestmark = pytest.mark.usefixtures("backend_roadmap")
BOB = "bob@example.org"
Offered = list[tuple[str, bool]]


async def members_of(db: Database, team_id: str) -> dict[str, tuple[str, str]]:
    """The team's members as the database has them: address -> (account id, role)."""
    query = (
        select(users.c.email, team_members.c.user_id, team_members.c.role)
        .join(users, users.c.id == team_members.c.user_id)
        .where(team_members.c.team_id == uuid.UUID(team_id))
    )
    async with db.read() as conn:
        return {row.email: (str(row.user_id), row.role) for row in await conn.execute(query)}


async def roles_of(db: Database, team_id: str) -> dict[str, str]:
    return {email: role for email, (_, role) in (await members_of(db, team_id)).items()}


def you_are(page: str) -> str:
    found = re.search(r'You are <span class="role role-(\w+)">', page)
    assert found, "no role of the caller on the page"
    return found.group(1)


def row_of(page: str, email: str) -> str:
    """The member's row of the members' table."""
    table = page[page.index('id="members"') : page.index("</table>", page.index('id="members"'))]
    rows = [row for row in re.split(r"<tr[\s>]", table) if f"<td>{email}</td>" in row]
    assert len(rows) == 1, f"{len(rows)} rows for {email}"
    return rows[0]


def offered(row: str) -> Offered | None:
    """The roles a member's role select offers (and which is selected); None: no select."""
    found = re.search(r'<select id="role-[0-9a-f-]{36}" name="role"[^>]*>(.*?)</select>', row, re.S)
    if found is None:
        return None
    options = re.findall(r'<option value="(\w+)"( selected)?>', found.group(1))
    return [(value, bool(selected)) for value, selected in options]


def form_of(page: str, action: str) -> str | None:
    """A plain form posting to `action` (no script needed: a method, an action, a submit
    button), or None if the page has none."""
    found = re.search(
        rf'<form method="post" action="{re.escape(action)}"[^>]*>(.*?)</form>', page, re.S
    )
    if found is None:
        return None
    assert '<button type="submit"' in found.group(1)
    return found.group(1)


def choices(form: str) -> list[str]:
    return re.findall(r'<option value="([^"]*)"', form)


def assert_field_error(page: str, field_id: str) -> None:
    """The field `field_id` is marked, its message tied to it."""
    assert f'<p class="field-error" id="{field_id}-error">' in page, field_id
    assert re.search(
        rf'id="{field_id}"[^>]*aria-invalid="true"[^>]*aria-describedby="{field_id}-error"', page
    ) or re.search(
        rf'id="{field_id}"[^>]*aria-describedby="{field_id}-error"[^>]*aria-invalid="true"', page
    ), field_id


async def test_the_owner_hands_the_team_over_by_its_form(
    web: Client, db: Database, mail_dir: Path
) -> None:
    team = await team_with_ada(web, db, mail_dir)
    ids = {email: account for email, (account, _) in (await members_of(db, team.id)).items()}
    transfer = f"{team.url}/transfer"

    # A member sees no hand-over form, and her forged one is refused.
    with in_another_browser(web, team.ada):
        assert form_of(assert_page(await web.get(team.url)), transfer) is None
        forged = await post_form(web, team.url, transfer, {"account_id": ids[ADA]})
        assert "Error 403" in assert_page(forged, 403)
    assert await roles_of(db, team.id) == {OWNER: "owner", ADA: "member"}

    # The owner's form offers the other members, not the owner.
    form = form_of(assert_page(await web.get(team.url)), transfer)
    assert form is not None
    assert choices(form) == [ids[ADA]]
    # A choice that is not another member is refused by the field, nothing changed.
    for bad in (ids[OWNER], str(uuid.uuid4()), "not-an-id"):
        refused = assert_page(await post_form(web, team.url, transfer, {"account_id": bad}), 422)
        assert "Please correct the fields marked below." in refused
        assert_field_error(refused, "transfer-to")
    assert await roles_of(db, team.id) == {OWNER: "owner", ADA: "member"}

    before = web.cookies.get(SESSION_COOKIE)
    handed = await post_form(web, team.url, transfer, {"account_id": ids[ADA]})
    assert (handed.status_code, handed.headers["location"]) == (
        303,
        f"{team.url}?notice=team-transferred#members",
    )
    assert web.cookies.get(SESSION_COOKIE) not in (None, before)  # renewed: a role changed
    assert await roles_of(db, team.id) == {OWNER: "admin", ADA: "owner"}

    # The former owner is an admin: no hand-over or deletion, the settings still; the new
    # owner's row is out of reach.
    page = assert_page(await web.get(handed.headers["location"]))
    assert "The team has a new owner; you are one of its admins." in page
    assert you_are(page) == "admin"
    assert form_of(page, transfer) is None
    assert form_of(page, f"{team.url}/delete") is None
    assert form_of(page, f"{team.url}/settings") is not None
    ada_row = row_of(page, ADA)
    assert offered(ada_row) is None
    assert '<span class="role role-owner">Owner</span>' in ada_row
    assert "/remove" not in ada_row
    assert offered(row_of(page, OWNER)) is None  # nobody changes their own role

    # The new owner sees what an owner sees, the former one an admin among the members.
    with in_another_browser(web, team.ada):
        page = assert_page(await web.get(team.url))
        assert you_are(page) == "owner"
        form = form_of(page, transfer)
        assert form is not None
        assert choices(form) == [ids[OWNER]]
        assert form_of(page, f"{team.url}/delete") is not None
        owner_row = row_of(page, OWNER)
        assert offered(owner_row) == [("member", False), ("manager", False), ("admin", True)]
        assert form_of(owner_row, f"{team.url}/members/{ids[OWNER]}/remove") is not None

    # Handing it back is no longer the former owner's to do.
    forged = await post_form(web, team.url, transfer, {"account_id": ids[OWNER]})
    assert "Error 403" in assert_page(forged, 403)
    assert await roles_of(db, team.id) == {OWNER: "admin", ADA: "owner"}


async def test_the_role_select_offers_what_the_acting_member_may_give(
    web: Client, db: Database, mail_dir: Path
) -> None:
    team = await team_with_ada(web, db, mail_dir)
    bob = CookieJar()
    with in_another_browser(web, bob):
        await member(web, mail_dir, BOB)
    await join(web, bob, await invite(web, db, mail_dir, team.url, BOB), team.url)
    ids = {email: account for email, (account, _) in (await members_of(db, team.id)).items()}

    def role_form(email: str) -> str:
        return f"{team.url}/members/{ids[email]}/role"

    # The owner may give any role but owner (that moves by the hand-over), to anyone else.
    page = assert_page(await web.get(team.url))
    for email in (ADA, BOB):
        assert offered(row_of(page, email)) == [
            ("member", True),
            ("manager", False),
            ("admin", False),
        ]
        assert form_of(page, role_form(email)) is not None
    assert offered(row_of(page, OWNER)) is None
    changed = await post_form(web, team.url, role_form(ADA), {"role": "admin"})
    assert (changed.status_code, changed.headers["location"]) == (
        303,
        f"{team.url}?notice=role-changed#members",
    )
    page = assert_page(await web.get(changed.headers["location"]))
    assert "The member&#39;s role is changed." in page
    assert offered(row_of(page, ADA)) == [("member", False), ("manager", False), ("admin", True)]

    # A value the select does not offer is refused by the field, and nothing changes.
    for bad in ("owner", "overlord", ""):
        refused = assert_page(await post_form(web, team.url, role_form(ADA), {"role": bad}), 422)
        assert_field_error(refused, f"role-{ids[ADA]}")
        assert "Choose one of the options offered." in row_of(refused, ADA)
        assert offered(row_of(refused, ADA)) == [
            ("member", False),
            ("manager", False),
            ("admin", True),
        ]
    assert await roles_of(db, team.id) == {OWNER: "owner", ADA: "admin", BOB: "member"}

    # An admin gives roles below hers, to members below her; never hands the team over.
    with in_another_browser(web, team.ada):
        page = assert_page(await web.get(team.url))
        assert offered(row_of(page, BOB)) == [("member", True), ("manager", False)]
        assert offered(row_of(page, OWNER)) is None
        assert offered(row_of(page, ADA)) is None
        assert form_of(page, f"{team.url}/transfer") is None
        for action, fields in (
            (role_form(BOB), {"role": "admin"}),
            (role_form(OWNER), {"role": "member"}),
            (role_form(ADA), {"role": "manager"}),
            (f"{team.url}/transfer", {"account_id": ids[ADA]}),
        ):
            refused = await post_form(web, team.url, action, fields)
            assert "Error 403" in assert_page(refused, 403), action
        assert await roles_of(db, team.id) == {OWNER: "owner", ADA: "admin", BOB: "member"}
        changed = await post_form(web, team.url, role_form(BOB), {"role": "manager"})
        assert changed.headers["location"] == f"{team.url}?notice=role-changed#members"
        page = assert_page(await web.get(changed.headers["location"]))
        assert offered(row_of(page, BOB)) == [("member", False), ("manager", True)]

    # A manager changes nobody's role: no select, and a forged post is refused.
    with in_another_browser(web, bob):
        page = assert_page(await web.get(team.url))
        assert you_are(page) == "manager"
        assert 'name="role"' not in page
        assert all(offered(row_of(page, email)) is None for email in (OWNER, ADA, BOB))
        refused = await post_form(web, team.url, role_form(ADA), {"role": "member"})
        assert "Error 403" in assert_page(refused, 403)
    assert await roles_of(db, team.id) == {OWNER: "owner", ADA: "admin", BOB: "manager"}
