"""An account's own invites through the API, on SQLite and PostgreSQL (`/api/v1/me/invites`):
the live invites to its confirmed address, accepted or declined by id without the mailed
token, under the same rules as by token (bound to the address, single use, expiring, the
team's caps); anyone else's invite, or a dead one, answers as one that does not exist."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from tests.auth_helpers import Client
from tests.integration.teams_support import create_team, person
from waymark.features.teams.tables import team_invites
from waymark.infra.sql.database import Database
from waymark.kernel.clock import utcnow

pytestmark = pytest.mark.usefixtures("backend_roadmap")
MINE = "/api/v1/me/invites"


async def test_my_invites_are_listed_and_accepted_or_declined_by_id_by_their_address_only(
    client: Client, db: Database, mail_dir: Path
) -> None:
    owner, ada, bob = [
        await person(client, mail_dir, f"{name}@example.org") for name in ("owner", "ada", "bob")
    ]
    teams = [await create_team(client, owner, name) for name in ("Guild", "Circle", "Old")]
    for team in teams:
        sent = await client.post(
            f"/api/v1/teams/{team}/invites",
            json={"email": ada.email, "role": "member"},
            headers=owner.auth,
        )
        assert sent.status_code == 201, sent.text
    async with db.transaction() as conn:  # the third one expired
        await conn.execute(
            update(team_invites)
            .where(team_invites.c.team_id == uuid.UUID(teams[2]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )

    listed = await client.get(MINE, headers=ada.auth)
    assert listed.status_code == 200
    assert listed.headers["cache-control"] == "no-store"
    assert [i["team_name"] for i in listed.json()] == ["Circle", "Guild"]  # newest first
    assert "token" not in str(listed.json())
    circle, guild = (i["id"] for i in listed.json())
    assert (await client.get(MINE, headers=bob.auth)).json() == []

    for who, path in ((bob, f"{MINE}/{guild}/accept"), (owner, f"{MINE}/{guild}/decline")):
        refused = await client.post(path, json={}, headers=who.auth)
        assert (refused.status_code, refused.json()["code"]) == (404, "invalid-invite")
    joined = await client.post(f"{MINE}/{guild}/accept", json={}, headers=ada.auth)
    assert joined.status_code == 200, joined.text
    assert (joined.json()["name"], joined.json()["role"]) == ("Guild", "member")
    used = await client.post(f"{MINE}/{guild}/accept", json={}, headers=ada.auth)
    assert (used.status_code, used.json()["code"]) == (404, "invalid-invite")
    declined = await client.post(f"{MINE}/{circle}/decline", headers=ada.auth)
    assert declined.status_code == 204
    assert (await client.get(MINE, headers=ada.auth)).json() == []
    expired = await client.get(f"/api/v1/teams/{teams[2]}/invites", headers=owner.auth)
    old = expired.json()[0]["id"]
    dead = await client.post(f"{MINE}/{old}/accept", json={}, headers=ada.auth)
    assert (dead.status_code, dead.json()["code"]) == (404, "invalid-invite")
