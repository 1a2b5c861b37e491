"""A team's webhooks on the pages, in-process and without script, on SQLite and PostgreSQL:
the owner finds them from the team's page, adds an endpoint (its secret shown once, on the
answer to the form, never again), sends a test ping that a real receiver on 127.0.0.1 gets
signed with that secret, reads it in the log, rotates the secret, turns the endpoint off and
back on; a refused form says what is wrong; a member is refused the page."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from tests.auth_helpers import settle_outbox
from tests.config import app_settings
from tests.fetch_support import Listener, listening
from tests.integration.test_web_pages import assert_page
from tests.integration.test_web_teams import make_team
from tests.integration.test_webhooks import verify
from tests.web_helpers import Client, csrf_of, in_another_browser, member, post_form
from waymark.infra.sql.database import Database
from waymark.settings import FetchSettings, Settings

_SECRET = re.compile(r'<code id="webhook-secret">(whsec_[A-Za-z0-9_-]+)</code>')


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return app_settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        fetch=FetchSettings(allow_http=True, allowed_networks=["127.0.0.1/32"], timeout=3),
    )


@pytest.fixture
async def receiver() -> AsyncIterator[Listener]:
    async with listening(Listener()) as listener:
        yield listener


async def test_the_owner_adds_pings_rotates_and_switches_an_endpoint_from_the_pages(
    web: Client, db: Database, mail_dir: Path, receiver: Listener
) -> None:
    await member(web, mail_dir, "owner@example.org")
    team_url = f"/teams/{await make_team(web)}"
    hooks = f"{team_url}/webhooks"
    assert f'href="{hooks}"' in assert_page(await web.get(team_url))
    empty = assert_page(await web.get(hooks))
    assert "Add an endpoint" in empty

    refused = await post_form(web, hooks, hooks, {"url": f"{receiver.url}/h"})
    page = assert_page(refused, 422)
    assert 'id="events-error"' in page  # no event chosen: the fieldset says so

    made = await post_form(web, hooks, hooks, {"url": f"{receiver.url}/h", "teams.invited": "true"})
    page = assert_page(made)
    found = _SECRET.search(page)
    assert found, "no secret on the answer"
    secret = found.group(1)
    again = assert_page(await web.get(hooks))
    assert secret not in again  # shown once
    assert f"{receiver.url}/h" in again
    hook = re.search(r'id="webhook-([0-9a-f-]{36})"', again)
    assert hook
    one = f"{hooks}/{hook.group(1)}"

    pinged = await post_form(web, hooks, f"{one}/ping", {})
    assert (pinged.status_code, pinged.headers["location"]) == (
        303,
        f"{hooks}?notice=webhook-pinged",
    )
    await settle_outbox(web, db)
    (got,) = receiver.requests
    assert verify([secret], got.headers["waymark-signature"], got.body)
    log = assert_page(await web.get(hooks))
    assert "Succeeded" in log
    assert "A test ping is on its way" not in log  # no notice without ?notice=

    rotated = assert_page(
        await post_form(web, hooks, f"{one}/rotate", {"keep_previous_hours": "1"})
    )
    new = _SECRET.search(rotated)
    assert new
    assert new.group(1) != secret
    assert "The previous secret signs too until" in rotated

    off = await post_form(web, hooks, f"{one}/enabled", {})
    assert off.headers["location"] == f"{hooks}?notice=webhook-disabled"
    assert "Turn back on" in assert_page(await web.get(hooks))
    on = await post_form(web, hooks, f"{one}/enabled", {"enabled": "true"})
    assert on.headers["location"] == f"{hooks}?notice=webhook-enabled"
    assert "Turn off" in assert_page(await web.get(hooks))

    # A stranger (signed in elsewhere) gets the 404 page; a forged post without a token fails.
    stranger = CookieJar()
    with in_another_browser(web, stranger):
        await member(web, mail_dir, "stranger@example.org")
        assert_page(await web.get(hooks), 404)
    token = csrf_of(again)
    forged = await web.post(f"{one}/delete", data={}, follow_redirects=False)
    assert forged.status_code == 403
    gone = await web.post(f"{one}/delete", data={"csrf_token": token}, follow_redirects=False)
    assert gone.headers["location"] == f"{hooks}?notice=webhook-deleted"
    assert f"{receiver.url}/h" not in assert_page(await web.get(hooks))
