"""A team's progress and reminders, on SQLite and PostgreSQL: members' statuses set through
the progress API show per member, overall and per topic; hidden topics are left out of
everything; the read takes the same number of statements however many members and changes;
reminders reach the members behind who take them, once a day per roadmap."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from tests.auth_helpers import Client, mails, settle_outbox
from tests.integration.progress_support import SPEC, new_account
from tests.integration.teams_support import (
    REMINDER_MAIL,
    TEAMS,
    Person,
    person,
    seed_team,
    team_services,
)
from tests.recording import RecordingDatabase
from waymark.features.progress.schemas import BatchItem
from waymark.infra.sql.database import Database
from waymark.kernel.identity import Account

pytestmark = pytest.mark.usefixtures("backend_roadmap")

TOPICS = [t.id for s in SPEC.sections for t in s.topics]
TOTAL = len(TOPICS)


async def set_statuses(client: Client, who: Person, statuses: dict[str, str]) -> None:
    changes = [{"topic_id": topic, "status": status} for topic, status in statuses.items()]
    response = await client.post(
        "/api/v1/me/progress/backend/batch", json={"changes": changes}, headers=who.auth
    )
    assert response.status_code == 200, response.text


@pytest.fixture
async def crew(client: Client, mail_dir: Path) -> dict[str, Person]:
    return {
        name: await person(client, mail_dir, f"{name}@example.org")
        for name in ("owner", "ada", "bob", "cy")
    }


async def test_members_progress_per_member_and_per_topic_without_hidden_topics(
    client: Client, db: Database, crew: dict[str, Person]
) -> None:
    owner, ada, bob, cy = crew["owner"], crew["ada"], crew["bob"], crew["cy"]
    team = uuid.uuid4()
    await seed_team(
        db,
        team,
        {owner.id: "owner", ada.id: "member", bob.id: "manager", cy.id: "member"},
        roadmap="backend",
    )
    t0, t1, t2, t3 = TOPICS[:4]
    await set_statuses(client, ada, {t0: "done", t1: "done", t2: "learning"})
    await set_statuses(client, bob, {t0: "skipped", t3: "done"})
    url = f"{TEAMS}/{team}/progress/backend"

    view = await client.get(url, headers=bob.auth)
    assert view.status_code == 200, view.text
    body = view.json()
    members = {m["email"]: m for m in body["members"]}
    assert set(members) == {p.email for p in crew.values()}
    assert members[ada.email]["counts"] | {"percentage": None} == {
        "done": 2, "learning": 1, "skipped": 0, "pending": TOTAL - 3, "total": TOTAL,
        "percentage": None,
    }  # fmt: skip
    assert members[ada.email]["counts"]["percentage"] == round(200 / TOTAL, 1)
    assert members[ada.email]["last_activity_at"] is not None
    assert members[cy.email]["last_activity_at"] is None
    assert members[cy.email]["counts"]["pending"] == TOTAL
    heat = {t["topic_id"]: t for t in body["topics"]}
    assert [t["topic_id"] for t in body["topics"]] == TOPICS
    assert (heat[t0]["done"], heat[t0]["skipped"], heat[t0]["pending"]) == (1, 1, 2)
    assert (heat[t2]["learning"], heat[t3]["done"]) == (1, 1)
    assert body["overall"]["done"] == 3
    assert body["overall"]["total"] == 4 * TOTAL

    hidden = await client.put(
        f"{TEAMS}/{team}/roadmaps/backend/hidden-topics",
        json={"topic_ids": [t0, t2]},
        headers=owner.auth,
    )
    assert hidden.status_code == 200, hidden.text
    body = (await client.get(url, headers=owner.auth)).json()
    members = {m["email"]: m for m in body["members"]}
    assert (members[ada.email]["counts"]["done"], members[ada.email]["counts"]["learning"]) == (
        1,
        0,
    )
    assert members[ada.email]["counts"]["total"] == TOTAL - 2
    assert (members[bob.email]["counts"]["skipped"], members[bob.email]["counts"]["done"]) == (0, 1)
    assert t0 not in {t["topic_id"] for t in body["topics"]}
    assert len(body["topics"]) == TOTAL - 2
    assert body["hidden_topics"] == sorted([t0, t2])
    assert (body["overall"]["done"], body["overall"]["skipped"]) == (2, 0)

    # Members see the team's progress only if the team lets them.
    assert (await client.get(url, headers=ada.auth)).status_code == 403
    opened = await client.patch(
        f"{TEAMS}/{team}", json={"members_see_progress": True}, headers=owner.auth
    )
    assert opened.status_code == 200
    assert (await client.get(url, headers=ada.auth)).status_code == 200
    not_followed = await client.get(f"{TEAMS}/{team}/progress/no-such", headers=owner.auth)
    assert not_followed.status_code == 404


# -- statements: a constant number however many members and changes ------------------------


def shape(sql: str) -> str:
    """The statement with its placeholders as `?`, and a list of them (an expanding IN of
    the members' ids) as one."""
    return re.sub(r"\?(, \?)+", "?", re.sub(r"\$\d+(::\w+)?", "?", sql))


async def test_team_progress_takes_the_same_statements_for_any_number_of_members_or_changes(
    recorded: RecordingDatabase,
) -> None:
    db = recorded
    team = uuid.uuid4()
    learners: list[Account] = [await new_account(db) for _ in range(12)]
    owner = learners[0]

    async def count(members: list[Account], changes_each: int) -> list[str]:
        await seed_team(
            db,
            team,
            {m.id: ("owner" if m is owner else "member") for m in members},
            roadmap="backend",
        )
        await teams.roadmaps.hide_topics(owner, team, "backend", [TOPICS[-1]])
        for member in members:
            done = await progress.view(member, "backend")
            already = sum(1 for s in done[0].statuses.values() if s != "pending")
            for topic in TOPICS[already : already + changes_each]:
                for status in ("learning", "done"):
                    await progress.set_statuses(
                        member, "backend", [BatchItem(topic_id=topic, status=status)]
                    )
        await teams.reports.on_roadmap(owner, team, "backend")  # the catalog's cache is warm
        async with db.recording() as sent:
            view = await teams.reports.on_roadmap(owner, team, "backend")
        assert len(view.members) == len(members)
        return [shape(sql) for sql, _ in sent]

    async with team_services(db) as (teams, progress):
        few = await count(learners[:2], changes_each=1)
        many = await count(learners, changes_each=1)
        long_histories = await count(learners, changes_each=10)
    assert few == many == long_histories
    assert 0 < len(few) <= 8, few
    assert not any("progress_events" in s for s in few)


# -- reminders ----------------------------------------------------------------------------


async def test_reminders_reach_the_members_behind_who_take_them_once_a_day(
    client: Client, db: Database, mail_dir: Path, crew: dict[str, Person]
) -> None:
    owner, ada, bob, cy = crew["owner"], crew["ada"], crew["bob"], crew["cy"]
    team, other = uuid.uuid4(), uuid.uuid4()
    members = {owner.id: "owner", ada.id: "member", bob.id: "member", cy.id: "manager"}
    await seed_team(db, team, members, roadmap="backend", name="Guild")
    await seed_team(db, other, members, roadmap="backend", name="Other")
    opted_out = await client.patch("/api/v1/me", json={"team_reminders": False}, headers=bob.auth)
    assert opted_out.json()["team_reminders"] is False
    await set_statuses(client, cy, dict.fromkeys(TOPICS[: TOTAL // 2], "done"))

    url = f"{TEAMS}/{team}/reminders"
    sent = await client.post(
        url, json={"roadmap": "backend", "below_percentage": 20}, headers=owner.auth
    )
    assert sent.status_code == 200, sent.text
    assert sent.json() == {"reminded": 1}  # ada: behind, takes them; not bob, cy or the sender
    await settle_outbox(client, db)
    (mail,) = mails(mail_dir, ada.email, REMINDER_MAIL)
    assert "Guild" in str(mail.get_body(("plain",)).get_content())
    assert "/roadmaps/backend" in str(mail.get_body(("plain",)).get_content())
    for someone in (bob, cy, owner):
        assert mails(mail_dir, someone.email, REMINDER_MAIL) == []

    again = await client.post(
        url, json={"roadmap": "backend", "inactive_days": 3}, headers=owner.auth
    )
    assert (again.status_code, again.json()["code"]) == (429, "rate-limited")
    # By inactivity, in another team: ada never changed anything, cy did just now.
    idle = await client.post(
        f"{TEAMS}/{other}/reminders",
        json={"roadmap": "backend", "inactive_days": 3},
        headers=cy.auth,
    )
    assert idle.json() == {"reminded": 2}  # ada, and the owner (never active); not bob
    both = await client.post(
        f"{TEAMS}/{other}/reminders",
        json={"roadmap": "backend", "inactive_days": 3, "below_percentage": 5},
        headers=owner.auth,
    )
    assert both.status_code == 422
    member = await client.post(
        f"{TEAMS}/{other}/reminders",
        json={"roadmap": "backend", "inactive_days": 3},
        headers=ada.auth,
    )
    assert member.status_code == 403
