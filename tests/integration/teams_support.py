"""What the tests of teams share: signed-in people, teams seeded straight in the database
(for tests that need many states fast), and reading the mailed invite links."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select

from tests.auth_helpers import Client, bearer, login_tokens, register_verified, text_of
from waymark.features.accounts.passwords import PasswordPolicy
from waymark.features.accounts.service import Accounts
from waymark.features.progress.service import ProgressService
from waymark.features.roadmaps.service import RoadmapCatalog
from waymark.features.roadmaps.tables import roadmaps
from waymark.features.teams.service import Teams
from waymark.features.teams.tables import team_invites, team_members, team_roadmaps, teams
from waymark.infra.outbox import Outbox
from waymark.infra.sql.database import Database
from waymark.kernel.clock import Clock, utcnow
from waymark.kernel.identity import hash_token

TEAMS = "/api/v1/teams"
INVITE_MAIL = "You are invited to join a team on Waymark"
REMINDER_MAIL = "A reminder from your team on Waymark"
_INVITE_LINK = re.compile(r"/invites/([A-Za-z0-9_-]{20,})")


@dataclass
class Person:
    email: str
    id: uuid.UUID
    auth: dict[str, str] = field(repr=False)


@asynccontextmanager
async def team_services(db: Database) -> AsyncIterator[tuple[Teams, ProgressService]]:
    """Teams and progress on the test's own pool, so the statements counted are theirs
    alone (the roadmap catalog's cache warms on first use)."""
    clock = Clock()
    catalog = RoadmapCatalog(db, cache_seconds=3600)
    outbox = Outbox()
    progress = ProgressService(db=db, catalog=catalog, outbox=outbox, clock=clock)
    teams = Teams(
        db=db,
        clock=clock,
        throttle=None,  # type: ignore[arg-type]  (progress is not throttled)
        outbox=outbox,
        catalog=catalog,
        progress=progress,
        profiles=accounts_on(db).profiles,
        public_url="https://waymark.example",
    )
    try:
        yield teams, progress
    finally:
        await catalog.aclose()


def accounts_on(db: Database) -> Accounts:
    """The accounts service on the test's own pool (the app's belongs to the app's loop):
    for its profiles and the operator's grants; it hashes no password."""
    return Accounts(
        db=db,
        outbox=Outbox(),
        hasher=None,  # type: ignore[arg-type]
        policy=PasswordPolicy(),
        throttle=None,  # type: ignore[arg-type]
        public_url="https://waymark.example",
        clock=Clock(),
    )


async def person(client: Client, mail_dir: Path, email: str) -> Person:
    """A confirmed account, signed in with a bearer token."""
    await register_verified(client, mail_dir, email)
    auth = bearer(await login_tokens(client, email))
    me = await client.get("/api/v1/me", headers=auth)
    return Person(email=email, id=uuid.UUID(me.json()["id"]), auth=auth)


def invite_token(message: EmailMessage) -> str:
    match = _INVITE_LINK.search(text_of(message))
    assert match, "no invite link in the mail"
    return match.group(1)


async def create_team(client: Client, owner: Person, name: str = "Platform", **extra: Any) -> str:
    response = await client.post(TEAMS, json={"name": name, **extra}, headers=owner.auth)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def seed_team(
    db: Database,
    team_id: uuid.UUID,
    members: dict[uuid.UUID, str],
    *,
    name: str = "Seeded",
    members_see_progress: bool = False,
    roadmap: str | None = None,
    invites: dict[str, tuple[str, str]] | None = None,
) -> None:
    """(Re)create team `team_id` with `members` (account id -> role), the roadmap `roadmap`
    assigned, and `invites` (token -> (email, role)), replacing whatever it had."""
    now = utcnow()
    async with db.transaction() as conn:
        await conn.execute(delete(teams).where(teams.c.id == team_id))
        await conn.execute(
            insert(teams).values(
                id=team_id,
                name=name,
                members_see_progress=members_see_progress,
                created_at=now,
                updated_at=now,
            )
        )
        await conn.execute(
            insert(team_members),
            [  # joined in the order given, a second apart
                {
                    "team_id": team_id,
                    "user_id": account,
                    "role": role,
                    "joined_at": now + timedelta(seconds=index),
                }
                for index, (account, role) in enumerate(members.items())
            ],
        )
        if roadmap is not None:
            roadmap_id = await conn.scalar(select(roadmaps.c.id).where(roadmaps.c.slug == roadmap))
            await conn.execute(
                insert(team_roadmaps).values(
                    team_id=team_id, roadmap_id=roadmap_id, slug=roadmap, assigned_at=now
                )
            )
        for token, (email, role) in (invites or {}).items():
            await conn.execute(
                insert(team_invites).values(
                    id=uuid.uuid5(team_id, token),
                    team_id=team_id,
                    email=email,
                    role=role,
                    token_hash=hash_token(token),
                    invited_by=None,
                    created_at=now,
                    sent_at=now,
                    expires_at=now.replace(year=now.year + 1),
                )
            )


async def rows(db: Database, table: Any, **where: Any) -> list[dict[str, Any]]:
    async with db.read() as conn:
        query = select(table).where(*(table.c[k] == v for k, v in where.items()))
        return [dict(row._mapping) for row in await conn.execute(query)]
