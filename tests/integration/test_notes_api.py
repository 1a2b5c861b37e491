"""Notes and own resources over HTTP: reading and writing them, versions and `If-Match`,
what is refused (and that a refusal writes nothing), topics that are unknown or retired,
one account never reaching another's, and erasure with the account."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from sqlalchemy import func, select

from tests.auth_helpers import (
    PASSWORD,
    Client,
    bearer,
    login_tokens,
    register_verified,
    settle_outbox,
)
from tests.conftest import BACKEND_ROADMAP
from tests.integration.notifications_support import centre_on, give
from waymark.features.notes.http import NOTE_BODY_BYTES
from waymark.features.progress.tables import (
    progress_days,
    progress_events,
    progress_visits,
    roadmap_progress,
    section_progress,
    topic_progress,
)
from waymark.features.roadmaps import document
from waymark.features.roadmaps.service import import_roadmap
from waymark.infra.sql.database import Database
from waymark.infra.sql.documents import SqlDocumentStore
from waymark.kernel.clock import utcnow

pytestmark = pytest.mark.usefixtures("backend_roadmap")

NOTE = "/api/v1/me/notes/backend/databases.redis"
OTHER_NOTE = "/api/v1/me/notes/backend/databases.postgresql"
PROGRESS = "/api/v1/me/progress/backend/topics/databases.redis"
PROGRESS_TABLES = (
    progress_events,
    topic_progress,
    roadmap_progress,
    section_progress,
    progress_days,
    progress_visits,
)
RESOURCES = "/api/v1/me/resources/backend/databases.redis"
LINK = {"title": "Redis in Action", "url": "https://redis.io/docs/latest/", "kind": "book"}


def fields(response: Any) -> list[str]:
    """The fields a 422 names (Litestar's schema checks say `body.x`, ours `x`)."""
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "validation-failed"
    return [e["field"].removeprefix("body.") for e in problem["errors"]]


async def sign_in(client: Client, mail_dir: Path, email: str) -> dict[str, str]:
    await register_verified(client, mail_dir, email)
    return bearer(await login_tokens(client, email))


async def account_id(client: Client, auth: dict[str, str]) -> str:
    return (await client.get("/api/v1/me", headers=auth)).json()["id"]  # type: ignore[no-any-return]


# -- Notes ---------------------------------------------------------------------------------


async def test_a_note_is_written_read_replaced_and_deleted(
    client: Client, signed_in: dict[str, str]
) -> None:
    missing = await client.get(NOTE, headers=signed_in)
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no note on this topic yet"

    created = await client.put(
        NOTE, json={"markdown": "# Redis\n\n- sorted sets"}, headers=signed_in
    )
    assert created.status_code == 201, created.text
    note = created.json()
    assert note["slug"] == "backend"
    assert note["topic_id"] == "databases.redis"
    assert note["markdown"] == "# Redis\n\n- sorted sets"
    assert note["created_at"] == note["updated_at"]
    assert created.headers["cache-control"] == "no-store"

    read = await client.get(NOTE, headers=signed_in)
    assert read.status_code == 200
    assert read.json() == note
    assert read.headers["etag"] == created.headers["etag"]
    assert read.headers["cache-control"] == "no-store"

    replaced = await client.put(NOTE, json={"markdown": "pub/sub too"}, headers=signed_in)
    assert replaced.status_code == 200
    assert replaced.headers["etag"] != created.headers["etag"]
    assert replaced.json()["created_at"] == note["created_at"]
    assert replaced.json()["updated_at"] >= note["updated_at"]

    assert (await client.delete(NOTE, headers=signed_in)).status_code == 204
    assert (await client.get(NOTE, headers=signed_in)).status_code == 404
    assert (await client.delete(NOTE, headers=signed_in)).status_code == 404


async def test_if_match_changes_only_the_version_named(
    client: Client, signed_in: dict[str, str]
) -> None:
    async def put(markdown: str, if_match: str) -> Any:
        return await client.put(
            NOTE, json={"markdown": markdown}, headers={**signed_in, "if-match": if_match}
        )

    nothing_yet = await put("first", "*")
    assert nothing_yet.status_code == 412
    assert nothing_yet.json()["code"] == "precondition-failed"
    assert (await client.get(NOTE, headers=signed_in)).status_code == 404

    first = await client.put(NOTE, json={"markdown": "first"}, headers=signed_in)
    tab_a = tab_b = first.headers["etag"]
    saved_by_a = await put("from tab A", tab_a)
    assert saved_by_a.status_code == 200
    lost_by_b = await put("from tab B", tab_b)
    assert lost_by_b.status_code == 412
    assert (await client.get(NOTE, headers=signed_in)).json()["markdown"] == "from tab A"

    current = saved_by_a.headers["etag"]
    assert (await put("weak", f"W/{current}")).status_code == 412  # compared strongly
    assert (await put("garbage", "not an entity tag")).status_code == 412
    assert (await put("one of", f'"other", {current}')).status_code == 200
    assert (await put("any", "*")).status_code == 200

    stale = await client.delete(NOTE, headers={**signed_in, "if-match": current})
    assert stale.status_code == 412
    latest = (await client.get(NOTE, headers=signed_in)).headers["etag"]
    deleted = await client.delete(NOTE, headers={**signed_in, "if-match": latest})
    assert deleted.status_code == 204
    assert (await client.get(NOTE, headers=signed_in)).status_code == 404


async def test_a_browser_session_writes_notes_with_its_csrf_token(
    client: Client, signed_in: dict[str, str]
) -> None:
    email = (await client.get("/api/v1/me", headers=signed_in)).json()["email"]
    login = await client.post(
        "/api/v1/auth/login", json={"email": email, "password": PASSWORD, "mode": "session"}
    )
    cookie = {"cookie": login.headers["set-cookie"].split(";", 1)[0]}
    csrf = {"x-csrf-token": login.json()["csrf_token"]}

    refused = await client.put(NOTE, json={"markdown": "x"}, headers=cookie)
    assert refused.status_code == 403
    assert refused.json()["code"] == "csrf-failed"
    added = await client.post(RESOURCES, json=LINK, headers=cookie)
    assert added.status_code == 403
    assert (await client.get(NOTE, headers=cookie)).status_code == 404  # nothing was written

    assert (
        await client.put(NOTE, json={"markdown": "x"}, headers={**cookie, **csrf})
    ).status_code == 201
    assert (await client.post(RESOURCES, json=LINK, headers={**cookie, **csrf})).status_code == 201
    assert (await client.get(NOTE, headers=cookie)).json()["markdown"] == "x"


async def test_without_credentials_nothing_is_answered(client: Client) -> None:
    for method, url in [
        ("GET", NOTE),
        ("PUT", NOTE),
        ("DELETE", NOTE),
        ("GET", RESOURCES),
        ("POST", RESOURCES),
        ("DELETE", "/api/v1/me/resources/AAAAAAAAAAAAAAAAAAAAAA"),
    ]:
        body = {"markdown": "x"} if method == "PUT" else LINK if method == "POST" else None
        response = await client.request(method, url, json=body)
        assert response.status_code == 401, (method, url)


async def test_a_note_holds_at_most_64_kib_of_utf8(
    client: Client, signed_in: dict[str, str]
) -> None:
    limit = 64 * 1024
    largest = await client.put(NOTE, json={"markdown": "a" * limit}, headers=signed_in)
    assert largest.status_code == 201
    full = await client.get(NOTE, headers=signed_in)
    assert full.json()["markdown"] == "a" * limit

    for markdown in ("a" * (limit + 1), "é" * (limit // 2 + 1), "🦉" * (limit // 4 + 1)):
        # Fewer characters than the limit for the last two: the bytes count.
        assert fields(await client.put(NOTE, json={"markdown": markdown}, headers=signed_in)) == [
            "markdown"
        ]
    assert (await client.get(NOTE, headers=signed_in)).json() == full.json()

    # The largest note fits however its JSON is escaped (`\u00e9` is six bytes for two).
    escaped = json.dumps({"markdown": "é" * (limit // 2)}, ensure_ascii=True).encode()
    assert len(escaped) > 3 * limit
    response = await client.put(
        NOTE, content=escaped, headers={**signed_in, "content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert (await client.get(NOTE, headers=signed_in)).json()["markdown"] == "é" * (limit // 2)
    # Past that, the body is refused before it is read.
    huge = b'{"markdown": "' + b"a" * NOTE_BODY_BYTES + b'"}'
    response = await client.put(
        NOTE, content=huge, headers={**signed_in, "content-type": "application/json"}
    )
    assert response.status_code == 413


@pytest.mark.parametrize("bad", ["nul \x00", "bell \x07", "escape \x1b[31m", "del \x7f", "c1 \x85"])
async def test_notes_refuse_control_characters_but_tabs_and_line_breaks(
    client: Client, signed_in: dict[str, str], bad: str
) -> None:
    assert fields(await client.put(NOTE, json={"markdown": bad}, headers=signed_in)) == ["markdown"]
    assert (await client.get(NOTE, headers=signed_in)).status_code == 404
    text = "a\tb\r\nc\n"
    assert (await client.put(NOTE, json={"markdown": text}, headers=signed_in)).status_code == 201
    assert (await client.get(NOTE, headers=signed_in)).json()["markdown"] == text


# -- Resources -----------------------------------------------------------------------------


async def test_resources_are_added_listed_in_order_and_deleted(
    client: Client, signed_in: dict[str, str]
) -> None:
    assert (await client.get(RESOURCES, headers=signed_in)).json() == []
    added = []
    for n, kind in enumerate(["article", "video", "course", "book", "other"]):
        response = await client.post(
            RESOURCES,
            json={"title": f"#{n}", "url": f"https://example.org/{n}", "kind": kind},
            headers=signed_in,
        )
        assert response.status_code == 201, response.text
        added.append(response.json())
    assert len({r["id"] for r in added}) == 5
    assert added[0]["slug"] == "backend"
    assert added[0]["topic_id"] == "databases.redis"
    default = await client.post(
        RESOURCES, json={"title": "t", "url": "http://a.b"}, headers=signed_in
    )
    assert default.json()["kind"] == "other"
    added.append(default.json())

    listed = await client.get(RESOURCES, headers=signed_in)
    assert listed.json() == added
    assert listed.headers["cache-control"] == "no-store"

    gone = added.pop(2)
    url = f"/api/v1/me/resources/{gone['id']}"
    assert (await client.delete(url, headers=signed_in)).status_code == 204
    assert (await client.delete(url, headers=signed_in)).status_code == 404
    assert (await client.get(RESOURCES, headers=signed_in)).json() == added
    for resource in added:
        deleted = await client.delete(f"/api/v1/me/resources/{resource['id']}", headers=signed_in)
        assert deleted.status_code == 204
    assert (await client.get(RESOURCES, headers=signed_in)).json() == []


async def test_urls_are_kept_as_given(client: Client, signed_in: dict[str, str]) -> None:
    for url in [
        "HTTPS://Example.ORG/a%20b?q=1&r=ü#frag",
        "http://127.0.0.1:8080/",
        "https://[2001:db8::1]/",
        "https://example.org/" + "x" * (2048 - len("https://example.org/")),
    ]:
        response = await client.post(RESOURCES, json={**LINK, "url": url}, headers=signed_in)
        assert response.status_code == 201, (url, response.text)
        assert response.json()["url"] == url
    listed = (await client.get(RESOURCES, headers=signed_in)).json()
    assert listed[0]["url"] == "HTTPS://Example.ORG/a%20b?q=1&r=ü#frag"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"url": "javascript:alert(1)"}, "url"),
        ({"url": "data:text/html,<script>alert(1)</script>"}, "url"),
        ({"url": "ftp://example.org/file"}, "url"),
        ({"url": "mailto:ada@example.org"}, "url"),
        ({"url": "//example.org/no-scheme"}, "url"),
        ({"url": "https://"}, "url"),
        ({"url": "https:///path-only"}, "url"),
        ({"url": "https://exa mple.org/"}, "url"),
        ({"url": "https://example.org/\u202egnp.exe"}, "url"),
        ({"url": "https://example.org/\n"}, "url"),
        ({"url": "https://example.org:99999/"}, "url"),
        ({"url": "https://[::1/"}, "url"),
        ({"url": "https://example.org/" + "x" * 2029}, "url"),
        ({"url": ""}, "url"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "tab\tin title"}, "title"),
        ({"title": "nul\x00"}, "title"),
        ({"title": "c1\x9b"}, "title"),
        ({"kind": "blog"}, "kind"),
        ({"title": 7}, "title"),
    ],
)
async def test_bad_resources_are_refused_naming_the_field(
    client: Client, signed_in: dict[str, str], change: dict[str, Any], field: str
) -> None:
    response = await client.post(RESOURCES, json={**LINK, **change}, headers=signed_in)
    assert fields(response) == [field]
    assert (await client.get(RESOURCES, headers=signed_in)).json() == []


async def test_titles_of_200_characters_and_emoji_are_fine(
    client: Client, signed_in: dict[str, str]
) -> None:
    for title in ("x" * 200, "👩\u200d👩\u200d👧 family guide", "Ünïcödé"):
        response = await client.post(RESOURCES, json={**LINK, "title": title}, headers=signed_in)
        assert response.status_code == 201, response.text
        assert response.json()["title"] == title


@pytest.mark.usefixtures("unthrottled")
async def test_a_topic_holds_at_most_50_resources_even_when_added_at_once(
    client: Client, signed_in: dict[str, str]
) -> None:
    for n in range(45):
        assert (
            await client.post(RESOURCES, json={**LINK, "title": f"#{n}"}, headers=signed_in)
        ).status_code == 201
    at_once = await asyncio.gather(
        *(
            client.post(RESOURCES, json={**LINK, "title": f"late {n}"}, headers=signed_in)
            for n in range(12)
        )
    )
    statuses = [r.status_code for r in at_once]
    # Each add is a conditional write of the topic's one document: losers count again, and
    # past the maximum they are refused. (A burst may also exhaust an add's retries: 409.)
    assert set(statuses) <= {201, 409, 422}, statuses
    listed = (await client.get(RESOURCES, headers=signed_in)).json()
    assert len(listed) == 45 + statuses.count(201) <= 50
    while len(listed) < 50:
        assert (await client.post(RESOURCES, json=LINK, headers=signed_in)).status_code == 201
        listed = (await client.get(RESOURCES, headers=signed_in)).json()
    full = await client.post(RESOURCES, json=LINK, headers=signed_in)
    assert fields(full) == ["resources"]
    assert len((await client.get(RESOURCES, headers=signed_in)).json()) == 50
    # Another topic has room of its own.
    elsewhere = "/api/v1/me/resources/backend/databases.postgresql"
    assert (await client.post(elsewhere, json=LINK, headers=signed_in)).status_code == 201


# -- Topics --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slug", "topic_id"),
    [
        ("nosuch", "databases.redis"),
        ("backend", "databases.nosuch"),
        ("backend", "databases"),
        ("BACKEND", "databases.redis"),
        ("backend", "Databases.Redis"),
        ("backend", "x" * 200 + ".y"),
        ("backend", "databases.redis%00"),
    ],
)
async def test_unknown_topics_are_404_for_every_route(
    client: Client, signed_in: dict[str, str], slug: str, topic_id: str
) -> None:
    note = f"/api/v1/me/notes/{slug}/{topic_id}"
    resources = f"/api/v1/me/resources/{slug}/{topic_id}"
    for response in [
        await client.get(note, headers=signed_in),
        await client.put(note, json={"markdown": "x"}, headers=signed_in),
        await client.delete(note, headers=signed_in),
        await client.get(resources, headers=signed_in),
        await client.post(resources, json=LINK, headers=signed_in),
    ]:
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "not-found"


async def test_a_retired_topic_keeps_what_was_written_but_takes_nothing_new(
    app: Litestar, client: Client, signed_in: dict[str, str], db: Database
) -> None:
    await client.put(NOTE, json={"markdown": "kept"}, headers=signed_in)
    first = (await client.post(RESOURCES, json=LINK, headers=signed_in)).json()
    second = (await client.post(RESOURCES, json=LINK, headers=signed_in)).json()

    spec = document.load(BACKEND_ROADMAP)
    for section in spec.sections:
        section.topics = [t for t in section.topics if t.id != "databases.redis"]
    async with db.transaction() as conn:
        assert (await import_roadmap(conn, spec, now=utcnow())).retired_topics == 1
    app.state.container.roadmaps.invalidate("backend")

    assert (await client.get(NOTE, headers=signed_in)).json()["markdown"] == "kept"
    assert (await client.get(RESOURCES, headers=signed_in)).json() == [first, second]
    assert (await client.put(NOTE, json={"markdown": "new"}, headers=signed_in)).status_code == 404
    assert (await client.post(RESOURCES, json=LINK, headers=signed_in)).status_code == 404
    assert (await client.get(NOTE, headers=signed_in)).json()["markdown"] == "kept"
    # What the learner wrote stays theirs to remove.
    resource_url = f"/api/v1/me/resources/{first['id']}"
    assert (await client.delete(resource_url, headers=signed_in)).status_code == 204
    assert (await client.get(RESOURCES, headers=signed_in)).json() == [second]
    assert (await client.delete(NOTE, headers=signed_in)).status_code == 204
    # Once nothing is left, the topic is as unknown for reads as for writes.
    await client.delete(f"/api/v1/me/resources/{second['id']}", headers=signed_in)
    assert (await client.get(RESOURCES, headers=signed_in)).status_code == 404
    assert (await client.get(NOTE, headers=signed_in)).json()["detail"].startswith("no topic")


# -- One account never reaches another's ---------------------------------------------------


async def test_an_account_never_reads_changes_or_deletes_anothers_notes_or_resources(
    client: Client, signed_in: dict[str, str], mail_dir: Path
) -> None:
    ada = signed_in
    written = await client.put(NOTE, json={"markdown": "Ada's"}, headers=ada)
    ada_etag = written.headers["etag"]
    ada_link = (await client.post(RESOURCES, json=LINK, headers=ada)).json()
    ada_view = {
        "note": (await client.get(NOTE, headers=ada)).json(),
        "resources": (await client.get(RESOURCES, headers=ada)).json(),
    }

    bob = await sign_in(client, mail_dir, "bob@example.org")
    assert (await client.get(NOTE, headers=bob)).status_code == 404
    assert (await client.get(RESOURCES, headers=bob)).json() == []
    resource_url = f"/api/v1/me/resources/{ada_link['id']}"
    not_bobs = await client.delete(resource_url, headers=bob)
    assert not_bobs.status_code == 404
    assert not_bobs.json()["detail"] == "no such resource"  # as for an id nobody has
    assert (await client.delete(NOTE, headers=bob)).status_code == 404
    # Ada's version means nothing for Bob's (absent) note: nothing is created or changed.
    conditional = {**bob, "if-match": ada_etag}
    assert (await client.put(NOTE, json={"markdown": "x"}, headers=conditional)).status_code == 412
    assert (await client.delete(NOTE, headers=conditional)).status_code == 404

    # Bob's own note and resource on the same topic are his alone.
    assert (await client.put(NOTE, json={"markdown": "Bob's"}, headers=bob)).status_code == 201
    bob_link = (await client.post(RESOURCES, json=LINK, headers=bob)).json()
    assert bob_link["id"] != ada_link["id"]
    assert (await client.get(NOTE, headers=bob)).json()["markdown"] == "Bob's"
    with_ada_tag = await client.put(NOTE, json={"markdown": "y"}, headers=conditional)
    assert with_ada_tag.status_code == 412
    assert (await client.delete(NOTE, headers=conditional)).status_code == 412
    assert (await client.delete(resource_url, headers=bob)).status_code == 404

    assert (await client.get(NOTE, headers=ada)).json() == ada_view["note"]
    assert (await client.get(NOTE, headers=ada)).headers["etag"] == ada_etag
    assert (await client.get(RESOURCES, headers=ada)).json() == ada_view["resources"]
    # And Ada cannot reach Bob's either.
    bob_url = f"/api/v1/me/resources/{bob_link['id']}"
    assert (await client.delete(bob_url, headers=ada)).status_code == 404
    assert (await client.get(RESOURCES, headers=bob)).json() == [bob_link]


# -- Erasure with the account --------------------------------------------------------------


async def progress_rows(db: Database, owner: str) -> dict[str, int]:
    """How many rows of each progress table belong to the account."""
    counts = {}
    async with db.read() as conn:
        for table in PROGRESS_TABLES:
            query = select(func.count()).where(table.c.user_id == uuid.UUID(owner))
            counts[table.name] = int(await conn.scalar(query) or 0)
    return counts


async def test_deleting_an_account_erases_its_progress_notes_resources_and_notifications(
    client: Client, signed_in: dict[str, str], mail_dir: Path, db: Database
) -> None:
    ada, store = signed_in, SqlDocumentStore(db)
    ada_id = await account_id(client, ada)
    changed = await client.put(PROGRESS, json={"status": "done"}, headers=ada)
    assert changed.status_code == 200, changed.text
    await client.put(NOTE, json={"markdown": "Ada's"}, headers=ada)
    await client.put(OTHER_NOTE, json={"markdown": "more"}, headers=ada)
    await client.post(RESOURCES, json=LINK, headers=ada)
    bob = await sign_in(client, mail_dir, "bob@example.org")
    bob_id = await account_id(client, bob)
    await client.put(NOTE, json={"markdown": "Bob's"}, headers=bob)
    await client.post(RESOURCES, json=LINK, headers=bob)
    await client.put(PROGRESS, json={"status": "learning"}, headers=bob)
    assert len(await store.scan(ada_id, "notes")) == 2
    assert set((await progress_rows(db, ada_id)).values()) == {1}  # a row in every table
    centre = centre_on(db)
    await give(centre, uuid.UUID(ada_id), 2)
    await give(centre, uuid.UUID(bob_id), 1)

    deleted = await client.request("DELETE", "/api/v1/me", json={"password": PASSWORD}, headers=ada)
    assert deleted.status_code == 204, deleted.text
    await settle_outbox(client, db)

    for collection in ("notes", "resources"):
        assert await store.scan(ada_id, collection) == []
        assert len(await store.scan(bob_id, collection)) == 1
    assert (await client.get(NOTE, headers=bob)).json()["markdown"] == "Bob's"
    assert set((await progress_rows(db, ada_id)).values()) == {0}
    assert set((await progress_rows(db, bob_id)).values()) == {1}
    assert (await centre.page(uuid.UUID(ada_id), cursor=None, limit=10)).items == []
    assert len((await centre.page(uuid.UUID(bob_id), cursor=None, limit=10)).items) == 1
