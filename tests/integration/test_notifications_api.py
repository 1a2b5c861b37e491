"""The notification centre, on SQLite and PostgreSQL: each kind made by its domain event
through the real outbox relay (an invite to an existing account, a teammate finishing a
roadmap the team follows, a reminder), exactly once even when a handler runs again; the
REST list (newest first, pages, the unread filter and count), marking read (one, or all up
to one, leaving later ones unread), deleting; isolation between accounts; the cap per
account and the retention of read ones."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import func, select

from tests.auth_helpers import PASSWORD, Client, settle_outbox
from tests.integration.notifications_support import NOTIFICATIONS, centre_on, give, listed
from tests.integration.progress_support import SPEC
from tests.integration.teams_support import (
    TEAMS,
    Person,
    accounts_on,
    person,
    seed_team,
    team_services,
)
from waymark.features.notifications import service as service_module
from waymark.features.notifications.jobs import NotificationJobs
from waymark.features.notifications.messages import NOTIFICATION_CREATED
from waymark.features.notifications.tables import notifications
from waymark.features.progress.messages import ROADMAP_COMPLETED, RoadmapCompleted
from waymark.features.teams.messages import TEAM_REMINDED, TeamReminded
from waymark.features.teams.tables import team_invites
from waymark.infra.outbox import OutboxMessage
from waymark.infra.sql.database import Database
from waymark.kernel.clock import utcnow

pytestmark = pytest.mark.usefixtures("backend_roadmap")

TOPICS = [t.id for s in SPEC.sections for t in s.topics]


@pytest.fixture
async def crew(client: Client, mail_dir: Path) -> dict[str, Person]:
    return {
        name: await person(client, mail_dir, f"{name}@example.org")
        for name in ("owner", "ada", "bob", "cy")
    }


def spy(client: Client) -> list[dict[str, Any]]:
    """Every `notifications.created` the app publishes from now on, as delivered."""
    seen: list[dict[str, Any]] = []

    async def record(message: OutboxMessage, conn: Any) -> None:
        seen.append(msgspec.json.decode(message.payload))

    client.app.state.container.handlers.subscribe(
        NOTIFICATION_CREATED, "tests.spy", record, transactional=True
    )
    return seen


async def test_an_invite_to_an_account_notifies_it_once_and_never_carries_the_token(
    client: Client, db: Database, crew: dict[str, Person]
) -> None:
    owner, ada = crew["owner"], crew["ada"]
    created = spy(client)
    team = (await client.post(TEAMS, json={"name": "Guild"}, headers=owner.auth)).json()["id"]
    unconfirmed = await client.post(
        "/api/v1/auth/register", json={"email": "squat@example.org", "password": PASSWORD}
    )
    assert unconfirmed.status_code == 202
    for email in (ada.email, "nobody@example.org", "squat@example.org"):
        sent = await client.post(
            f"{TEAMS}/{team}/invites", json={"email": email, "role": "manager"}, headers=owner.auth
        )
        assert sent.status_code == 201, sent.text
    await settle_outbox(client, db)

    page = await listed(client, ada.auth)
    assert page["unread"] == 1
    (note,) = page["items"]
    assert note["kind"] == "team-invite"
    assert note["link"] == "/invites"
    assert "Guild" in note["text"]
    assert "manager" in note["text"]
    assert note["read_at"] is None
    assert note["data"]["team_id"] == team
    async with db.read() as conn:
        (token_hash,) = (await conn.execute(_invite_hashes())).scalars()
    assert token_hash not in str(page)
    assert (await listed(client, owner.auth))["items"] == []
    async with db.read() as conn:  # nobody but ada: not the unconfirmed account's squatter
        assert await conn.scalar(select(func.count()).select_from(notifications)) == 1
    assert created == [
        {
            "version": 1,
            "notification_id": note["id"],
            "account_id": str(ada.id),
            "kind": "team-invite",
            "unread": 1,
        }
    ]


def _invite_hashes() -> Any:
    return select(team_invites.c.token_hash).where(team_invites.c.email == "ada@example.org")


async def test_a_teammate_finishing_a_followed_roadmap_notifies_each_other_member_once(
    client: Client, db: Database, crew: dict[str, Person]
) -> None:
    owner, ada, bob, cy = crew["owner"], crew["ada"], crew["bob"], crew["cy"]
    await seed_team(
        db, uuid.uuid4(), {ada.id: "owner", bob.id: "member"}, roadmap="backend", name="Guild"
    )
    await seed_team(
        db,
        uuid.uuid4(),
        {bob.id: "owner", ada.id: "member", cy.id: "member"},
        roadmap="backend",
        name="Circle",
    )
    await seed_team(db, uuid.uuid4(), {ada.id: "owner", owner.id: "member"}, name="Idle")
    changes = [{"topic_id": topic, "status": "done"} for topic in TOPICS]
    done = await client.post(
        "/api/v1/me/progress/backend/batch", json={"changes": changes}, headers=ada.auth
    )
    assert done.status_code == 200, done.text
    await settle_outbox(client, db)

    (to_bob,) = (await listed(client, bob.auth))["items"]  # one, though two teams are shared
    assert to_bob["kind"] == "teammate-finished"
    assert to_bob["link"] == "/roadmaps/backend"
    assert sorted(to_bob["data"]["team_names"]) == ["Circle", "Guild"]
    (to_cy,) = (await listed(client, cy.auth))["items"]
    assert to_cy["data"]["team_names"] == ["Circle"]
    assert (await listed(client, owner.auth))["items"] == []  # Idle follows no roadmap
    assert (await listed(client, ada.auth))["items"] == []  # never to the learner


async def test_a_reminder_mailed_is_a_notification_too_once_a_day(
    client: Client, db: Database, crew: dict[str, Person]
) -> None:
    owner, ada = crew["owner"], crew["ada"]
    team = uuid.uuid4()
    await seed_team(
        db, team, {owner.id: "owner", ada.id: "member"}, roadmap="backend", name="Guild"
    )
    sent = await client.post(
        f"{TEAMS}/{team}/reminders",
        json={"roadmap": "backend", "below_percentage": 20},
        headers=owner.auth,
    )
    assert sent.json() == {"reminded": 1}
    await settle_outbox(client, db)
    (note,) = (await listed(client, ada.auth))["items"]
    assert note["kind"] == "team-reminder"
    assert note["link"] == "/roadmaps/backend"
    assert note["data"]["team_id"] == str(team)
    assert (await listed(client, owner.auth))["items"] == []


async def test_a_handler_run_again_with_the_same_message_makes_no_second_notification(
    db: Database, crew: dict[str, Person]
) -> None:
    ada, bob = crew["ada"], crew["bob"]
    await seed_team(db, uuid.uuid4(), {ada.id: "owner", bob.id: "member"}, roadmap="backend")
    centre = centre_on(db)
    async with team_services(db) as (teams, _):
        jobs = NotificationJobs(centre, teams, accounts_on(db).profiles)
        reminded = TeamReminded(
            team_id=str(uuid.uuid4()),
            team_name="Guild",
            account_id=str(ada.id),
            roadmap="backend",
            roadmap_title="Backend",
            percentage=12.5,
            at=utcnow(),
        )
        completed = RoadmapCompleted(
            account_id=str(ada.id), roadmap="backend", roadmap_version=1, at=utcnow()
        )
        for _ in range(2):  # the second time: as a retry would, after the first committed
            for handler, kind, event in (
                (jobs.reminded, TEAM_REMINDED, reminded),
                (jobs.roadmap_completed, ROADMAP_COMPLETED, completed),
            ):
                message = OutboxMessage(
                    id=f"message-{kind}",
                    kind=kind,
                    payload=msgspec.json.encode(event).decode(),
                    attempt=1,
                    correlation_id=None,
                    created_at=utcnow(),
                )
                async with db.transaction() as conn:
                    await handler(message, conn)
    assert [n.kind for n in (await centre.page(ada.id, cursor=None, limit=10)).items] == [
        "team-reminder"
    ]
    assert [n.kind for n in (await centre.page(bob.id, cursor=None, limit=10)).items] == [
        "teammate-finished"
    ]


async def test_the_list_pages_newest_first_and_marking_all_read_leaves_later_ones_unread(
    client: Client, db: Database, crew: dict[str, Person]
) -> None:
    ada = crew["ada"]
    centre = centre_on(db)
    texts = await give(centre, ada.id, 5)

    seen, cursor = [], None
    while True:
        page = await listed(client, ada.auth, limit=2, **({"cursor": cursor} if cursor else {}))
        assert page["unread"] == 5
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [n["text"] for n in seen] == texts[::-1]
    newest, oldest = seen[0], seen[-1]

    one = await client.post(f"{NOTIFICATIONS}/{oldest['id']}/read", headers=ada.auth)
    assert (one.status_code, one.json()) == (200, {"unread": 4})
    again = await client.post(f"{NOTIFICATIONS}/{oldest['id']}/read", headers=ada.auth)
    assert again.json() == {"unread": 4}
    unread = await listed(client, ada.auth, unread="true")
    assert oldest["id"] not in [n["id"] for n in unread["items"]]
    assert len(unread["items"]) == 4

    (later,) = await give(centre, ada.id, 1, prefix="later")  # arrives while the page is shown
    marked = await client.post(
        f"{NOTIFICATIONS}/read", json={"up_to": newest["id"]}, headers=ada.auth
    )
    assert (marked.status_code, marked.json()) == (200, {"unread": 1})
    (left,) = (await listed(client, ada.auth, unread="true"))["items"]
    assert left["text"] == later

    gone = await client.delete(f"{NOTIFICATIONS}/{newest['id']}", headers=ada.auth)
    assert gone.status_code == 204
    assert newest["id"] not in [n["id"] for n in (await listed(client, ada.auth))["items"]]
    twice = await client.delete(f"{NOTIFICATIONS}/{newest['id']}", headers=ada.auth)
    assert (twice.status_code, twice.json()["code"]) == (404, "no-such-notification")
    bad = await client.get(NOTIFICATIONS, params={"cursor": "nonsense"}, headers=ada.auth)
    assert bad.status_code == 422


async def test_an_account_never_reads_marks_or_deletes_anothers_notifications(
    client: Client, db: Database, crew: dict[str, Person]
) -> None:
    ada, bob = crew["ada"], crew["bob"]
    await give(centre_on(db), ada.id, 2)
    (ada_note, _) = (await listed(client, ada.auth))["items"]
    its = ada_note["id"]
    for method, path, body in (
        ("POST", f"{NOTIFICATIONS}/{its}/read", None),
        ("POST", f"{NOTIFICATIONS}/read", {"up_to": its}),
        ("DELETE", f"{NOTIFICATIONS}/{its}", None),
    ):
        answer = await client.request(method, path, json=body, headers=bob.auth)
        assert (answer.status_code, answer.json()["code"]) == (404, "no-such-notification")
    assert (await listed(client, bob.auth)) == {"items": [], "next_cursor": None, "unread": 0}
    assert (await listed(client, ada.auth))["unread"] == 2
    stranger = await client.get(NOTIFICATIONS)
    assert stranger.status_code == 401


async def test_an_account_keeps_a_capped_number_and_read_ones_go_first(
    db: Database, crew: dict[str, Person], monkeypatch: pytest.MonkeyPatch
) -> None:
    ada = crew["ada"]
    monkeypatch.setattr(service_module, "MAX_PER_ACCOUNT", 3)
    centre = centre_on(db)
    await give(centre, ada.id, 3)
    first = (await centre.page(ada.id, cursor=None, limit=10)).items
    await centre.mark_read(ada.id, first[1].id)  # the middle one
    await give(centre, ada.id, 1, prefix="fourth")
    texts = [n.text for n in (await centre.page(ada.id, cursor=None, limit=10)).items]
    assert texts == ["fourth reminder 0", "k reminder 2", "k reminder 0"]
    await give(centre, ada.id, 1, prefix="fifth")  # all unread: the oldest goes
    texts = [n.text for n in (await centre.page(ada.id, cursor=None, limit=10)).items]
    assert texts == ["fifth reminder 0", "fourth reminder 0", "k reminder 2"]


async def test_maintenance_deletes_read_notifications_past_the_retention(
    db: Database, crew: dict[str, Person]
) -> None:
    ada = crew["ada"]
    centre = centre_on(db)
    await give(centre, ada.id, 3)
    items = (await centre.page(ada.id, cursor=None, limit=10)).items
    await centre.mark_read(ada.id, items[2].id)
    assert await centre.delete_read(utcnow() + timedelta(days=89)) == 0
    assert await centre.delete_read(utcnow() + timedelta(days=91)) == 1
    async with db.read() as conn:
        assert await conn.scalar(select(func.count()).select_from(notifications)) == 2


async def test_concurrent_writers_for_one_account_take_turns_on_its_numbers(
    database_url: str, crew: dict[str, Person]
) -> None:
    ada = crew["ada"]
    pools = [Database(database_url) for _ in range(4)]  # writers on connections of their own
    try:
        centres = [centre_on(pool) for pool in pools]
        await asyncio.gather(
            *(give(centre, ada.id, 3, prefix=f"w{n}") for n, centre in enumerate(centres))
        )
        page = await centres[0].page(ada.id, cursor=None, limit=50)
    finally:
        for pool in pools:
            await pool.dispose()
    assert len(page.items) == 12
    assert page.unread == 12
