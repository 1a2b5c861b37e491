"""Learning on the pages, in-process and without script: a topic's status, note and own
resources change through plain forms (POST, CSRF token, 303 back to the topic's panel), and
the roadmap's page shows them (node colours, the bar, next up, what changed since the last
visit); the home page shows each roadmap's counts; notes are rendered safely; another
account's resource cannot be removed; the settings export and import the account's data."""

from __future__ import annotations

import json
import re
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar import Litestar

from tests.conftest import BACKEND_ROADMAP
from tests.integration.test_web_pages import assert_page
from tests.web_helpers import Client, csrf_of, in_another_browser, member, post_form
from waymark.features.roadmaps import document
from waymark.features.roadmaps.schemas import TopicSpec
from waymark.features.roadmaps.service import import_roadmap
from waymark.infra.sql.database import Database
from waymark.infra.sql.documents import SqlDocumentStore
from waymark.kernel.clock import utcnow

pytestmark = pytest.mark.usefixtures("backend_roadmap")
ROADMAP = "/roadmaps/backend"
PG = "databases.postgresql"
REDIS = "databases.redis"


def topic(path: str, topic_id: str) -> str:
    return f"{ROADMAP}/topics/{topic_id}/{path}"


def node_status(page: str, topic_id: str) -> str:
    found = re.search(rf'id="node-{re.escape(topic_id)}" class="topic \w+ (\w+)"', page)
    assert found, f"no node {topic_id}"
    return found.group(1)


def panel(page: str, topic_id: str) -> str:
    start = page.index(f'<section class="topic-panel" id="topic-{topic_id}"')
    return page[start : page.index('<section class="topic-panel"', start + 1)]


async def api(web: Client, method: str, path: str, **kwargs: Any) -> Any:
    """The REST API as the pages' script calls it: session cookie and `X-CSRF-Token`."""
    token = csrf_of((await web.get("/")).text)
    return await web.request(
        method, f"/api/v1/me/{path}", headers={"x-csrf-token": token}, **kwargs
    )


async def test_a_stranger_is_asked_to_sign_in_and_can_change_nothing(web: Client) -> None:
    page = assert_page(await web.get(ROADMAP))
    assert 'data-hook="progress-bar"' not in page
    assert 'href="/login?next=/roadmaps/backend">Sign in</a>' in page
    assert "data-status-form" not in page
    assert 'src="/static/learner.' not in page  # its script (the coverage rows name the file)
    token = csrf_of(page)
    refused = await web.post(
        topic("status", PG), data={"csrf_token": token, "status": "done"}, follow_redirects=False
    )
    assert refused.status_code == 303
    assert refused.headers["location"] == "/login"


async def test_a_status_changes_by_a_form_with_its_token_only(web: Client, mail_dir: Path) -> None:
    await member(web, mail_dir, "status@example.org")
    page = assert_page(await web.get(ROADMAP))
    assert page.count('data-hook="status-actions"') == 45
    assert re.search(r'data-count="finished">0</span> of <span data-count="total">45<', page)
    assert 'src="/static/learner.' in page
    for forged in ({}, {"csrf_token": "made-up-elsewhere"}):
        refused = await web.post(topic("status", PG), data={"status": "done", **forged})
        assert_page(refused, 403)
    assert node_status(assert_page(await web.get(ROADMAP)), PG) == "pending"

    changed = await post_form(web, ROADMAP, topic("status", PG), {"status": "done"})
    assert changed.status_code == 303
    assert changed.headers["location"] == f"{ROADMAP}#topic-{PG}"
    await post_form(web, ROADMAP, topic("status", REDIS), {"status": "learning"})
    page = assert_page(await web.get(ROADMAP))
    assert node_status(page, PG) == "done"
    assert node_status(page, REDIS) == "learning"
    assert re.search(r'data-count="finished">1</span> of <span data-count="total">45<', page)
    assert '<progress class="progress-bar" max="45" value="1"' in page
    assert 'value="done" class="status-button done"\n            aria-pressed="true"' in page
    assert (await api(web, "GET", "progress/backend")).json()["statuses"][PG] == "done"
    # Next up skips what is done, links to panels.
    next_up = page[page.index("data-next-up-list") : page.index("data-next-up-empty")]
    assert f'href="#topic-{PG}"' not in next_up
    assert next_up.count('<li><a href="#topic-') == 3

    bad = await post_form(web, ROADMAP, topic("status", PG), {"status": "mastered"})
    shown = assert_page(bad, 422)
    assert "is-error" in panel(shown, PG)
    unknown = await post_form(web, ROADMAP, topic("status", "databases.nope"), {"status": "done"})
    assert_page(unknown, 404)


async def test_the_home_page_shows_each_roadmaps_counts(web: Client, mail_dir: Path) -> None:
    await member(web, mail_dir, "home@example.org")
    assert "Not started yet." in assert_page(await web.get("/"))
    for topic_id in (PG, REDIS):
        await post_form(web, ROADMAP, topic("status", topic_id), {"status": "done"})
    home = assert_page(await web.get("/"))
    assert "<strong>2 of 45 done</strong> (4.4%)" in home
    assert '<progress class="progress-bar" max="45" value="2"' in home


async def test_a_note_is_saved_by_a_form_and_rendered_safely(web: Client, mail_dir: Path) -> None:
    await member(web, mail_dir, "note@example.org")
    note = (
        "Read **the docs**.\n\n<script>alert(1)</script> <img src=x onerror=alert(1)>\n\n"
        "[bad](javascript:alert(1)) [bad too](JAVASCRIPT:alert(1)) [ok](https://example.org)"
    )
    saved = await post_form(web, ROADMAP, topic("note", PG), {"markdown": note})
    assert saved.headers["location"] == f"{ROADMAP}#topic-{PG}"
    page = assert_page(await web.get(ROADMAP))
    shown = panel(page, PG)
    assert "<strong>the docs</strong>" in shown
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown
    assert "<img" not in page.split("<body", 1)[1]
    assert 'href="javascript' not in page.lower()
    assert 'href="https://example.org" rel="nofollow ugc noopener noreferrer"' in shown
    # The editor holds the Markdown as written, escaped; the outline has it for print.
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &lt;img" in shown
    assert page.count("<strong>the docs</strong>") == 2  # panel and outline

    # The form carries the note's version: saving over a version since replaced is refused.
    revision = re.search(r'name="revision" value="([^"]+)"', shown)
    assert revision
    await api(web, "PUT", f"notes/backend/{PG}", json={"markdown": "changed elsewhere"})
    stale = await post_form(
        web, ROADMAP, topic("note", PG), {"markdown": "mine", "revision": revision.group(1)}
    )
    refused = panel(assert_page(stale, 412), PG)
    assert "The note is not at the version you named" in refused
    assert ">\nmine</textarea>" in refused  # what was typed is kept
    too_long = await post_form(web, ROADMAP, topic("note", PG), {"markdown": "x" * 70_000})
    assert f'id="note-{PG}-error"' in panel(assert_page(too_long, 422), PG)


async def test_the_preview_renders_on_the_server_with_the_token(
    web: Client, mail_dir: Path
) -> None:
    await member(web, mail_dir, "preview@example.org")
    refused = await web.post("/notes/preview", data={"markdown": "*x*"})
    assert refused.status_code == 403
    shown = await post_form(
        web, ROADMAP, "/notes/preview", {"markdown": "*x* <b>y</b> [z](data:text/html,1)"}
    )
    assert shown.status_code == 200
    assert shown.headers["content-type"].startswith("text/html")
    assert shown.text == "<p><em>x</em> &lt;b&gt;y&lt;/b&gt; [z](data:text/html,1)</p>\n"


async def test_without_script_the_preview_button_shows_the_note_and_saves_nothing(
    web: Client, mail_dir: Path
) -> None:
    await member(web, mail_dir, "nojs-preview@example.org")
    form = {"markdown": "*draft* <b>x</b>", "intent": "preview"}
    shown = panel(assert_page(await post_form(web, ROADMAP, topic("note", PG), form)), PG)
    preview = shown[shown.index("data-note-preview") : shown.index("</div>\n    </div>")]
    assert "hidden" not in preview.split(">", 1)[0]
    assert "<em>draft</em> &lt;b&gt;x&lt;/b&gt;" in preview
    assert ">\n*draft* &lt;b&gt;x&lt;/b&gt;</textarea>" in shown  # kept as typed
    assert "Preview below; not saved yet." in shown
    assert (await api(web, "GET", f"notes/backend/{PG}")).status_code == 404
    # Too long to preview is refused like a save, with the field named, and nothing saved.
    too_long = await post_form(
        web, ROADMAP, topic("note", PG), {"markdown": "x" * 70_000, "intent": "preview"}
    )
    assert f'id="note-{PG}-error"' in panel(assert_page(too_long, 422), PG)
    assert (await api(web, "GET", f"notes/backend/{PG}")).status_code == 404


async def test_a_note_is_deleted_by_a_form_at_the_version_shown(
    web: Client, mail_dir: Path
) -> None:
    await member(web, mail_dir, "note-delete@example.org")
    assert "Delete the note" not in panel(assert_page(await web.get(ROADMAP)), PG)
    await post_form(web, ROADMAP, topic("note", PG), {"markdown": "first"})
    shown = panel(assert_page(await web.get(ROADMAP)), PG)
    delete_form = shown[shown.index("data-note-delete-form") :]
    revision = re.search(r'name="revision" value="([^"]+)"', delete_form)
    assert revision
    assert "Delete the note" in delete_form

    # A note changed elsewhere since the page was drawn is not deleted.
    await api(web, "PUT", f"notes/backend/{PG}", json={"markdown": "changed elsewhere"})
    stale = await post_form(web, ROADMAP, topic("note/delete", PG), {"revision": revision.group(1)})
    assert "The note is not at the version you named" in panel(assert_page(stale, 412), PG)
    assert (await api(web, "GET", f"notes/backend/{PG}")).status_code == 200

    current = re.search(
        r'name="revision" value="([^"]+)"',
        panel(assert_page(await web.get(ROADMAP)), PG).split("data-note-delete-form", 1)[1],
    )
    assert current
    done = await post_form(web, ROADMAP, topic("note/delete", PG), {"revision": current.group(1)})
    assert done.status_code == 303
    assert done.headers["location"] == f"{ROADMAP}#topic-{PG}"
    assert (await api(web, "GET", f"notes/backend/{PG}")).status_code == 404
    assert "No note yet." in panel(assert_page(await web.get(ROADMAP)), PG)
    gone = await post_form(web, ROADMAP, topic("note/delete", PG), {"revision": current.group(1)})
    assert gone.status_code == 404


async def test_resources_are_added_and_removed_by_forms(
    web: Client, mail_dir: Path, db: Database
) -> None:
    await member(web, mail_dir, "resources@example.org")
    bad = await post_form(
        web,
        ROADMAP,
        topic("resources", REDIS),
        {"title": "Evil", "url": "javascript:alert(1)", "kind": "article"},
    )
    shown = panel(assert_page(bad, 422), REDIS)
    assert f'id="resource-{REDIS}-url-error"' in shown
    assert "Only http and https URLs" in shown
    assert 'value="Evil"' in shown  # kept
    empty = await post_form(
        web, ROADMAP, topic("resources", REDIS), {"title": "", "url": "https://x.example"}
    )
    assert f'id="resource-{REDIS}-title-error"' in panel(assert_page(empty, 422), REDIS)

    added = await post_form(
        web,
        ROADMAP,
        topic("resources", REDIS),
        {"title": "Redis in action", "url": "https://redis.io/docs/", "kind": "book"},
    )
    assert added.headers["location"] == f"{ROADMAP}#topic-{REDIS}"
    shown = panel(assert_page(await web.get(ROADMAP)), REDIS)
    link = '<a href="https://redis.io/docs/" rel="nofollow ugc noopener noreferrer">'
    assert f"{link}Redis in action</a>" in shown
    resource_id = re.search(r'data-resource-id="([^"]+)"', shown)
    assert resource_id

    # The link checker found nothing there (its job marks the stored resource): so says
    # the panel.
    me = (await web.get("/api/v1/me")).json()["id"]
    store = SqlDocumentStore(db)
    stored = await store.get(me, "resources", f"backend/{REDIS}")
    assert stored is not None
    body = {**stored.body}
    body["resources"] = [
        {**r, "dead": True, "checked_at": "2030-01-07T03:00:00Z"} for r in body["resources"]
    ]
    await store.put(
        me, "resources", f"backend/{REDIS}", body,
        expected_revision=stored.revision, lookup_keys=[r["id"] for r in body["resources"]],
    )  # fmt: skip
    shown = panel(assert_page(await web.get(ROADMAP)), REDIS)
    assert 'class="meta dead-link" title="Checked 2030-01-07' in shown

    # Another account can neither see nor remove it: 404, as for no resource at all.
    other = CookieJar()
    with in_another_browser(web, other):
        await member(web, mail_dir, "someone-else@example.org")
        assert "Redis in action" not in (await web.get(ROADMAP)).text
        theirs = await post_form(
            web,
            ROADMAP,
            f"{ROADMAP}/resources/{resource_id.group(1)}/delete",
            {"topic_id": REDIS},
        )
        assert_page(theirs, 404)
    assert "Redis in action" in (await web.get(ROADMAP)).text

    removed = await post_form(
        web, ROADMAP, f"{ROADMAP}/resources/{resource_id.group(1)}/delete", {"topic_id": REDIS}
    )
    assert removed.headers["location"] == f"{ROADMAP}#topic-{REDIS}"
    assert "Redis in action" not in (await web.get(ROADMAP)).text
    # A topic that is no topic id never reaches the redirect.
    again = await post_form(
        web,
        ROADMAP,
        f"{ROADMAP}/resources/{resource_id.group(1)}/delete",
        {"topic_id": "x\r\nLocation: //evil"},
    )
    assert_page(again, 404)


async def test_what_changed_since_the_last_visit_is_shown_until_marked_seen(
    web: Client, mail_dir: Path, db: Database, app: Litestar
) -> None:
    await member(web, mail_dir, "changes@example.org")
    await post_form(web, ROADMAP, topic("status", PG), {"status": "done"})  # seen: version 1
    spec = document.load(BACKEND_ROADMAP)
    section = spec.sections[0]
    section.topics.append(TopicSpec(id=f"{section.id}.brand-new", title="A brand new topic"))
    async with db.transaction() as conn:
        await import_roadmap(conn, spec, now=utcnow())
    app.state.container.roadmaps.invalidate("backend")

    page = assert_page(await web.get(ROADMAP))
    assert "Changed since your last visit" in page
    assert f'<a href="#topic-{section.id}.brand-new">A brand new topic</a>' in page
    seen = await post_form(web, ROADMAP, f"{ROADMAP}/seen", {})
    assert seen.headers["location"] == ROADMAP
    assert "Changed since your last visit" not in assert_page(await web.get(ROADMAP))


async def test_settings_export_the_data_and_import_an_export(web: Client, mail_dir: Path) -> None:
    await member(web, mail_dir, "exporter@example.org")
    await post_form(web, ROADMAP, topic("status", PG), {"status": "done"})
    await post_form(web, ROADMAP, topic("note", PG), {"markdown": "My *own* words"})
    settings = assert_page(await web.get("/settings"))
    assert '<a class="button" href="/api/v1/me/export" download>Export your data</a>' in settings
    assert 'enctype="multipart/form-data"' in settings
    exported = await web.get("/api/v1/me/export")  # the link: a GET with the session cookie
    assert exported.status_code == 200
    assert "attachment" in exported.headers["content-disposition"]
    body = exported.content
    assert json.loads(body)["notes"][0]["markdown"] == "My *own* words"

    other = CookieJar()
    with in_another_browser(web, other):
        await member(web, mail_dir, "importer@example.org")
        page = (await web.get("/settings")).text
        files = {"file": ("waymark-export.json", body, "application/json")}
        forged = await web.post("/settings/import", files=files, data={"csrf_token": "x"})
        assert_page(forged, 403)
        report = assert_page(
            await web.post("/settings/import", files=files, data={"csrf_token": csrf_of(page)})
        )
        assert "1 status changes added, 0 already here." in report
        assert "1 notes added, 0 already here." in report
        again = assert_page(
            await web.post("/settings/import", files=files, data={"csrf_token": csrf_of(page)})
        )
        assert "0 status changes added, 1 already here." in again
        roadmap = assert_page(await web.get(ROADMAP))
        assert node_status(roadmap, PG) == "done"
        assert "My <em>own</em> words" in panel(roadmap, PG)

        broken = await web.post(
            "/settings/import",
            files={"file": ("x.json", b'{"format": ', "application/json")},
            data={"csrf_token": csrf_of(page)},
        )
        shown = assert_page(broken, 400)
        assert 'id="data"' in shown
        assert "Choose a file that “Export your data” downloaded" in shown
        wrong = await web.post(
            "/settings/import",
            files={"file": ("x.json", msgspec.json.encode({"format": "other"}), "text/plain")},
            data={"csrf_token": csrf_of(page)},
        )
        assert_page(wrong, 422)
        nothing = await web.post("/settings/import", data={"csrf_token": csrf_of(page)})
        assert "Choose the file to import." in assert_page(nothing, 422)
