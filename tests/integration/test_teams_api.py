"""Teams through the API, on SQLite and PostgreSQL: the team's life, mass assignment, invite
tokens (single use, bound to their address, expiring, revoked, resent), roles changed or
taken away mid-session, the last owner, session renewal, caps, and a deleted owner's teams."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.auth_helpers import (
    PASSWORD,
    Client,
    bearer,
    login_tokens,
    settle_outbox,
    wait_for_mail,
)
from tests.integration.teams_support import (
    INVITE_MAIL,
    TEAMS,
    Person,
    create_team,
    invite_token,
    person,
    rows,
    seed_team,
)
from waymark.features.teams import invites as invites_module
from waymark.features.teams.tables import (
    team_hidden_topics,
    team_invites,
    team_members,
    team_roadmaps,
    teams,
)
from waymark.infra.sql.database import Database
from waymark.kernel.identity import hash_token
from waymark.kernel.throttle import Rule

pytestmark = pytest.mark.usefixtures("backend_roadmap")


@pytest.fixture
async def owner(client: Client, mail_dir: Path) -> Person:
    return await person(client, mail_dir, "owner@example.org")


@pytest.fixture
async def ada(client: Client, mail_dir: Path) -> Person:
    return await person(client, mail_dir, "ada@example.org")


async def invite(
    client: Client, mail_dir: Path, by: Person, team: str, to: str, role: str = "member", n: int = 1
) -> str:
    """Invite `to` and return the token of the `n`-th invite mail it got."""
    sent = await client.post(
        f"{TEAMS}/{team}/invites", json={"email": to, "role": role}, headers=by.auth
    )
    assert sent.status_code == 201, sent.text
    return invite_token(await wait_for_mail(mail_dir, to, INVITE_MAIL, count=n))


async def accept(client: Client, token: str, who: Person) -> Any:
    return await client.post(f"/api/v1/invites/{token}/accept", json={}, headers=who.auth)


async def join(
    client: Client, mail_dir: Path, by: Person, team: str, who: Person, role: str = "member"
) -> None:
    token = await invite(client, mail_dir, by, team, who.email, role)
    joined = await accept(client, token, who)
    assert joined.status_code == 200, joined.text


async def test_a_team_lives_and_its_deletion_takes_everything_with_it(
    client: Client, mail_dir: Path, db: Database, owner: Person, ada: Person
) -> None:
    created = await client.post(
        TEAMS, json={"name": "Platform", "members_see_progress": True}, headers=owner.auth
    )
    assert created.status_code == 201, created.text
    team = created.json()
    assert (team["role"], team["member_count"], team["members_see_progress"]) == ("owner", 1, True)
    assert uuid.UUID(team["id"]).version == 4
    tid = team["id"]

    listed = (await client.get(TEAMS, headers=owner.auth)).json()
    assert [(t["id"], t["role"]) for t in listed] == [(tid, "owner")]
    renamed = await client.patch(
        f"{TEAMS}/{tid}", json={"name": "Platform team"}, headers=owner.auth
    )
    assert renamed.json()["name"] == "Platform team"
    assert renamed.json()["members_see_progress"] is True

    assert (
        await client.put(f"{TEAMS}/{tid}/roadmaps/backend", headers=owner.auth)
    ).status_code == 200
    hidden = await client.put(
        f"{TEAMS}/{tid}/roadmaps/backend/hidden-topics",
        json={"topic_ids": ["databases.redis"]},
        headers=owner.auth,
    )
    assert hidden.json()["hidden_topics"] == ["databases.redis"]
    await join(client, mail_dir, owner, tid, ada)
    await invite(client, mail_dir, owner, tid, "later@example.org")
    detail = (await client.get(f"{TEAMS}/{tid}", headers=ada.auth)).json()
    assert detail["member_count"] == 2
    assert detail["roadmaps"][0]["slug"] == "backend"
    assert detail["roadmaps"][0]["title"]

    assert (await client.delete(f"{TEAMS}/{tid}", headers=ada.auth)).status_code == 403
    assert (await client.delete(f"{TEAMS}/{tid}", headers=owner.auth)).status_code == 204
    assert (await client.get(f"{TEAMS}/{tid}", headers=owner.auth)).status_code == 404
    team_id = uuid.UUID(tid)
    assert await rows(db, teams, id=team_id) == []
    for table in (team_members, team_invites, team_roadmaps, team_hidden_topics):
        assert await rows(db, table, team_id=team_id) == [], table.name


async def test_privileged_and_unknown_fields_are_refused(
    client: Client, mail_dir: Path, owner: Person, ada: Person
) -> None:
    tid = await create_team(client, owner)

    async def refused(method: str, path: str, body: dict[str, Any], who: Person = owner) -> None:
        response = await client.request(method, path, json=body, headers=who.auth)
        assert response.status_code == 422, (path, body, response.text)
        assert response.json()["code"] == "validation-failed"

    await refused("POST", TEAMS, {"name": "Mine", "owner_id": str(ada.id)})
    await refused("PATCH", f"{TEAMS}/{tid}", {"owner_id": str(ada.id)})
    await refused("PATCH", f"{TEAMS}/{tid}", {"name": "X", "role": "owner"})
    await refused("POST", f"{TEAMS}/{tid}/invites", {"email": ada.email, "role": "owner"})
    await refused("POST", f"{TEAMS}/{tid}/invites", {"email": ada.email, "team_id": tid})
    await refused("POST", f"{TEAMS}/{tid}/transfer", {"account_id": str(ada.id), "role": "x"})
    token = await invite(client, mail_dir, owner, tid, ada.email)
    await refused("POST", f"/api/v1/invites/{token}/accept", {"role": "owner"}, ada)
    joined = await accept(client, token, ada)
    assert joined.json()["role"] == "member"
    await refused("PATCH", f"{TEAMS}/{tid}/members/{ada.id}", {"role": "owner"})
    await refused("PATCH", f"{TEAMS}/{tid}/members/{ada.id}", {"role": "admin", "id": "x"})
    members = (await client.get(f"{TEAMS}/{tid}/members", headers=owner.auth)).json()
    assert {m["email"]: m["role"] for m in members} == {
        owner.email: "owner",
        ada.email: "member",
    }


async def test_an_invite_is_mailed_through_the_outbox_and_its_link_works(
    client: Client, mail_dir: Path, db: Database, owner: Person, ada: Person
) -> None:
    await client.patch("/api/v1/me", json={"display_name": "Olga"}, headers=owner.auth)
    tid = await create_team(client, owner, "Backend guild")
    sent = await client.post(
        f"{TEAMS}/{tid}/invites",
        json={"email": "ADA@Example.org", "role": "manager"},
        headers=owner.auth,
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["email"] == ada.email  # canonical
    await settle_outbox(client, db)
    mail = await wait_for_mail(mail_dir, ada.email, INVITE_MAIL)
    token = invite_token(mail)
    public_url = client.app.state.container.settings.public_url.rstrip("/")
    assert f"{public_url}/invites/{token}" in mail.get_body(("plain",)).get_content()
    (stored,) = await rows(db, team_invites, email=ada.email)
    assert stored["token_hash"] == hash_token(token)
    assert token not in str(stored)

    preview = await client.get(f"/api/v1/invites/{token}", headers=ada.auth)
    assert preview.status_code == 200, preview.text
    assert preview.json() | {"expires_at": None} == {
        "team_id": tid,
        "team_name": "Backend guild",
        "role": "manager",
        "email": ada.email,
        "invited_by": "Olga",
        "expires_at": None,
    }
    joined = await accept(client, token, ada)
    assert joined.status_code == 200, joined.text
    assert (joined.json()["role"], joined.json()["member_count"]) == ("manager", 2)
    assert (await client.get(f"{TEAMS}/{tid}/invites", headers=ada.auth)).json() == []


async def test_an_invite_works_once_and_only_for_its_address(
    client: Client, mail_dir: Path, owner: Person, ada: Person
) -> None:
    tid = await create_team(client, owner)
    bob = await person(client, mail_dir, "bob@example.org")
    token = await invite(client, mail_dir, owner, tid, ada.email)
    for method, path in (
        ("GET", f"/api/v1/invites/{token}"),
        ("POST", f"/api/v1/invites/{token}/accept"),
        ("POST", f"/api/v1/invites/{token}/decline"),
    ):
        body = {} if path.endswith("accept") else None
        for who in (bob, owner):
            wrong = await client.request(method, path, json=body, headers=who.auth)
            assert wrong.status_code == 404, (path, wrong.text)
            assert wrong.json()["code"] == "invalid-invite"
    unknown = await accept(client, "A" * 43, ada)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "invalid-invite")

    assert (await accept(client, token, ada)).status_code == 200
    again = await accept(client, token, ada)
    assert (again.status_code, again.json()["code"]) == (404, "invalid-invite")
    # Replayed after leaving: the token is spent, leaving does not revive it.
    assert (await client.post(f"{TEAMS}/{tid}/leave", headers=ada.auth)).status_code == 204
    assert (await accept(client, token, ada)).status_code == 404
    assert (await client.get(f"{TEAMS}/{tid}", headers=ada.auth)).status_code == 404


async def test_revoked_resent_declined_and_expired_invites_are_dead(
    client: Client, mail_dir: Path, owner: Person, ada: Person
) -> None:
    tid = await create_team(client, owner)
    revoked = await invite(client, mail_dir, owner, tid, ada.email)
    (pending,) = (await client.get(f"{TEAMS}/{tid}/invites", headers=owner.auth)).json()
    twice = await client.post(
        f"{TEAMS}/{tid}/invites", json={"email": ada.email}, headers=owner.auth
    )
    assert (twice.status_code, twice.json()["code"]) == (409, "already-invited")
    gone = await client.delete(f"{TEAMS}/{tid}/invites/{pending['id']}", headers=owner.auth)
    assert gone.status_code == 204
    assert (await accept(client, revoked, ada)).status_code == 404

    first = await invite(client, mail_dir, owner, tid, ada.email, n=2)
    (pending,) = (await client.get(f"{TEAMS}/{tid}/invites", headers=owner.auth)).json()
    resent = await client.post(f"{TEAMS}/{tid}/invites/{pending['id']}/resend", headers=owner.auth)
    assert resent.status_code == 200, resent.text
    second = invite_token(await wait_for_mail(mail_dir, ada.email, INVITE_MAIL, count=3))
    assert second != first
    assert (await accept(client, first, ada)).status_code == 404
    declined = await client.post(f"/api/v1/invites/{second}/decline", headers=ada.auth)
    assert declined.status_code == 204
    assert (await accept(client, second, ada)).status_code == 404
    assert (await client.get(f"{TEAMS}/{tid}/invites", headers=owner.auth)).json() == []

    expiring = await invite(client, mail_dir, owner, tid, ada.email, n=4)
    clock = client.app.state.container.clock
    clock.offset += 7 * 86400 + 60  # a week and a minute on: access tokens expired too
    ada_now = bearer(await login_tokens(client, ada.email))
    owner_now = bearer(await login_tokens(client, owner.email))
    late = await client.post(f"/api/v1/invites/{expiring}/accept", json={}, headers=ada_now)
    assert (late.status_code, late.json()["code"]) == (404, "invalid-invite")
    (stale,) = (await client.get(f"{TEAMS}/{tid}/invites", headers=owner_now)).json()
    assert stale["expired"] is True
    # An expired invite does not block a new one.
    again = await client.post(
        f"{TEAMS}/{tid}/invites", json={"email": ada.email}, headers=owner_now
    )
    assert again.status_code == 201, again.text


async def test_a_demoted_or_removed_member_is_refused_on_the_next_request(
    client: Client, mail_dir: Path, owner: Person, ada: Person
) -> None:
    tid = await create_team(client, owner)
    await join(client, mail_dir, owner, tid, ada, role="admin")
    rename = {"name": "Renamed by Ada"}
    assert (await client.patch(f"{TEAMS}/{tid}", json=rename, headers=ada.auth)).status_code == 200
    demoted = await client.patch(
        f"{TEAMS}/{tid}/members/{ada.id}", json={"role": "member"}, headers=owner.auth
    )
    assert demoted.json()["role"] == "member"
    refused = await client.patch(f"{TEAMS}/{tid}", json=rename, headers=ada.auth)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    removed = await client.delete(f"{TEAMS}/{tid}/members/{ada.id}", headers=owner.auth)
    assert removed.status_code == 204
    assert (await client.get(f"{TEAMS}/{tid}", headers=ada.auth)).status_code == 404
    assert (await client.get(f"{TEAMS}/{tid}/members", headers=ada.auth)).status_code == 404
    assert (await client.get(TEAMS, headers=ada.auth)).json() == []


async def test_roles_are_given_and_taken_only_below_ones_own(
    client: Client, mail_dir: Path, db: Database, owner: Person, ada: Person
) -> None:
    bob = await person(client, mail_dir, "bob@example.org")
    cy = await person(client, mail_dir, "cy@example.org")
    team = uuid.uuid4()
    await seed_team(
        db, team, {owner.id: "owner", ada.id: "admin", bob.id: "admin", cy.id: "member"}
    )
    base = f"{TEAMS}/{team}"
    for path, body in (
        (f"{base}/members/{bob.id}", {"role": "member"}),  # an equal
        (f"{base}/members/{cy.id}", {"role": "admin"}),  # to an equal role
        (f"{base}/members/{ada.id}", {"role": "manager"}),  # oneself
    ):
        refused = await client.patch(path, json=body, headers=ada.auth)
        assert refused.status_code == 403, (path, refused.text)
    assert (await client.delete(f"{base}/members/{owner.id}", headers=ada.auth)).status_code == 403
    admin_invite = {"email": "x@example.org", "role": "admin"}
    assert (
        await client.post(f"{base}/invites", json=admin_invite, headers=ada.auth)
    ).status_code == 403
    promoted = await client.patch(
        f"{base}/members/{cy.id}", json={"role": "manager"}, headers=ada.auth
    )
    assert promoted.json()["role"] == "manager"
    unknown = await client.patch(
        f"{base}/members/{uuid.uuid4()}", json={"role": "member"}, headers=ada.auth
    )
    assert unknown.status_code == 404
    assert (
        await client.post(f"{base}/invites", json=admin_invite, headers=owner.auth)
    ).status_code == 201


async def test_the_last_owner_cannot_leave_until_the_team_is_handed_over(
    client: Client, mail_dir: Path, owner: Person, ada: Person
) -> None:
    tid = await create_team(client, owner)
    await join(client, mail_dir, owner, tid, ada)
    stuck = await client.post(f"{TEAMS}/{tid}/leave", headers=owner.auth)
    assert (stuck.status_code, stuck.json()["code"]) == (409, "last-owner")
    stranger = await client.post(
        f"{TEAMS}/{tid}/transfer", json={"account_id": str(uuid.uuid4())}, headers=owner.auth
    )
    assert stranger.status_code == 422
    moved = await client.post(
        f"{TEAMS}/{tid}/transfer", json={"account_id": str(ada.id)}, headers=owner.auth
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["role"] == "admin"
    assert (await client.post(f"{TEAMS}/{tid}/leave", headers=owner.auth)).status_code == 204
    (mine,) = (await client.get(TEAMS, headers=ada.auth)).json()
    assert (mine["role"], mine["member_count"]) == ("owner", 1)
    assert (await client.delete(f"{TEAMS}/{tid}", headers=ada.auth)).status_code == 204


async def test_joining_or_handing_over_renews_the_browser_session(
    client: Client, mail_dir: Path, owner: Person, ada: Person
) -> None:
    tid = await create_team(client, owner)
    token = await invite(client, mail_dir, owner, tid, ada.email)
    login = await client.post(
        "/api/v1/auth/login", json={"email": ada.email, "password": PASSWORD, "mode": "session"}
    )
    old_cookie = {"cookie": login.headers["set-cookie"].split(";", 1)[0]}
    csrf = login.json()["csrf_token"]
    client.cookies.clear()
    path = f"/api/v1/invites/{token}/accept"
    no_csrf = await client.post(path, json={}, headers=old_cookie)
    assert (no_csrf.status_code, no_csrf.json()["code"]) == (403, "csrf-failed")
    joined = await client.post(path, json={}, headers=old_cookie | {"x-csrf-token": csrf})
    assert joined.status_code == 200, joined.text
    new_cookie = {"cookie": joined.headers["set-cookie"].split(";", 1)[0]}
    assert new_cookie != old_cookie
    assert joined.headers["x-csrf-token"] not in ("", csrf)
    client.cookies.clear()
    assert (await client.get("/api/v1/me", headers=old_cookie)).status_code == 401
    assert (await client.get(f"{TEAMS}/{tid}", headers=new_cookie)).status_code == 200

    # The owner hands the team over from a browser: a new session too.
    login = await client.post(
        "/api/v1/auth/login", json={"email": owner.email, "password": PASSWORD, "mode": "session"}
    )
    cookie = {"cookie": login.headers["set-cookie"].split(";", 1)[0]}
    client.cookies.clear()
    moved = await client.post(
        f"{TEAMS}/{tid}/transfer",
        json={"account_id": str(ada.id)},
        headers=cookie | {"x-csrf-token": login.json()["csrf_token"]},
    )
    assert moved.status_code == 200, moved.text
    assert "set-cookie" in moved.headers
    assert moved.headers["x-csrf-token"] != login.json()["csrf_token"]
    client.cookies.clear()
    assert (await client.get("/api/v1/me", headers=cookie)).status_code == 401


async def test_caps_on_members_and_pending_invites_and_the_invite_rate_limit(
    client: Client, mail_dir: Path, owner: Person, ada: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    tid = await create_team(client, owner)
    monkeypatch.setattr(invites_module, "MAX_PENDING_INVITES", 2)
    for n in (1, 2):
        await invite(client, mail_dir, owner, tid, f"p{n}@example.org")
    full = await client.post(
        f"{TEAMS}/{tid}/invites", json={"email": "p3@example.org"}, headers=owner.auth
    )
    assert (full.status_code, full.json()["code"]) == (409, "too-many-invites")

    monkeypatch.setattr(invites_module, "MAX_PENDING_INVITES", 100)
    token = await invite(client, mail_dir, owner, tid, ada.email)
    monkeypatch.setattr(invites_module, "MAX_MEMBERS", 1)
    crowded = await accept(client, token, ada)
    assert (crowded.status_code, crowded.json()["code"]) == (409, "team-full")
    refused = await client.post(
        f"{TEAMS}/{tid}/invites", json={"email": "p4@example.org"}, headers=owner.auth
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "team-full")
    monkeypatch.setattr(invites_module, "MAX_MEMBERS", 500)
    assert (await accept(client, token, ada)).status_code == 200
    member = await client.post(
        f"{TEAMS}/{tid}/invites", json={"email": ada.email}, headers=owner.auth
    )
    assert (member.status_code, member.json()["code"]) == (409, "already-a-member")

    monkeypatch.setattr(invites_module, "INVITE_ACCOUNT", Rule("team-invite-test", 1, 3600))
    await invite(client, mail_dir, owner, tid, "p5@example.org")
    limited = await client.post(
        f"{TEAMS}/{tid}/invites", json={"email": "p6@example.org"}, headers=owner.auth
    )
    assert limited.status_code == 429
    assert "retry-after" in limited.headers


async def test_a_deleted_owners_teams_pass_to_the_longest_standing_admin_or_go(
    client: Client, mail_dir: Path, db: Database, owner: Person, ada: Person
) -> None:
    bob = await person(client, mail_dir, "bob@example.org")
    cy = await person(client, mail_dir, "cy@example.org")
    with_admins, with_members, alone = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await seed_team(
        db, with_admins, {owner.id: "owner", cy.id: "member", ada.id: "admin", bob.id: "admin"}
    )
    await seed_team(db, with_members, {owner.id: "owner", cy.id: "member", bob.id: "member"})
    await seed_team(db, alone, {owner.id: "owner"})
    deleted = await client.request(
        "DELETE", "/api/v1/me", json={"password": PASSWORD}, headers=owner.auth
    )
    assert deleted.status_code == 204, deleted.text

    def owners(members: list[dict[str, Any]]) -> list[uuid.UUID]:
        return [m["user_id"] for m in members if m["role"] == "owner"]

    # The app's own relay handles `accounts.deleted` (settle_outbox would run the other
    # subscribers, with the app's stores, on this test's loop).
    for _ in range(200):
        if await rows(db, teams, id=alone) == []:
            break
        await asyncio.sleep(0.05)
    assert owners(await rows(db, team_members, team_id=with_admins)) == [ada.id]
    assert owners(await rows(db, team_members, team_id=with_members)) == [cy.id]
    assert await rows(db, teams, id=alone) == []
    assert len(await rows(db, teams)) == 2


async def test_unknown_roadmaps_and_topics_are_refused_by_name(
    client: Client, owner: Person
) -> None:
    tid = await create_team(client, owner)
    missing = await client.put(f"{TEAMS}/{tid}/roadmaps/no-such-roadmap", headers=owner.auth)
    assert missing.status_code == 404
    not_assigned = await client.put(
        f"{TEAMS}/{tid}/roadmaps/backend/hidden-topics",
        json={"topic_ids": []},
        headers=owner.auth,
    )
    assert not_assigned.status_code == 404
    await client.put(f"{TEAMS}/{tid}/roadmaps/backend", headers=owner.auth)
    unknown = await client.put(
        f"{TEAMS}/{tid}/roadmaps/backend/hidden-topics",
        json={"topic_ids": ["databases.redis", "nope.nothing", "databases.nosuch"]},
        headers=owner.auth,
    )
    assert unknown.status_code == 422
    assert [e["field"] for e in unknown.json()["errors"]] == ["topic_ids[1]", "topic_ids[2]"]
    detail = (await client.get(f"{TEAMS}/{tid}", headers=owner.auth)).json()
    assert detail["roadmaps"][0]["hidden_topics"] == []
    gone = await client.delete(f"{TEAMS}/{tid}/roadmaps/backend", headers=owner.auth)
    assert gone.status_code == 204
    assert (await client.get(f"{TEAMS}/{tid}", headers=owner.auth)).json()["roadmaps"] == []


async def test_another_teams_members_invites_and_roadmaps_are_not_found_through_ones_own(
    client: Client, mail_dir: Path, db: Database, owner: Person, ada: Person
) -> None:
    """Ids of another team's things, sent through a team the caller owns (API1, BOLA)."""
    bob = await person(client, mail_dir, "bob@example.org")
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    await seed_team(db, mine, {owner.id: "owner"})
    their_token = "their-invite-token-0123456789"
    await seed_team(
        db,
        theirs,
        {ada.id: "owner", bob.id: "member"},
        roadmap="backend",
        invites={their_token: ("someone@example.org", "member")},
    )
    their_invite = uuid.uuid5(theirs, their_token)
    base = f"{TEAMS}/{mine}"
    for method, path, body in (
        ("PATCH", f"{base}/members/{bob.id}", {"role": "manager"}),
        ("DELETE", f"{base}/members/{bob.id}", None),
        ("DELETE", f"{base}/invites/{their_invite}", None),
        ("POST", f"{base}/invites/{their_invite}/resend", None),
        ("DELETE", f"{base}/roadmaps/backend", None),
        ("GET", f"{base}/progress/backend", None),
        ("PUT", f"{base}/roadmaps/backend/hidden-topics", {"topic_ids": []}),
    ):
        response = await client.request(method, path, json=body, headers=owner.auth)
        assert response.status_code == 404, (method, path, response.text)
    assert [m["role"] for m in await rows(db, team_members, team_id=theirs, user_id=bob.id)] == [
        "member"
    ]
    assert len(await rows(db, team_invites, team_id=theirs)) == 1
    assert len(await rows(db, team_roadmaps, team_id=theirs)) == 1
