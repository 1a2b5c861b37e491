"""Who may call which team route (OWASP API1 BOLA, API5 BFLA), generated from the app's own
route table: every (method, path) under `/api/v1/teams` (its webhooks included) and
`/api/v1/invites` is called as
the owner, an admin, a manager and a member of one team, a member of another team, a
platform admin (no role in the team) and an anonymous client, and must answer what the table
below says. A route the app has and the table does not name fails the test, so a new
endpoint cannot ship without its row.

One team setup per database: requests that would change it run each on a freshly seeded
team (straight in the database), the others share it. Authorized calls that would change
something go to throwaway targets (a spare member, a spare invite).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from sqlalchemy import insert

from tests.auth_helpers import Client
from tests.config import app_settings
from tests.integration.teams_support import Person, accounts_on, person, seed_team
from waymark.features.webhooks.signing import seal
from waymark.features.webhooks.tables import webhook_deliveries, webhook_endpoints
from waymark.infra.security.secret_box import SecretBox
from waymark.infra.sql.database import Database
from waymark.kernel.authz import PlatformRole
from waymark.kernel.clock import utcnow
from waymark.settings import FetchSettings, Settings

pytestmark = pytest.mark.usefixtures("backend_roadmap", "unthrottled")

ROLES = ("owner", "admin", "manager", "member", "outsider", "platform-admin", "anonymous")


def row(*statuses: int) -> dict[str, int]:
    """Statuses in `ROLES` order."""
    assert len(statuses) == len(ROLES)
    return dict(zip(ROLES, statuses, strict=True))


def team_row(owner: int, admin: int, manager: int, member: int) -> dict[str, int]:
    """A route on the team: outsiders (platform admins too) get 404, never 403, so a team's
    id cannot be probed; anonymous callers 401."""
    return row(owner, admin, manager, member, 404, 404, 401)


T = "/api/v1/teams/{team_id}"
W = f"{T}/webhooks/{{webhook_id}}"
HOOK_URL = "http://127.0.0.1:9/hook"
"""Nothing listens there (the discard port): deliveries queued by the calls fail at once."""
EXPECTED: dict[tuple[str, str], dict[str, int]] = {
    ("POST", "/api/v1/teams"): row(201, 201, 201, 201, 201, 201, 401),
    ("GET", "/api/v1/teams"): row(200, 200, 200, 200, 200, 200, 401),
    ("GET", T): team_row(200, 200, 200, 200),
    ("PATCH", T): team_row(200, 200, 403, 403),
    ("DELETE", T): team_row(204, 403, 403, 403),
    ("POST", f"{T}/transfer"): team_row(200, 403, 403, 403),
    ("GET", f"{T}/members"): team_row(200, 200, 200, 200),
    ("PATCH", f"{T}/members/{{user_id}}"): team_row(200, 200, 403, 403),
    ("DELETE", f"{T}/members/{{user_id}}"): team_row(204, 204, 403, 403),
    ("POST", f"{T}/leave"): team_row(409, 204, 204, 204),
    ("POST", f"{T}/invites"): team_row(201, 201, 403, 403),
    ("GET", f"{T}/invites"): team_row(200, 200, 200, 403),
    ("DELETE", f"{T}/invites/{{invite_id}}"): team_row(204, 204, 403, 403),
    ("POST", f"{T}/invites/{{invite_id}}/resend"): team_row(200, 200, 403, 403),
    ("PUT", f"{T}/roadmaps/{{slug}}"): team_row(200, 200, 403, 403),
    ("DELETE", f"{T}/roadmaps/{{slug}}"): team_row(204, 204, 403, 403),
    ("PUT", f"{T}/roadmaps/{{slug}}/hidden-topics"): team_row(200, 200, 403, 403),
    ("GET", f"{T}/progress/{{slug}}"): team_row(200, 200, 200, 403),
    # Who is online: the live feature's, with the same policy as the team's progress.
    ("GET", f"{T}/presence"): team_row(200, 200, 200, 403),
    ("POST", f"{T}/reminders"): team_row(200, 200, 200, 403),
    # Webhooks: the team's admins and owner only.
    ("POST", f"{T}/webhooks"): team_row(201, 201, 403, 403),
    ("GET", f"{T}/webhooks"): team_row(200, 200, 403, 403),
    ("GET", f"{W}"): team_row(200, 200, 403, 403),
    ("PATCH", f"{W}"): team_row(200, 200, 403, 403),
    ("DELETE", f"{W}"): team_row(204, 204, 403, 403),
    ("POST", f"{W}/rotate"): team_row(200, 200, 403, 403),
    ("POST", f"{W}/ping"): team_row(202, 202, 403, 403),
    ("GET", f"{W}/deliveries"): team_row(200, 200, 403, 403),
    ("POST", f"{W}/deliveries/{{delivery_id}}/redeliver"): team_row(202, 202, 403, 403),
    # The invite is addressed to the outsider: for anyone else it does not exist.
    ("GET", "/api/v1/invites/{token}"): row(404, 404, 404, 404, 200, 404, 401),
    ("POST", "/api/v1/invites/{token}/accept"): row(404, 404, 404, 404, 200, 404, 401),
    ("POST", "/api/v1/invites/{token}/decline"): row(404, 404, 404, 404, 204, 404, 401),
}

BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/teams"): {"name": "Throwaway"},
    ("PATCH", T): {"name": "Renamed"},
    ("POST", f"{T}/transfer"): {"account_id": "{spare}"},
    ("PATCH", f"{T}/members/{{user_id}}"): {"role": "manager"},
    ("POST", f"{T}/invites"): {"email": "newcomer@example.org", "role": "member"},
    ("PUT", f"{T}/roadmaps/{{slug}}/hidden-topics"): {"topic_ids": []},
    ("POST", f"{T}/reminders"): {"roadmap": "backend", "below_percentage": 50},
    ("POST", "/api/v1/invites/{token}/accept"): {},
    ("POST", f"{T}/webhooks"): {"url": HOOK_URL, "events": ["teams.invited"]},
    ("PATCH", W): {"description": "Renamed"},
    ("POST", f"{W}/rotate"): {},
}
CHANGES = {
    (method, path) for method, path in EXPECTED if method != "GET" and path != "/api/v1/teams"
} - {("PUT", f"{T}/roadmaps/{{slug}}"), ("PUT", f"{T}/roadmaps/{{slug}}/hidden-topics")}
"""Routes that change the team when allowed: each call gets a freshly seeded team."""


def team_operations(app: Litestar) -> set[tuple[str, str]]:
    return {
        (method, route.path_format)
        for route in app.routes
        if isinstance(route, HTTPRoute)
        and route.path_format.startswith(("/api/v1/teams", "/api/v1/invites"))
        for method in route.methods - {"OPTIONS", "HEAD"}
    }


@dataclass
class Setup:
    team: uuid.UUID
    other_team: uuid.UUID
    people: dict[str, Person]
    spare: Person
    invite_token: str
    spare_invite: str
    box: SecretBox
    """The app's: the seeded webhook's secret is sealed as the app seals it."""

    def headers(self, role: str) -> dict[str, str]:
        return {} if role == "anonymous" else self.people[role].auth

    def fill(self, text: str) -> str:
        return (
            text.replace("{team_id}", str(self.team))
            .replace("{user_id}", str(self.spare.id))
            .replace("{spare}", str(self.spare.id))
            .replace("{invite_id}", str(uuid.uuid5(self.team, self.spare_invite)))
            .replace("{token}", self.invite_token)
            .replace("{slug}", "backend")
            .replace("{webhook_id}", str(uuid.uuid5(self.team, "webhook")))
            .replace("{delivery_id}", str(uuid.uuid5(self.team, "delivery")))
        )

    async def seed(self, db: Database) -> None:
        p = self.people
        await seed_team(
            db,
            self.team,
            {
                p["owner"].id: "owner",
                p["admin"].id: "admin",
                p["manager"].id: "manager",
                p["member"].id: "member",
                self.spare.id: "member",
            },
            roadmap="backend",
            invites={
                self.invite_token: (p["outsider"].email, "member"),
                self.spare_invite: ("spare-invite@example.org", "member"),
            },
        )
        await seed_team(db, self.other_team, {p["outsider"].id: "owner"}, roadmap="backend")
        now = utcnow()
        webhook_id = uuid.uuid5(self.team, "webhook")
        async with db.transaction() as conn:
            await conn.execute(
                insert(webhook_endpoints).values(
                    id=webhook_id,
                    team_id=self.team,
                    url=HOOK_URL,
                    events='["teams.invited"]',
                    secret=seal(self.box, webhook_id, "secret", "whsec_matrix"),
                    created_at=now,
                    updated_at=now,
                )
            )
            await conn.execute(
                insert(webhook_deliveries).values(
                    id=uuid.uuid5(self.team, "delivery"),
                    endpoint_id=webhook_id,
                    event_id=uuid.uuid4(),
                    event="ping",
                    body="{}",
                    state="failed",
                    created_at=now,
                )
            )


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Webhooks may be made for 127.0.0.1 (where nothing answers): no request leaves."""
    return app_settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        fetch=FetchSettings(allow_http=True, allowed_networks=["127.0.0.1/32"]),
    )


@pytest.fixture
async def world(client: Client, mail_dir: Path, db: Database) -> Setup:
    people = {
        role: await person(client, mail_dir, f"{role}@example.org")
        for role in ROLES
        if role != "anonymous"
    }
    await accounts_on(db).administration.set_role_by_email(
        people["platform-admin"].email, PlatformRole.ADMIN, by="test"
    )
    spare = await person(client, mail_dir, "spare@example.org")
    built = Setup(
        team=uuid.uuid4(),
        other_team=uuid.uuid4(),
        people=people,
        spare=spare,
        invite_token=secrets.token_urlsafe(32),
        spare_invite=secrets.token_urlsafe(32),
        box=client.app.state.container.secret_box,
    )
    await built.seed(db)
    return built


def test_every_team_route_has_a_row_and_every_row_a_route(app: Litestar) -> None:
    routes = team_operations(app)
    assert routes - set(EXPECTED) == set(), "team routes without a row in EXPECTED"
    assert set(EXPECTED) - routes == set(), "rows in EXPECTED for routes the app lacks"


async def test_each_role_gets_exactly_what_the_table_says(
    app: Litestar, client: Client, db: Database, world: Setup
) -> None:
    assert team_operations(app) == set(EXPECTED)
    answered: dict[tuple[str, str, str], int] = {}
    # Reads and refusals first, on the shared team; changes last, each on a fresh team.
    for method, path in sorted(EXPECTED, key=lambda key: key in CHANGES):
        for role in ROLES:
            if (method, path) in CHANGES:
                await world.seed(db)
            body = BODIES.get((method, path))
            response = await client.request(
                method,
                world.fill(path),
                headers=world.headers(role),
                json=_filled(body, world),
            )
            answered[(method, path, role)] = response.status_code
            if response.status_code >= 400:
                assert response.headers["content-type"] == "application/problem+json"
    wrong = {
        key: (status, EXPECTED[key[:2]][key[2]])
        for key, status in answered.items()
        if status != EXPECTED[key[:2]][key[2]]
    }
    assert wrong == {}, "(method, path, role): (answered, expected)"


def _filled(body: Any, setup: Setup) -> Any:
    if isinstance(body, dict):
        return {key: _filled(value, setup) for key, value in body.items()}
    if isinstance(body, str):
        return setup.fill(body)
    return body
