"""Learning progress through the API, on SQLite and PostgreSQL: statuses, counts, next up,
ETags, batches, history, streaks, what changed since a version was seen, and isolation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest
from litestar import Litestar

from tests.auth_helpers import Client, bearer, login_tokens, register_verified, settle_outbox
from tests.conftest import BACKEND_ROADMAP
from waymark.features.progress.messages import TOPIC_STATUS_CHANGED
from waymark.features.roadmaps import document
from waymark.features.roadmaps.schemas import TopicSpec
from waymark.features.roadmaps.service import import_roadmap
from waymark.infra.outbox import OutboxMessage
from waymark.infra.sql.database import Database
from waymark.kernel.clock import utcnow

pytestmark = pytest.mark.usefixtures("backend_roadmap")

BASE = "/api/v1/me/progress/backend"
SPEC = document.load(BACKEND_ROADMAP)
ALL = [t.id for s in SPEC.sections for t in s.topics]
CORE = [t.id for s in SPEC.sections for t in s.topics if t.kind == "core"]


async def put(client: Client, auth: dict[str, str], topic: str, status: str, **headers: str):  # type: ignore[no-untyped-def]
    return await client.put(
        f"{BASE}/topics/{topic}", json={"status": status}, headers=auth | headers
    )


async def test_a_new_learner_has_everything_pending(
    client: Client, signed_in: dict[str, str]
) -> None:
    view = await client.get(BASE, headers=signed_in)
    assert view.status_code == 200, view.text
    body = view.json()
    assert body["counts"] == {
        "done": 0, "learning": 0, "skipped": 0, "pending": 45, "total": 45, "percentage": 0.0,
    }  # fmt: skip
    assert set(body["statuses"]) == set(ALL)
    assert set(body["statuses"].values()) == {"pending"}
    assert body["next_up"] == CORE[:3]
    assert [s["id"] for s in body["sections"]] == [s.id for s in SPEC.sections]
    assert (await client.get("/api/v1/me/progress", headers=signed_in)).json() == []


async def test_statuses_counts_percentage_and_next_up(
    client: Client, signed_in: dict[str, str]
) -> None:
    assert (await put(client, signed_in, CORE[0], "done")).status_code == 200
    assert (await put(client, signed_in, CORE[1], "skipped")).status_code == 200
    learning = await put(client, signed_in, CORE[2], "learning")
    result = learning.json()
    assert result["changed"] is True
    assert result["counts"]["done"] == 1
    assert result["counts"]["percentage"] == round(100 * 2 / 45, 1)
    body = (await client.get(BASE, headers=signed_in)).json()
    assert body["counts"]["pending"] == 42
    assert body["statuses"][CORE[2]] == "learning"
    # Learning is not finished: it stays next up, done and skipped do not.
    assert body["next_up"] == [CORE[2], CORE[3], CORE[4]]
    first_section = body["sections"][0]
    assert first_section["counts"]["done"] + first_section["counts"]["skipped"] >= 1
    (summary,) = (await client.get("/api/v1/me/progress", headers=signed_in)).json()
    assert summary["slug"] == "backend"
    assert summary["counts"] == body["counts"]


async def test_setting_the_same_status_again_changes_nothing(
    client: Client, signed_in: dict[str, str], db: Database
) -> None:
    first = await put(client, signed_in, CORE[0], "done")
    again = await put(client, signed_in, CORE[0], "done")
    assert again.json()["changed"] is False
    assert again.json()["counts"] == first.json()["counts"]
    assert again.headers["etag"] == first.headers["etag"]
    history = (await client.get(f"{BASE}/history", headers=signed_in)).json()
    assert len(history) == 1


async def test_etags_give_304_and_refuse_stale_changes_with_412(
    client: Client, signed_in: dict[str, str]
) -> None:
    view = await client.get(BASE, headers=signed_in)
    tag = view.headers["etag"]
    assert (await client.get(BASE, headers=signed_in | {"if-none-match": tag})).status_code == 304
    changed = await put(client, signed_in, CORE[0], "done", **{"if-match": tag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != tag
    stale = await put(client, signed_in, CORE[1], "done", **{"if-match": tag})
    assert stale.status_code == 412
    assert stale.json()["code"] == "precondition-failed"
    fresh = await put(client, signed_in, CORE[1], "done", **{"if-match": changed.headers["etag"]})
    assert fresh.status_code == 200


async def test_a_batch_is_all_or_nothing(client: Client, signed_in: dict[str, str]) -> None:
    good = [{"topic_id": t, "status": "done"} for t in CORE[:4]]
    batch = await client.post(f"{BASE}/batch", json={"changes": good}, headers=signed_in)
    assert batch.status_code == 200, batch.text
    assert [r["status"] for r in batch.json()] == ["done"] * 4
    unknown = [*good[:1], {"topic_id": "nosuch.topic", "status": "done"}]
    refused = await client.post(f"{BASE}/batch", json={"changes": unknown}, headers=signed_in)
    assert refused.status_code == 404
    twice = [{"topic_id": CORE[5], "status": "done"}, {"topic_id": CORE[5], "status": "learning"}]
    duplicate = await client.post(f"{BASE}/batch", json={"changes": twice}, headers=signed_in)
    assert duplicate.status_code == 422
    assert duplicate.json()["errors"][0]["field"] == "changes[1].topic_id"
    body = (await client.get(BASE, headers=signed_in)).json()
    assert body["counts"]["done"] == 4  # nothing of the refused batches was written


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        (f"{BASE}/topics/{CORE[0]}", {"status": "finished"}, 422, "validation-failed"),
        (f"{BASE}/topics/nosuch.topic", {"status": "done"}, 404, "not-found"),
        ("/api/v1/me/progress/nosuch/topics/a.b", {"status": "done"}, 404, "not-found"),
        (f"{BASE}/topics/{CORE[0]}", {"status": "done", "extra": 1}, 422, "validation-failed"),
    ],
)
async def test_bad_changes_are_clear_problems(
    client: Client, signed_in: dict[str, str], path: str, body: Any, status: int, code: str
) -> None:
    response = await client.put(path, json=body, headers=signed_in)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


async def test_history_is_paginated_newest_first(client: Client, signed_in: dict[str, str]) -> None:
    for status in ("learning", "done", "pending", "skipped"):
        await put(client, signed_in, CORE[0], status)
    page = (await client.get(f"{BASE}/history?limit=3", headers=signed_in)).json()
    assert [e["seq"] for e in page] == [4, 3, 2]
    assert [(e["from_status"], e["to_status"]) for e in page] == [
        ("pending", "skipped"), ("done", "pending"), ("learning", "done"),
    ]  # fmt: skip
    rest = (await client.get(f"{BASE}/history?before=2", headers=signed_in)).json()
    assert [e["seq"] for e in rest] == [1]


async def test_learners_never_see_or_change_each_others_progress(
    client: Client, signed_in: dict[str, str], mail_dir: Path
) -> None:
    await put(client, signed_in, CORE[0], "done")
    await register_verified(client, mail_dir, "other@example.org")
    other = bearer(await login_tokens(client, "other@example.org"))
    theirs = (await client.get(BASE, headers=other)).json()
    assert theirs["counts"]["done"] == 0
    assert (await client.get(f"{BASE}/history", headers=other)).json() == []
    await put(client, other, CORE[0], "skipped")
    mine = (await client.get(BASE, headers=signed_in)).json()
    assert mine["statuses"][CORE[0]] == "done"
    assert (await client.get(BASE)).status_code == 401


async def test_a_change_is_published_as_a_versioned_event(
    app: Litestar, client: Client, signed_in: dict[str, str], db: Database
) -> None:
    seen: list[OutboxMessage] = []

    async def consumer(message: OutboxMessage) -> None:
        seen.append(message)

    app.state.container.handlers.subscribe(TOPIC_STATUS_CHANGED, "test.consumer", consumer)
    await put(client, signed_in, CORE[0], "done")
    await put(client, signed_in, CORE[0], "done")  # no change: no event
    await settle_outbox(client, db)
    (message,) = seen
    event = msgspec.json.decode(message.payload)
    assert event["version"] == 1
    assert (event["roadmap"], event["topic_id"], event["seq"]) == ("backend", CORE[0], 1)
    assert (event["from_status"], event["to_status"]) == ("pending", "done")
    assert (event["done"], event["total"]) == (1, 45)


async def test_streaks_count_days_in_the_learners_time_zone(
    app: Litestar, client: Client, signed_in: dict[str, str]
) -> None:
    zone = {"time_zone": "Pacific/Kiritimati"}  # UTC+14: its days are not UTC's
    assert (await client.patch("/api/v1/me", json=zone, headers=signed_in)).status_code == 200
    clock = app.state.container.clock
    start = datetime.now(UTC)

    async def travel(days: int) -> dict[str, str]:
        """Days later: a token from then (one from now would have expired)."""
        clock.offset = (start + timedelta(days=days) - datetime.now(UTC)).total_seconds()
        return bearer(await login_tokens(client, "signed-in@example.org"))

    for day, topic in enumerate(CORE[:3]):  # three days in a row
        await put(client, await travel(day), topic, "done")
    then = await travel(5)  # a gap, then one day
    await put(client, then, CORE[3], "done")
    streak = (await client.get("/api/v1/me/streak", headers=then)).json()
    today = (start + timedelta(days=5)).astimezone(ZoneInfo("Pacific/Kiritimati")).date()
    assert streak == {
        "current": 1,
        "longest": 3,
        "active_today": True,
        "last_active_day": today.isoformat(),
        "time_zone": "Pacific/Kiritimati",
    }
    later = await travel(6)  # the next day: the run still stands until it is over
    assert (await client.get("/api/v1/me/streak", headers=later)).json()["current"] == 1
    later = await travel(7)
    assert (await client.get("/api/v1/me/streak", headers=later)).json()["current"] == 0


async def test_what_changed_since_the_version_a_learner_saw(
    app: Litestar, client: Client, signed_in: dict[str, str], db: Database
) -> None:
    await put(client, signed_in, CORE[0], "done")  # the first change marks version 1 seen
    assert (await client.get(BASE, headers=signed_in)).json()["changes_since_seen"] is None
    first, *rest = SPEC.sections
    edited = msgspec.structs.replace(
        SPEC,
        sections=[
            msgspec.structs.replace(
                first,
                topics=[
                    msgspec.structs.replace(first.topics[0], description="Now with examples."),
                    *first.topics[2:],
                    TopicSpec(id=f"{first.id}.brand-new", title="Brand new"),
                ],
            ),
            *rest,
        ],
    )
    async with db.transaction() as conn:
        await import_roadmap(conn, edited, now=utcnow())
    app.state.container.roadmaps.invalidate("backend")
    body = (await client.get(BASE, headers=signed_in)).json()
    assert body["changes_since_seen"] == {
        "since_version": 1,
        "added": [f"{first.id}.brand-new"],
        "changed": [first.topics[0].id],
        "removed": [first.topics[1].id],
    }
    assert body["counts"]["total"] == 45
    seen = await client.post(f"{BASE}/seen", headers=signed_in)
    assert seen.status_code == 204
    assert (await client.get(BASE, headers=signed_in)).json()["changes_since_seen"] is None


async def test_deleting_the_account_deletes_its_progress(
    client: Client, signed_in: dict[str, str], db: Database
) -> None:
    from sqlalchemy import func, select

    from waymark.features.progress.tables import progress_days, progress_events, topic_progress

    await put(client, signed_in, CORE[0], "done")
    gone = await client.request(
        "DELETE", "/api/v1/me", json={"password": "correct horse battery staple"}, headers=signed_in
    )
    assert gone.status_code == 204, gone.text
    async with db.read() as conn:
        for table in (progress_events, topic_progress, progress_days):
            assert await conn.scalar(select(func.count()).select_from(table)) == 0, table.name
