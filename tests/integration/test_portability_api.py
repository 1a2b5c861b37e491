"""The account's export and import, over HTTP: one versioned document with everything the
account holds; imported into another account it reproduces the progress, notes and resources;
imported twice it changes nothing; bad documents are refused whole, with the field named."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.auth_helpers import Client, bearer, login_tokens, register_verified
from tests.conftest import BACKEND_ROADMAP
from tests.integration.notifications_support import centre_on, give
from waymark.features.portability.schemas import ExportDocument
from waymark.features.progress.schemas import STATUSES
from waymark.features.roadmaps import document
from waymark.infra.sql.database import Database

pytestmark = pytest.mark.usefixtures("backend_roadmap", "unthrottled")

SPEC = document.load(BACKEND_ROADMAP)
ALL = [t.id for s in SPEC.sections for t in s.topics]
PROGRESS = "/api/v1/me/progress/backend"
OWNED = ("progress", "notes", "resources")
_accounts = iter(range(1_000_000))


async def learner(client: Client, mail_dir: Path) -> dict[str, str]:
    email = f"learner-{next(_accounts)}@example.org"
    await register_verified(client, mail_dir, email)
    return bearer(await login_tokens(client, email))


async def export(client: Client, auth: dict[str, str]) -> dict[str, Any]:
    answer = await client.get("/api/v1/me/export", headers=auth)
    assert answer.status_code == 200, answer.text
    msgspec.json.decode(answer.content, type=ExportDocument)  # the documented shape
    return answer.json()  # type: ignore[no-any-return]


async def import_(client: Client, auth: dict[str, str], body: Any) -> Any:
    content = body if isinstance(body, bytes) else msgspec.json.encode(body)
    return await client.post(
        "/api/v1/me/import",
        content=content,
        headers=auth | {"content-type": "application/json"},
    )


async def make_things(client: Client, auth: dict[str, str]) -> None:
    """Progress, a version seen, a note and two resources."""
    changes = [{"topic_id": ALL[0], "status": "done"}, {"topic_id": ALL[1], "status": "learning"}]
    made = await client.post(f"{PROGRESS}/batch", json={"changes": changes}, headers=auth)
    assert made.status_code == 200, made.text
    done = await client.put(f"{PROGRESS}/topics/{ALL[1]}", json={"status": "done"}, headers=auth)
    assert done.status_code == 200, done.text
    note = await client.put(
        f"/api/v1/me/notes/backend/{ALL[0]}", json={"markdown": "# Mine\n\n- read the docs"},
        headers=auth,
    )  # fmt: skip
    assert note.status_code in (200, 201), note.text
    for title in ("The manual", "A video"):
        added = await client.post(
            f"/api/v1/me/resources/backend/{ALL[0]}",
            json={"title": title, "url": "https://example.org/x", "kind": "article"},
            headers=auth,
        )
        assert added.status_code == 201, added.text


async def test_the_export_holds_everything_the_account_has(
    client: Client, mail_dir: Path, db: Database
) -> None:
    auth = await learner(client, mail_dir)
    await make_things(client, auth)
    me_id = uuid.UUID((await client.get("/api/v1/me", headers=auth)).json()["id"])
    await give(centre_on(db), me_id, 2)
    answer = await client.get("/api/v1/me/export", headers=auth)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["content-disposition"].startswith('attachment; filename="waymark-export-')
    body = answer.json()
    assert (body["format"], body["version"]) == ("waymark-export", 1)
    me = (await client.get("/api/v1/me", headers=auth)).json()
    assert body["profile"] == me
    assert any(session["current"] for session in body["sessions"])
    kinds = [event["kind"] for event in body["audit"]]  # newest first
    assert kinds[-1] == "account.registered"
    assert "login.succeeded" in kinds
    [log] = body["progress"]
    assert log["roadmap"] == "backend"
    assert [(e["seq"], e["topic_id"], e["from_status"], e["to_status"]) for e in log["events"]] == [
        (1, ALL[0], "pending", "done"),
        (2, ALL[1], "pending", "learning"),
        (3, ALL[1], "learning", "done"),
    ]
    assert [n["markdown"] for n in body["notes"]] == ["# Mine\n\n- read the docs"]
    assert [r["title"] for r in body["resources"]] == ["The manual", "A video"]
    assert [n["text"] for n in body["notifications"]] == ["k reminder 1", "k reminder 0"]
    assert "password" not in answer.text
    assert "token" not in {key for session in body["sessions"] for key in session}


async def test_an_export_imported_elsewhere_reproduces_the_account(
    client: Client, mail_dir: Path, db: Database
) -> None:
    """The issue's "done when": export, import into a second account, same progress (its
    notifications are read past: they tell of this site's teams and people)."""
    first, second = await learner(client, mail_dir), await learner(client, mail_dir)
    await make_things(client, first)
    first_id = uuid.UUID((await client.get("/api/v1/me", headers=first)).json()["id"])
    await give(centre_on(db), first_id, 1)
    exported = await export(client, first)
    assert len(exported["notifications"]) == 1

    imported = await import_(client, second, exported)
    assert imported.status_code == 200, imported.text
    report = imported.json()
    assert report["progress"]["events_added"] == 3
    assert (report["notes"]["notes_added"], report["notes"]["resources_added"]) == (1, 2)

    mine = (await client.get(PROGRESS, headers=first)).json()
    theirs = (await client.get(PROGRESS, headers=second)).json()
    for field in ("counts", "statuses", "next_up", "sections", "completed_at", "started_at"):
        assert mine[field] == theirs[field], field
    again = await export(client, second)
    for part in OWNED:
        assert again[part] == exported[part], part
    assert again["notifications"] == []

    twice = await import_(client, second, exported)
    assert twice.status_code == 200
    assert twice.json()["progress"]["events_added"] == 0
    assert twice.json()["progress"]["events_unchanged"] == 3
    assert twice.json()["notes"]["notes_added"] == 0
    assert twice.json()["notes"]["resources_added"] == 0
    assert {part: (await export(client, second))[part] for part in OWNED} == {
        part: again[part] for part in OWNED
    }


async def test_what_this_waymark_lacks_is_reported_not_fatal(
    client: Client, mail_dir: Path
) -> None:
    auth = await learner(client, mail_dir)
    doc = {
        "format": "waymark-export",
        "version": 1,
        "progress": [
            {"roadmap": "frontend", "events": []},
            {
                "roadmap": "backend",
                "events": [
                    {"seq": 1, "topic_id": "gone.topic", "from_status": "pending",
                     "to_status": "done", "at": "2026-01-02T03:04:05Z", "roadmap_version": 1},
                    {"seq": 2, "topic_id": ALL[3], "from_status": "pending",
                     "to_status": "skipped", "at": "2026-01-02T03:04:06Z", "roadmap_version": 1},
                ],
            },
        ],
    }  # fmt: skip
    answer = await import_(client, auth, doc)
    assert answer.status_code == 200, answer.text
    progress = answer.json()["progress"]
    assert progress["unknown_roadmaps"] == ["frontend"]
    assert progress["unknown_topics"] == ["backend/gone.topic"]
    assert progress["events_added"] == 1
    view = (await client.get(PROGRESS, headers=auth)).json()
    assert view["statuses"][ALL[3]] == "skipped"


@pytest.mark.parametrize(
    ("change", "status", "code", "field"),
    [
        (lambda d: d.update(format="other"), 422, "validation-failed", "format"),
        (lambda d: d.update(version=2), 422, "validation-failed", "version"),
        (
            lambda d: d["progress"][0]["events"][1].update(from_status="learning"),
            422,
            "validation-failed",
            "progress[0].events[1].from_status",
        ),
        (
            lambda d: d["progress"][0]["events"][0].update(at="2026-01-02T03:04:05"),
            422,
            "validation-failed",
            "progress[0].events[0].at",
        ),
        (
            lambda d: d["notes"].append(
                {"slug": "backend", "topic_id": ALL[0], "markdown": "x\x00",
                 "created_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:04:05Z"}
            ),
            422,
            "validation-failed",
            "notes[0]",
        ),
    ],
)  # fmt: skip
async def test_a_bad_document_is_refused_whole(
    client: Client, mail_dir: Path, change: Any, status: int, code: str, field: str
) -> None:
    auth = await learner(client, mail_dir)
    at = "2026-01-02T03:04:05Z"
    doc: dict[str, Any] = {
        "format": "waymark-export",
        "version": 1,
        "progress": [
            {
                "roadmap": "backend",
                "events": [
                    {"seq": 1, "topic_id": ALL[0], "from_status": "pending",
                     "to_status": "done", "at": at, "roadmap_version": 1},
                    {"seq": 2, "topic_id": ALL[0], "from_status": "done",
                     "to_status": "learning", "at": at, "roadmap_version": 1},
                ],
            }
        ],
        "notes": [],
    }  # fmt: skip
    change(doc)
    answer = await import_(client, auth, doc)
    assert answer.status_code == status, answer.text
    problem = answer.json()
    assert problem["code"] == code
    assert [error["field"] for error in problem["errors"]] == [field]
    exported = await export(client, auth)
    assert (exported["progress"], exported["notes"]) == ([], [])  # nothing written


async def test_bodies_that_are_no_export_are_refused(client: Client, mail_dir: Path) -> None:
    auth = await learner(client, mail_dir)
    broken = await import_(client, auth, b'{"format": "waymark-export", ')
    assert (broken.status_code, broken.json()["code"]) == (400, "malformed-body")
    wrong_type = await client.post(
        "/api/v1/me/import", content=b"format=x", headers=auth | {"content-type": "text/plain"}
    )
    assert (wrong_type.status_code, wrong_type.json()["code"]) == (415, "unsupported-media-type")
    anonymous = await client.post(
        "/api/v1/me/import", content=b"{}", headers={"content-type": "application/json"}
    )
    assert anonymous.status_code == 401
    assert (await client.get("/api/v1/me/export")).status_code == 401


# -- any account's data, round trip ---------------------------------------------------------

texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Cf")), min_size=1, max_size=40
).filter(str.strip)
things = st.fixed_dictionaries(
    {
        "moves": st.lists(
            st.tuples(st.sampled_from(ALL[:8]), st.sampled_from(STATUSES)),
            max_size=12,
        ),
        "notes": st.dictionaries(st.sampled_from(ALL[:8]), texts, max_size=3),
        "resources": st.lists(st.tuples(st.sampled_from(ALL[:8]), texts), max_size=4),
    }
)  # fmt: skip


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(made=things)
async def test_any_accounts_data_survives_the_round_trip(
    client: Client, mail_dir: Path, made: dict[str, Any]
) -> None:
    source, copy = await learner(client, mail_dir), await learner(client, mail_dir)
    for topic, status in made["moves"]:
        await client.put(f"{PROGRESS}/topics/{topic}", json={"status": status}, headers=source)
    for topic, text in made["notes"].items():
        await client.put(
            f"/api/v1/me/notes/backend/{topic}", json={"markdown": text}, headers=source
        )
    for topic, title in made["resources"]:
        await client.post(
            f"/api/v1/me/resources/backend/{topic}",
            json={"title": title, "url": "https://example.org/r"},
            headers=source,
        )
    exported = await export(client, source)
    assert (await import_(client, copy, exported)).status_code == 200
    again = await export(client, copy)
    assert {p: again[p] for p in OWNED} == {p: exported[p] for p in OWNED}
    assert (await import_(client, copy, again)).json()["progress"]["events_added"] == 0
    assert {p: (await export(client, copy))[p] for p in OWNED} == {p: again[p] for p in OWNED}
