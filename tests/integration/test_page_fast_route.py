"""A roadmap's page answered before routing, from its stencil (`web/drawing.py`), is the page
the route draws from the whole template: every case sent to an app with fast routes and to
one without (`http.fast_routes=false`) on the same database gets the same status, headers
and bytes; for a learner with statuses, notes (Markdown), resources and unread
notifications (the bell's count), after a change of
status, for a stranger (whose form token comes from a cookie, escaped), in each theme, and
after the roadmap is imported again in another version."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from litestar import Litestar
from sqlalchemy import select

from tests.conftest import BACKEND_ROADMAP
from tests.integration.notifications_support import centre_on, give
from tests.integration.test_fast_routes import comparable, fast_routes_of, framework_only
from tests.web_helpers import Client, browsing, member, post_form
from waymark.features.accounts.tables import users
from waymark.features.roadmaps import document
from waymark.features.roadmaps.service import import_roadmap
from waymark.infra.sql.database import Database
from waymark.kernel.clock import utcnow
from waymark.transport.http.identity import SESSION_COOKIE
from waymark.web.visitor import FORM_COOKIE, THEME_COOKIE

pytestmark = pytest.mark.usefixtures("backend_roadmap")
__all__ = ["framework_only"]  # the fixture, shared with test_fast_routes

PAGE = "/roadmaps/backend"
PG, REDIS, HTTP = "databases.postgresql", "databases.redis", "internet.http"


def topic(what: str, topic_id: str) -> str:
    return f"{PAGE}/topics/{topic_id}/{what}"


def same_token(answer: tuple[int, dict[str, str], bytes]) -> tuple[int, dict[str, str], bytes]:
    """`answer` with a new stranger's random form token (cookie and forms) as `TOKEN`."""
    status, headers, body = answer
    given = re.search(f"{FORM_COOKIE}=([^;]+);", headers.get("set-cookie", ""))
    if given is None:
        return answer
    token = given.group(1)
    headers = {**headers, "set-cookie": headers["set-cookie"].replace(token, "TOKEN")}
    return status, headers, body.replace(token.encode(), b"TOKEN")


async def same_answers(
    app: Litestar, client: Client, plain: Client, cases: list[tuple[dict[str, str], bool]]
) -> list[str]:
    """Each case (headers, whether the fast route answers it) through both apps: the same
    status, headers and bytes. The pages, as text."""
    fast = fast_routes_of(app)
    pages = []
    for headers, answered in cases:
        before = fast.answered
        answer = same_token(comparable(await client.get(PAGE, headers=headers)))
        routed = same_token(comparable(await plain.get(PAGE, headers=headers)))
        assert answer == routed, headers
        assert answer[0] == 200, answer
        assert fast.answered == before + answered, headers
        pages.append(answer[2].decode())
    return pages


async def test_the_page_from_its_stencil_is_the_templates_page(
    app: Litestar, framework_only: Client, mail_dir: Path, db: Database
) -> None:
    async with browsing(app) as client:
        await member(client, mail_dir, "stencil@example.org")
        for topic_id, status in ((PG, "done"), (REDIS, "learning"), (HTTP, "skipped")):
            await post_form(client, PAGE, topic("status", topic_id), {"status": status})
        note = "**Bold** <script>x</script> [a](https://example.org) & `code`"
        assert (await post_form(client, PAGE, topic("note", PG), {"markdown": note})).is_redirect
        await post_form(client, PAGE, topic("note", "internet.dns"), {"markdown": "- one"})
        link = {"title": "A <guide>", "url": "https://example.org/?a=1&b=2", "kind": "book"}
        assert (await post_form(client, PAGE, topic("resources", REDIS), link)).is_redirect
        session = client.cookies[SESSION_COOKIE]
        client.cookies.clear()  # both clients send only the headers of each case
        signed_in = {"cookie": f"{SESSION_COOKIE}={session}"}
        stranger = {"cookie": f'{FORM_COOKIE}="odd<token>&"'}
        cases = [
            (signed_in, True),
            ({"cookie": f"{SESSION_COOKIE}={session}; {THEME_COOKIE}=dark"}, True),
            ({"cookie": f"{THEME_COOKIE}=light; {SESSION_COOKIE}={session}"}, True),
            ({"cookie": f"{SESSION_COOKIE}={session}; {THEME_COOKIE}=neon"}, True),
            (stranger, True),
            ({"cookie": f"{FORM_COOKIE}=plain; {THEME_COOKIE}=dark"}, True),
            ({}, False),  # a new stranger: the route sets the form cookie
            ({"cookie": f"{SESSION_COOKIE}=ended"}, False),  # the route clears the cookie
        ]
        quiet = await same_answers(app, client, framework_only, cases[:1])
        assert '<a class="bell" href="/notifications">Notifications</a>' in quiet[0]
        async with db.read() as conn:
            account_id = await conn.scalar(
                select(users.c.id).where(users.c.email == "stencil@example.org")
            )
        await give(centre_on(db), account_id, 3)  # the bell's count: a hole of its own
        first = await same_answers(app, client, framework_only, cases)
        assert '<span class="count">3<span class="visually-hidden"> unread' in first[0]
        assert "odd&lt;token&gt;&amp;" in first[4]
        assert 'data-status="done"' in first[0]
        assert "<strong>Bold</strong>" in first[0]

        # A change of status, a new resource, show at once (no stale piece of a learner's).
        client.cookies.set(SESSION_COOKIE, session, domain="testserver.local")
        await post_form(client, PAGE, topic("status", PG), {"status": "learning"})
        await post_form(client, PAGE, topic("status", HTTP), {"status": "pending"})
        more = {"title": "Another", "url": "https://example.org/2", "kind": "video"}
        assert (await post_form(client, PAGE, topic("resources", REDIS), more)).is_redirect
        client.cookies.clear()
        again = await same_answers(app, client, framework_only, cases[:2])
        assert again[0] != first[0]
        assert "https://example.org/2" in again[0]

        # A query (a notice) is the route's.
        fast = fast_routes_of(app)
        before = fast.answered
        notice = await client.get(f"{PAGE}?notice=signed-out", headers=signed_in)
        assert fast.answered == before
        assert "You are signed out." in notice.text

        # Another version of the roadmap: a new stencil.
        spec = document.load(BACKEND_ROADMAP)
        spec.title = "Backend, again"
        spec.sections[0].topics[0].title = "A renamed first topic"
        async with db.transaction() as conn:
            await import_roadmap(conn, spec, now=utcnow())
        for each in (app, framework_only.app):
            each.state.container.roadmaps.invalidate("backend")
        renamed = await same_answers(app, client, framework_only, cases[:6])
        assert all("A renamed first topic" in page for page in renamed)
        assert "Backend, again" in renamed[0]
        assert renamed[0] != again[0]
